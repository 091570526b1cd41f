/* The "Send to PACS" panel of the study page, and the worklist's sends page: while a send is
 * under way, refresh the panel every few seconds (it stops once all are done). The panel's HTML
 * says where to ask (data-poll-url: a page holding a fresh #dicom-send). */
(function poll() {
  "use strict";
  setTimeout(function () {
    var panel = document.getElementById("dicom-send");
    if (!panel || !panel.dataset.pollUrl) return;
    fetch(panel.dataset.pollUrl, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) return;
      var holder = document.createElement("div");
      holder.innerHTML = html;  // its <script> is not run: this file polls on
      var fresh = holder.querySelector("#dicom-send");
      if (fresh) { panel.replaceWith(fresh); if (fresh.dataset.pollUrl) poll(); }
    });
  }, 3000);
})();
