// Upload page: send the form with XMLHttpRequest to show real progress, then the server's
// report. Without this script the plain form POST does the same, minus the progress bar.
(function () {
  "use strict";
  var form = document.querySelector("form[data-upload]");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  var progressBox = form.querySelector(".upload-progress");
  var progress = form.querySelector("progress");
  var status = document.getElementById("upload-status");
  var result = document.getElementById("upload-result");
  var button = form.querySelector("button[type=submit]");
  var maxFiles = parseInt(form.getAttribute("data-max-files"), 10) || 0;

  function humanSize(bytes) {
    var units = ["bytes", "KB", "MB", "GB"];
    var i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
  }

  function chosen() {
    var count = 0, bytes = 0;
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      for (var i = 0; i < input.files.length; i += 1) { count += 1; bytes += input.files[i].size; }
    });
    return { count: count, bytes: bytes };
  }

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function done() {
    button.disabled = false;
    progressBox.hidden = true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var picked = chosen();
    if (picked.count === 0) {
      say("Choose at least one file, zip archive or folder.", true);
      return;
    }
    if (maxFiles && picked.count > maxFiles) {
      say("You chose " + picked.count + " files; one upload may hold " + maxFiles +
          ". Put them in a zip archive, or upload them in parts.", true);
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      progress.max = e.total;
      progress.value = e.loaded;
      say("Uploading " + picked.count + " file" + (picked.count === 1 ? "" : "s") + ": " +
          Math.floor((100 * e.loaded) / e.total) + "% (" + humanSize(e.loaded) + " of " +
          humanSize(e.total) + ")");
    });
    xhr.upload.addEventListener("load", function () {
      progress.removeAttribute("value"); // indeterminate while the server reads the files
      say("Uploaded. Reading the DICOM files…");
    });
    xhr.addEventListener("load", function () {
      done();
      if (xhr.getResponseHeader("X-Upload-Result") === "1") {
        result.innerHTML = xhr.responseText;
        if (xhr.status < 400) { form.reset(); say("Finished."); } else { say("The upload was not accepted.", true); }
        result.focus();
      } else if (xhr.status === 403) {
        say("The upload was refused. Reload the page and try again; you may have been logged out.", true);
      } else {
        say("The upload failed (error " + xhr.status + "). Try again.", true);
      }
    });
    xhr.addEventListener("error", function () {
      done();
      say("The upload failed: the connection was lost. Try again.", true);
    });
    button.disabled = true;
    progressBox.hidden = false;
    progress.max = Math.max(picked.bytes, 1);
    progress.value = 0;
    say("Starting the upload…");
    xhr.send(new FormData(form));
  });
})();
