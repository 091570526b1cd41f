/* A new API token is shown once: focusing its field selects it, ready to copy. The script is
   deferred, so a field focused before it ran is selected at once. */
(function () {
  "use strict";
  var field = document.getElementById("new-token");
  if (!field) return;
  field.addEventListener("focus", function () { field.select(); });
  if (document.activeElement === field) field.select();
})();
