/* Guest links panel on the study page: open/close, the new-link form, expiry presets,
   copy buttons and delete confirmation. Without JavaScript everything is simply shown. */
(function () {
  "use strict";
  // Creating a link takes a moment (the password is hashed, the messages queued): say so on
  // the button, and never send the form twice. Also on the page that shows a form's errors.
  document.querySelectorAll("form[data-gl-form]").forEach(function (createForm) {
    var submit = createForm.querySelector("button[type=submit]");
    var label = submit ? submit.textContent : "";
    function setBusy(busy) {
      createForm.setAttribute("aria-busy", String(busy));
      if (!submit) return;
      submit.disabled = busy;
      submit.textContent = busy ? (createForm.getAttribute("data-gl-busy") || "Creating…") : label;
    }
    createForm.addEventListener("submit", function (event) {
      if (createForm.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
      setBusy(true);
    });
    // Back to this page from the history (kept in the back/forward cache): usable again.
    window.addEventListener("pageshow", function (event) { if (event.persisted) setBusy(false); });
    // Expiry: the custom date and time only matters when "Custom" is chosen.
    var custom = createForm.querySelector("[data-gl-custom]");
    var syncCustom = function () {
      var chosen = createForm.querySelector("input[name$='expires']:checked");
      if (custom) custom.hidden = !(chosen && chosen.value === "custom");
    };
    createForm.querySelectorAll("input[name$='expires']").forEach(function (radio) {
      radio.addEventListener("change", syncCustom);
    });
    syncCustom();
  });

  var panel = document.querySelector("[data-gl-panel]");
  if (!panel) return;
  var openers = document.querySelectorAll("[data-gl-open]");
  var toggle = panel.querySelector("[data-gl-toggle]");
  var form = panel.querySelector("[data-gl-form]");
  var hasErrors = !!panel.querySelector(".has-error, .form-errors");

  function setPanel(open, focus) {
    panel.hidden = !open;
    openers.forEach(function (opener) {
      if (opener.getAttribute("data-gl-open") !== "show") opener.setAttribute("aria-expanded", String(open));
    });
    if (!open) return;
    // The panel's top (its heading and "New guest link"), not its middle: a panel with many
    // links is taller than the screen, and focusing it alone would scroll to its centre.
    if (focus) panel.focus({ preventScroll: true });
    panel.scrollIntoView({ block: "start" });
  }
  function setForm(open) {
    if (!form || !toggle) return;
    form.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) {
      var first = form.querySelector("input:not([type=hidden]):not([disabled])");
      if (first) first.focus();
    }
  }

  // Open on arrival when asked for: a link to "#guest-links" (after creating or deleting one),
  // the worklist's study-link icon (?panel=guest-links, marked by the server), or a form error.
  var asked = window.location.hash === "#guest-links" || panel.hasAttribute("data-gl-opened");
  panel.hidden = !(asked || hasErrors);
  if (!panel.hidden) setPanel(true, false);
  setForm(hasErrors);
  openers.forEach(function (opener) {
    // The study-link button toggles the panel; a menu item (data-gl-open="show") only opens it.
    var toggles = opener.getAttribute("data-gl-open") !== "show";
    if (toggles) opener.setAttribute("aria-expanded", String(!panel.hidden));
    opener.addEventListener("click", function (event) {
      event.preventDefault();
      setPanel(toggles ? panel.hidden : true, true);
    });
  });
  if (toggle) toggle.addEventListener("click", function () { setForm(form.hidden); });


  // Copy a link's URL.
  panel.querySelectorAll("[data-gl-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.getAttribute("data-gl-copy"));
      var status = button.parentNode.querySelector(".gl-copied");
      var done = function () { if (status) status.textContent = "Copied"; };
      input.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {
          document.execCommand("copy");
          done();
        });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });

  // Ask before deleting.
  panel.querySelectorAll("form[data-gl-confirm]").forEach(function (deleteForm) {
    deleteForm.addEventListener("submit", function (event) {
      if (!window.confirm(deleteForm.getAttribute("data-gl-confirm"))) event.preventDefault();
    });
  });
})();
