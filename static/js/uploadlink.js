/* The upload-link page: choose or drop files, folders and zip archives, then send each file in
   chunks. A chunk that fails (a dropped connection, a server restart) is retried with a
   growing pause; before resending, the page asks the server how much of the file has arrived
   and carries on from there, so a flaky connection costs a chunk, never the whole upload.
   Nothing is imported until every file has arrived and the page says "finish". */
(function () {
  "use strict";
  var form = document.querySelector("form[data-uploader]");
  if (!form) return;
  var chunkBytes = parseInt(form.getAttribute("data-chunk-bytes"), 10) || 8388608;
  var maxFiles = parseInt(form.getAttribute("data-max-files"), 10) || 10000;
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
  var drop = form.querySelector("[data-drop]");
  var chosen = form.querySelector("[data-chosen]");
  var list = form.querySelector("[data-filelist]");
  var overall = form.querySelector("[data-overall]");
  var overallBar = overall.querySelector("progress");
  var overallText = form.querySelector("[data-overall-text]");
  var statusLine = form.querySelector("[data-status]");
  var errorBox = form.querySelector("[data-error]");
  var send = form.querySelector("[data-send]");
  var summary = document.querySelector("[data-summary]");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var files = []; // {file: File, name: "folder/path"}
  var busy = false;
  var MAX_TRIES = 12;

  function human(bytes) {
    var units = ["bytes", "KB", "MB", "GB", "TB"], i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
    return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
  }
  function showError(text) {
    errorBox.hidden = !text;
    errorBox.textContent = text || "";
  }
  function totalBytes() { return files.reduce(function (sum, f) { return sum + f.file.size; }, 0); }
  function describe() {
    chosen.textContent = files.length
      ? files.length + " file" + (files.length === 1 ? "" : "s") + " chosen (" + human(totalBytes()) + ")."
      : "No files chosen yet.";
  }
  function add(file, name) {
    var base = (name.split("/").pop() || "").toLowerCase();
    if (base === ".ds_store" || base === "thumbs.db" || base.indexOf("._") === 0) return;
    files.push({ file: file, name: name || file.name });
  }
  function addList(fileList) {
    for (var i = 0; i < fileList.length; i++) {
      add(fileList[i], fileList[i].webkitRelativePath || fileList[i].name);
    }
    describe();
  }
  form.querySelector("[data-files]").addEventListener("change", function (e) { addList(e.target.files); });
  form.querySelector("[data-folder]").addEventListener("change", function (e) { addList(e.target.files); });

  // Drag and drop: files, whole folders (walked through their entries) and zip archives.
  function walk(entry, path) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (file) { add(file, path + file.name); resolve(); }, function () { resolve(); });
      } else if (entry.isDirectory) {
        var reader = entry.createReader(), all = [];
        (function more() {
          reader.readEntries(function (batch) {
            if (!batch.length) {
              Promise.all(all.map(function (child) { return walk(child, path + entry.name + "/"); })).then(resolve);
            } else { all = all.concat(Array.prototype.slice.call(batch)); more(); }
          }, function () { resolve(); });
        })();
      } else { resolve(); }
    });
  }
  ["dragenter", "dragover"].forEach(function (type) {
    drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.add("is-over"); });
  });
  drop.addEventListener("dragleave", function () { drop.classList.remove("is-over"); });
  drop.addEventListener("drop", function (e) {
    e.preventDefault();
    drop.classList.remove("is-over");
    if (busy) return;
    var items = e.dataTransfer.items, pending = [];
    if (items && items.length && items[0].webkitGetAsEntry) {
      for (var i = 0; i < items.length; i++) {
        var entry = items[i].webkitGetAsEntry();
        if (entry) pending.push(walk(entry, ""));
      }
      Promise.all(pending).then(describe);
    } else { addList(e.dataTransfer.files); }
  });

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function online() {
    if (navigator.onLine !== false) return Promise.resolve();
    statusLine.textContent = "Waiting for the connection to come back…";
    return new Promise(function (r) { window.addEventListener("online", function () { r(); }, { once: true }); });
  }
  function request(method, url, body, onProgress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      if (body && !(body instanceof FormData) && !(body instanceof Blob)) xhr.setRequestHeader("Content-Type", "application/json");
      if (onProgress) xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
      xhr.onload = function () {
        var data = null;
        try { data = JSON.parse(xhr.responseText); } catch (err) { data = null; }
        resolve({ status: xhr.status, data: data, text: xhr.responseText });
      };
      xhr.onerror = xhr.ontimeout = function () { resolve({ status: 0, data: null, text: "" }); };
      xhr.timeout = 10 * 60 * 1000;
      xhr.send(body || null);
    });
  }

  var sentBytes = 0, allBytes = 0;
  function showOverall(extra) {
    var done = sentBytes + (extra || 0);
    overallBar.value = allBytes ? Math.round(done * 100 / allBytes) : 100;
    overallText.textContent = human(done) + " of " + human(allBytes);
  }

  async function sendFile(item, target) {
    var size = item.file.size, offset = 0, tries = 0;
    var bar = item.row.querySelector("progress");
    while (offset < size || (size === 0 && tries === 0 && !item.done)) {
      var end = Math.min(offset + chunkBytes, size);
      var res = await request("POST", target.url + "?offset=" + offset, item.file.slice(offset, end), function (loaded) {
        bar.value = Math.round((offset + loaded) * 100 / (size || 1));
        showOverall(offset + loaded);
      });
      if (res.status === 200 && res.data) {
        offset = res.data.received; tries = 0;
        if (size === 0) item.done = true;
      } else if (res.status === 0 || res.status >= 500 || res.status === 409 || res.status === 429) {
        tries += 1;
        if (tries > MAX_TRIES) throw new Error("The connection keeps failing; please try again later.");
        item.row.querySelector("[data-file-state]").textContent = "retrying…";
        await online();
        await sleep(Math.min(30000, 1000 * Math.pow(2, tries - 1)));
        var status = await request("GET", target.url);
        if (status.status === 200 && status.data) offset = status.data.received;
      } else {
        throw new Error((res.data && res.data.error) || "The upload was refused.");
      }
      bar.value = size ? Math.round(offset * 100 / size) : 100;
      item.row.querySelector("[data-file-state]").textContent = offset >= size ? "sent" : human(offset) + " of " + human(size);
      showOverall(offset);
    }
    sentBytes += size;
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    if (busy) return;
    showError("");
    var name = form.querySelector("[name=name]");
    if (!name.value.trim()) { showError("Please give your name."); name.focus(); return; }
    if (!files.length) { showError("Choose files, a folder or a zip archive first."); return; }
    if (files.length > maxFiles) { showError("That is " + files.length + " files; one upload may hold at most " + maxFiles + ". Upload them in parts, or as a zip archive."); return; }
    if (maxBytes && totalBytes() > maxBytes) { showError("The files add up to " + human(totalBytes()) + "; one upload may hold at most " + human(maxBytes) + "."); return; }
    busy = true; send.disabled = true;
    list.innerHTML = "";
    files.forEach(function (item) {
      var row = document.createElement("li");
      var label = document.createElement("span");
      label.className = "ul-file-name"; label.textContent = item.name;
      var bar = document.createElement("progress"); bar.max = 100; bar.value = 0;
      bar.setAttribute("aria-label", item.name);
      var state = document.createElement("span");
      state.className = "muted"; state.setAttribute("data-file-state", ""); state.textContent = "waiting";
      row.appendChild(label); row.appendChild(bar); row.appendChild(state);
      list.appendChild(row); item.row = row;
    });
    overall.hidden = false; allBytes = totalBytes(); sentBytes = 0; showOverall(0);
    statusLine.textContent = "Sending " + files.length + " file" + (files.length === 1 ? "" : "s") + "…";
    try {
      var started = await request("POST", form.action, JSON.stringify({
        files: files.map(function (item) { return { name: item.name, size: item.file.size }; })
      }));
      if (started.status !== 201) throw new Error((started.data && started.data.error) || "The upload could not start.");
      for (var i = 0; i < files.length; i++) await sendFile(files[i], started.data.files[i]);
      statusLine.textContent = "All files sent. Checking and importing them…";
      var details = new FormData();
      ["name", "email", "note"].forEach(function (field) { details.append(field, form.querySelector("[name=" + field + "]").value); });
      var finished = await request("POST", started.data.finish, details);
      if (finished.status !== 200) throw new Error((finished.data && finished.data.error) || "The upload could not be completed.");
      summary.innerHTML = finished.text;
      form.hidden = true;
      summary.focus();
    } catch (err) {
      showError(err.message);
      statusLine.textContent = "";
      busy = false; send.disabled = false;
    }
  });
})();
