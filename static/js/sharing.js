/* The share dialog: loads the server-rendered form into a <dialog>, posts it with fetch,
   filters long lists, and previews share codes. Without JavaScript the same form is a page. */
(function () {
  "use strict";
  if (window.cimarSharing) return; // included by more than one template on a page
  window.cimarSharing = true;

  var dialog = null;
  var opener = null;

  function ensureDialog() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "share-dialog";
    dialog.setAttribute("aria-labelledby", "share-dialog-title");
    document.body.appendChild(dialog);
    dialog.addEventListener("close", function () {
      var reload = dialog.hasAttribute("data-reload");
      dialog.innerHTML = "";
      dialog.removeAttribute("data-reload");
      if (reload) { window.location.reload(); return; }
      if (opener) opener.focus();
    });
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) dialog.close(); // a click on the backdrop
    });
    return dialog;
  }

  function show(html) {
    dialog.innerHTML = html;
    var results = dialog.querySelector("[data-share-results]");
    if (results) dialog.setAttribute("data-reload", "");
    var focusTarget = dialog.querySelector(".has-error input, .has-error select, [role=alert]") ||
      dialog.querySelector("#share-dialog-title");
    if (focusTarget) focusTarget.focus();
    revealFilters(dialog);
  }

  function load(url, options) {
    var settings = Object.assign({ credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" } }, options || {});
    dialog.setAttribute("aria-busy", "true");
    return fetch(url, settings).then(function (response) {
      return response.text().then(function (html) {
        if (response.status >= 500 || !html.trim()) throw new Error("HTTP " + response.status);
        if (response.status === 403 || response.status === 404) {
          html = '<div class="share-dialog-body"><h2 id="share-dialog-title" tabindex="-1">Cannot share</h2>' +
            '<p role="alert">You may not share ' + (response.status === 404 ? "these studies from here" : "from this worklist") + '.</p>' +
            '<div class="dialog-buttons"><button type="button" data-share-close>Close</button></div></div>';
        }
        show(html);
      });
    }).catch(function () {
      show('<div class="share-dialog-body"><h2 id="share-dialog-title" tabindex="-1">Something went wrong</h2>' +
        '<p role="alert">The share dialog could not be loaded. Check your connection and try again.</p>' +
        '<div class="dialog-buttons"><button type="button" data-share-close>Close</button></div></div>');
    }).finally(function () { dialog.removeAttribute("aria-busy"); });
  }

  function open(url, from) {
    opener = from || document.activeElement;
    ensureDialog();
    dialog.innerHTML = '<div class="share-dialog-body"><h2 id="share-dialog-title" tabindex="-1">Share</h2><p class="muted">Loading…</p></div>';
    if (!dialog.open) dialog.showModal();
    load(url);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-share-open]");
    if (link) {
      event.preventDefault();
      open(link.href, link);
      return;
    }
    if (event.target.closest("[data-share-close]") && dialog && dialog.open) dialog.close();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    // The selection's other actions (worklist_selection.js) carry their own formaction.
    if (form.matches("[data-share-selection]") && !(event.submitter && event.submitter.hasAttribute("formaction"))) {
      // form.elements includes the checkboxes tied to the form by their form="" attribute.
      var chosen = Array.prototype.filter.call(form.elements, function (box) {
        return box.name === "study" && box.checked;
      });
      if (!chosen.length) {
        event.preventDefault();
        var note = document.getElementById("selection-note");
        if (note) note.textContent = "Select at least one study first.";
        return;
      }
      event.preventDefault();
      var menu = document.querySelector("details.menu[open]");
      if (menu) menu.open = false;
      var query = new URLSearchParams();
      chosen.forEach(function (box) { query.append("study", box.value); });
      open(form.action + "?" + query.toString(), event.submitter);
      return;
    }
    if (form.matches("[data-share-form]") && dialog && dialog.contains(form)) {
      event.preventDefault();
      var data = new FormData(form);
      if (event.submitter && event.submitter.name) data.append(event.submitter.name, event.submitter.value);
      load(form.action, { method: "POST", body: data });
    }
  });

  // Search within a long list of organisations, locations, groups or physicians.
  function revealFilters(root) {
    root.querySelectorAll("[data-filter-list]").forEach(function (input) { input.hidden = false; });
  }
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input.matches("[data-filter-list]")) {
      var list = document.getElementById(input.getAttribute("data-filter-list"));
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      list.querySelectorAll("li").forEach(function (item) {
        var text = item.textContent.toLowerCase();
        var checked = item.querySelector("input:checked");
        item.hidden = !checked && !words.every(function (word) { return text.indexOf(word) !== -1; });
      });
    }
    if (input.matches("[data-code-lookup]")) previewCodes(input);
  });

  // Say which worklist and organisation each typed share code belongs to, before sharing.
  var previewTimer = null;
  function previewCodes(input) {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(function () {
      var target = document.getElementById("share-code-preview");
      var codes = input.value.split(/[,;\n]+/).map(function (c) { return c.trim(); }).filter(Boolean).slice(0, 20);
      if (!target) return;
      if (!codes.length) { target.innerHTML = ""; return; }
      Promise.all(codes.map(function (code) {
        var url = input.getAttribute("data-code-lookup") + "?code=" + encodeURIComponent(code);
        return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); });
      })).then(function (previews) {
        target.innerHTML = "";
        previews.forEach(function (preview) {
          var line = document.createElement("p");
          line.className = preview.ok ? "ok" : "bad";
          line.textContent = preview.text;
          target.appendChild(line);
        });
      }).catch(function () { target.textContent = "Could not check the code just now."; });
    }, 300);
  }

  document.addEventListener("DOMContentLoaded", function () { revealFilters(document); });
  if (document.readyState !== "loading") revealFilters(document);
})();
