/* The worklist's selection bar: says how many studies are checked, and asks for one before an
   action is sent. Without JavaScript the buttons submit the form and the action's page says
   what is missing. */
(function () {
  "use strict";
  var form = document.querySelector("[data-worklist-selection]");
  if (!form) return;
  var count = document.querySelector("[data-selection-count]");

  function checked() {
    return Array.prototype.filter.call(form.elements, function (box) {
      return box.name === "study" && box.checked;
    }).length;
  }

  function update() {
    var n = checked();
    if (count) count.textContent = n ? n + " selected" : "";
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "study") {
      var note = document.getElementById("selection-note");
      if (note) note.textContent = "";
      update();
    }
  });
  form.addEventListener("submit", function (event) { // also for buttons tied by form=""
    if (!event.submitter || !event.submitter.hasAttribute("data-worklist-action")) return;
    if (!checked()) {
      event.preventDefault();
      var note = document.getElementById("selection-note");
      if (note) note.textContent = "Select at least one study first.";
    }
  });
  update();
})();
