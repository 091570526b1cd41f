/* A new API token is shown once: focusing its field selects it, ready to copy. */
(function () {
  "use strict";
  var field = document.getElementById("new-token");
  if (field) field.addEventListener("focus", function () { field.select(); });
})();
