/* The guest viewer's "Download" menu: the image form is filled with the image on screen
 * (viewer.js keeps it on the stage's data-current-* attributes) just before it is sent;
 * the study form names the study on screen (a prior, perhaps). */
(function () {
  "use strict";
  var stage = document.getElementById("viewer-stage");
  var menu = document.getElementById("viewer-downloads");
  if (!stage || !menu) return;
  var imageButton = menu.querySelector("[data-download-image]");

  function current() {
    var d = stage.dataset;
    return d.currentInstance ? {
      study: d.currentStudy, series: d.currentSeries, instance: d.currentInstance,
      frame: d.currentFrame || "1", window: d.currentWindow || ""
    } : null;
  }
  function fill(form, values) {
    Object.keys(values).forEach(function (name) {
      var input = form.querySelector('input[name="' + name + '"]');
      if (input) input.value = values[name];
    });
  }
  function refresh() { imageButton.disabled = !current(); }

  menu.addEventListener("toggle", refresh);
  new MutationObserver(refresh).observe(stage, { attributes: true, attributeFilter: ["data-current-instance"] });
  refresh();
  menu.querySelectorAll("form[data-download]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var now = current();
      if (form.dataset.download === "image") {
        if (!now) { event.preventDefault(); return; }
        fill(form, now);
      } else if (now) {
        fill(form, { study: now.study });
      }
    });
  });
}());
