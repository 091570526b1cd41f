/* Cimar Share image viewer: plain JavaScript, no external assets.
 * Images are DICOMweb rendered frames (/dicomweb/.../frames/N/rendered); the server windows
 * and encodes them, sized to the screen's device pixels when that is smaller than the image.
 *
 * Load order (a phone on a slow network gets the slice on screen first): the slice on screen
 * (its lossy preview, which the page preloads, then its lossless image), then the rest of the
 * series outward from it (previews, then lossless images), then the thumbnails; at most
 * MAX_IN_FLIGHT requests at once, and a jump elsewhere cancels what is no longer wanted. A
 * preview on screen is marked as such until its lossless image replaces it.
 *
 * Window/level: once the slice's stored values are in the browser (/frames/N/values, fetched
 * once, lossless), each step is drawn on a canvas here; until then the image on screen is
 * adjusted with an SVG filter and the exact rendering is requested once the drag settles. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("viewer-data").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var stage = $("viewer-stage"), img = $("viewer-image"), slider = $("viewer-slider");
  var presetSelect = $("viewer-preset"), placeholder = $("viewer-placeholder");
  var canvas = $("viewer-canvas"), previewMark = $("overlay-preview"), loadingLabel = $("viewer-loading");
  var filterFuncs = document.querySelectorAll("#wl-preview feComponentTransfer > *");
  var CACHE_LIMIT = 400, WINDOW_DEBOUNCE_MS = 180, MAX_IN_FLIGHT = 4, VIEWER_MAX_SIZE = 2048;
  var WINDOWED_AROUND = 7;

  var state = {
    study: 0, series: 0, slice: 0, slices: { length: 0, at: null },
    window: null,          // {center, width, label} or null for the file's default
    shown: null,           // the window of the image on screen (for the drag preview)
    zoom: 1, panX: 0, panY: 0,
    tool: window.matchMedia("(pointer: coarse)").matches ? "scroll" : "window",
    direction: 1
  };
  var preloaded = new Map();  // url -> Image, loaded and decoded; most recent last
  var inFlight = new Map();   // url -> Image being loaded
  var failed = new Set();     // urls that did not load (not asked for again)
  var values = new Map();     // values url -> {header, stored} | "loading" | "refused"
  var thumbnailsStarted = false, firstShown = false;
  var windowTimer = null;
  var ended = false;          // the session (or the guest's link) ended: nothing more is shown
  var confirming = false;     // a guest's access check of a prefetched slice is under way

  function currentStudy() { return data.studies[state.study]; }
  function currentSeries() { return currentStudy().series[state.series]; }

  function instanceUrl(study, series, item) {
    return data.dicomweb + "/studies/" + study.uid + "/series/" + series.uid +
      "/instances/" + item.sop + "/frames/" + item.frame;
  }
  function windowParam(win) {
    return win ? "&window=" + round(win.center) + "," + round(win.width) : "";
  }
  // The screen's device pixels, rounded up to 64 (so that a few sizes serve every phone).
  function deviceBox() {
    var ratio = window.devicePixelRatio || 1;
    var up = function (v) { return Math.max(64, Math.ceil(v * ratio / 64) * 64); };
    return [up(stage.clientWidth || window.innerWidth), up(stage.clientHeight || window.innerHeight)];
  }
  // The lossless image: full size, or fitted to the screen's device pixels when that is
  // smaller (never past VIEWER_MAX_SIZE, the server's default box for large images).
  function sizeParam(item) {
    var box = deviceBox();
    box = [Math.min(box[0], VIEWER_MAX_SIZE), Math.min(box[1], VIEWER_MAX_SIZE)];
    if ((item.columns || 0) > box[0] || (item.rows || 0) > box[1]) return "&viewport=" + box[0] + "," + box[1];
    return item.viewport ? "&viewport=" + item.viewport : "";
  }
  function frameUrl(study, series, item, win) {
    return instanceUrl(study, series, item) + "/rendered?accept=image/png" + windowParam(win) + sizeParam(item);
  }
  // The lossy preview: JPEG, at most PREVIEW.size; the same URL as the page's preload
  // (studies/viewer.py preview_url) for the first slice.
  function previewUrl(study, series, item, win) {
    var url = instanceUrl(study, series, item) + "/rendered?accept=image/jpeg&quality=" + data.preview.quality;
    if (Math.max(item.columns || 0, item.rows || 0) > data.preview.size) url += "&viewport=" + data.preview.size + "," + data.preview.size;
    return url + windowParam(win);
  }
  function valuesUrl(study, series, item) {
    var size = sizeParam(item);
    return instanceUrl(study, series, item) + "/values" + (size ? "?" + size.slice(1) : "");
  }
  function thumbnailUrl(study, series) {
    return data.dicomweb + "/studies/" + study.uid + "/series/" + series.uid + "/thumbnail?accept=image/jpeg";
  }
  function round(v) { return Math.round(v * 100) / 100; }

  // The series' slices (every frame of every instance) without a list of them: one running
  // total per instance, and a binary search to find slice i. Memory follows the number of
  // instances, never the frame counts the files declare.
  function expand(series) {
    var ends = [], total = 0;
    series.instances.forEach(function (inst) {
      total += Math.max(1, inst[1] | 0);
      ends.push(total);
    });
    return {
      length: total,
      at: function (i) {
        var lo = 0, hi = ends.length - 1;
        while (lo < hi) {
          var mid = (lo + hi) >> 1;
          if (ends[mid] > i) hi = mid; else lo = mid + 1;
        }
        var inst = series.instances[lo], first = lo ? ends[lo - 1] : 0;
        return { sop: inst[0], frame: i - first + 1, viewport: inst[2], columns: inst[3], rows: inst[4] };
      }
    };
  }

  // --- Series strip, studies (priors) list, presets -----------------------------------------
  function buildStrip() {
    var strip = $("viewer-series");
    strip.textContent = "";
    var study = currentStudy();
    study.series.forEach(function (series, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "series-item";
      button.setAttribute("aria-pressed", String(index === state.series));
      var count = series.instances.reduce(function (n, i) { return n + i[1]; }, 0);
      var label = (series.modality || "") + " " + (series.number == null ? "" : series.number) +
        (series.description ? " · " + series.description : "");
      button.setAttribute("aria-label", "Series " + label + ", " + count + " images");
      var thumb = document.createElement("img");
      thumb.alt = "";
      thumb.dataset.src = thumbnailUrl(study, series);  // loaded after the series (startThumbnails)
      if (thumbnailsStarted) thumb.src = thumb.dataset.src;
      thumb.addEventListener("error", function () { thumb.classList.add("broken"); });
      var text = document.createElement("span");
      text.textContent = label + " (" + count + ")";
      button.append(thumb, text);
      button.addEventListener("click", function () { openSeries(index); stage.focus(); });
      strip.append(button);
    });
  }

  function buildStudies() {
    var list = $("viewer-study-list");
    if (!list) return;
    list.textContent = "";
    data.studies.forEach(function (study, index) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "study-item";
      button.setAttribute("aria-pressed", String(index === state.study));
      var later = index > 0 && study.isoDate && study.isoDate > (data.studies[0].isoDate || "9");
      button.textContent = (index === 0 ? "Current: " : later ? "Later: " : "Prior: ") + study.label;
      button.disabled = !study.series.length;
      button.addEventListener("click", function () { openStudy(index); stage.focus(); });
      li.append(button);
      list.append(li);
    });
  }

  function buildPresets() {
    var series = currentSeries();
    presetSelect.textContent = "";
    var options = [{ key: "", label: "Default" }].concat(series.presets || []);
    options.forEach(function (preset, index) {
      var option = document.createElement("option");
      option.value = preset.key;
      option.textContent = preset.label + (preset.width ? " (" + preset.width + "/" + preset.center + ")" : "") +
        (index > 0 && index < 10 ? " [" + index + "]" : "");
      presetSelect.append(option);
    });
    presetSelect.value = state.window && state.window.key ? state.window.key : "";
  }

  function applyPreset(key) {
    var series = currentSeries();
    var preset = (series.presets || []).filter(function (p) { return p.key === key; })[0];
    setWindow(preset ? { center: preset.center, width: preset.width, label: preset.label, key: preset.key } : null);
  }

  // --- Opening studies, series and slices ---------------------------------------------------
  function openStudy(index) {
    state.study = index;
    state.window = null;
    buildStudies();
    buildStrip();
    openSeries(0);
  }

  function openSeries(index) {
    if (ended) return;
    var study = currentStudy();
    if (!study.series.length) { showError("This study has no images."); return; }
    state.series = index;
    state.slices = expand(currentSeries());
    if (state.window && !state.window.key) state.window = null;  // a dragged window is per series
    Array.prototype.forEach.call($("viewer-series").children, function (b, i) {
      b.setAttribute("aria-pressed", String(i === index));
    });
    slider.max = String(state.slices.length);
    slider.disabled = state.slices.length < 2;
    buildPresets();
    Array.from(inFlight.keys()).forEach(cancel);  // another series: what was loading is not wanted
    state.slice = 0;
    showSlice(0);
  }

  function showSlice(index, keepFilter) {
    if (ended || !state.slices.length) return;
    index = Math.max(0, Math.min(state.slices.length - 1, index));
    var jumped = Math.abs(index - state.slice) > 1;
    if (index !== state.slice) state.direction = index > state.slice ? 1 : -1;
    state.slice = index;
    placeholder.hidden = true;
    if (state.window) ensureValues();
    if (!drawValues()) showImage(index);
    if (!keepFilter) clearPreview();
    slider.value = String(index + 1);
    updateOverlay();
    schedule(jumped);
  }

  // The best image of slice `index` that the browser has: lossless, else its preview; when it
  // has neither, the preview is asked for first (it is small), then the lossless image.
  function showImage(index) {
    var study = currentStudy(), series = currentSeries(), item = state.slices.at(index);
    var lossless = frameUrl(study, series, item, state.window);
    var preview = previewUrl(study, series, item, state.window);
    var url = preloaded.has(lossless) || failed.has(preview) || inFlight.has(lossless) && !preloaded.has(preview)
      ? lossless : preview;
    hideCanvas();
    img.hidden = false;
    if (img.getAttribute("src") !== url) {
      if (preloaded.has(url)) confirmAccess(url);
      else if (!inFlight.has(url)) inFlight.set(url, img);  // the <img> loads it (and the page's preload)
      img.dataset.window = state.window ? state.window.center + "," + state.window.width : "";
      img.dataset.kind = url === preview ? "preview" : "lossless";
      img.src = url;
    }
    markPreview();
  }
  function markPreview() {
    previewMark.hidden = !(img.dataset.kind === "preview" && img.complete && !img.hidden);
  }

  function remember(url, image) {
    if (preloaded.has(url)) preloaded.delete(url);
    preloaded.set(url, image);
    while (preloaded.size > CACHE_LIMIT) preloaded.delete(preloaded.keys().next().value);
  }

  // --- Load order -----------------------------------------------------------------------------
  var queue = [];
  // Slice indices outward from the one on screen, ahead first: the whole series (up to
  // CACHE_LIMIT / 2 slices) in the default window; a few neighbours in a window of the user's
  // (each window is another image of every slice).
  function around(n) {
    var order = [state.slice], limit = Math.min(n, state.window ? WINDOWED_AROUND : CACHE_LIMIT / 2);
    for (var d = 1; order.length < limit && d < n; d++) {
      var a = state.slice + d * state.direction, b = state.slice - d * state.direction;
      if (a >= 0 && a < n) order.push(a);
      if (b >= 0 && b < n && order.length < limit) order.push(b);
    }
    return order;
  }
  function wanted() {
    var study = currentStudy(), series = currentSeries(), win = state.window;
    var order = around(state.slices.length), previews = [], lossless = [];
    order.forEach(function (i) {
      var item = state.slices.at(i), exact = frameUrl(study, series, item, win);
      if (!preloaded.has(exact)) previews.push(previewUrl(study, series, item, win));
      lossless.push(exact);
    });
    // The slice on screen (preview, then lossless), the series' previews, then lossless images.
    return previews.slice(0, 1).concat(lossless.slice(0, 1), previews.slice(1), lossless.slice(1));
  }
  function schedule(jumped) {
    queue = wanted();
    if (jumped) {
      var keep = new Set(queue.slice(0, MAX_IN_FLIGHT * 2));
      inFlight.forEach(function (image, url) { if (image !== img && !keep.has(url)) cancel(url); });
    }
    pump();
  }
  function pump() {
    if (ended) return;
    var pending = 0;
    for (var k = 0; k < queue.length; k++) {
      var url = queue[k];
      if (preloaded.has(url) || failed.has(url)) continue;
      pending++;
      if (!inFlight.has(url) && inFlight.size < MAX_IN_FLIGHT) load(url);
    }
    if (!pending) startThumbnails();
    updateLoading();
  }
  function load(url) {
    var image = new Image();
    image.decoding = "async";
    inFlight.set(url, image);
    image.onload = function () {
      inFlight.delete(url);
      remember(url, image);
      // The slice on screen shows its preview: its lossless image is here now.
      if (img.dataset.kind === "preview" && canvas.hidden && url === frameUrl(currentStudy(), currentSeries(), state.slices.at(state.slice), state.window)) {
        showImage(state.slice);
      }
      pump();
    };
    image.onerror = function () {
      inFlight.delete(url);
      failed.add(url);
      checkFailure(url);
      pump();
    };
    image.src = url;
  }
  function cancel(url) {
    var image = inFlight.get(url);
    if (!image || image === img) return;  // the slice on screen keeps loading
    inFlight.delete(url);
    image.onload = image.onerror = null;
    image.src = "";  // the browser drops the request
  }
  function startThumbnails() {
    if (thumbnailsStarted) return;
    thumbnailsStarted = true;
    document.querySelectorAll("#viewer-series img[data-src]").forEach(function (thumb) {
      if (!thumb.getAttribute("src")) thumb.src = thumb.dataset.src;
    });
  }
  // How much of the series is in the browser: the slider's data-loaded (a preview or better)
  // and data-lossless, and a short text beside it until every slice is lossless.
  function updateLoading() {
    if (state.window) { loadingLabel.textContent = ""; return; }  // counted in the default window
    var study = currentStudy(), series = currentSeries(), n = state.slices.length;
    var shown = 0, exact = 0, counted = Math.min(n, CACHE_LIMIT / 2);
    for (var i = 0; i < counted; i++) {
      var item = state.slices.at(i);
      if (preloaded.has(frameUrl(study, series, item, state.window))) { exact++; shown++; }
      else if (preloaded.has(previewUrl(study, series, item, state.window))) shown++;
    }
    slider.dataset.loaded = String(shown);
    slider.dataset.lossless = String(exact);
    if (shown >= counted && !performance.getEntriesByName("viewer:series-loaded").length) {
      performance.mark("viewer:series-loaded");
    }
    loadingLabel.textContent = shown < counted ? "Loading " + shown + "/" + counted
      : exact < counted ? "Full quality " + exact + "/" + counted : "";
  }

  // --- Window/level in the browser ----------------------------------------------------------
  // The slice's stored values (see studies/rendering/values.py for the format), fetched once;
  // each window is then one 64K-entry table and one pass over the pixels onto the canvas.
  function currentValuesUrl() {
    return valuesUrl(currentStudy(), currentSeries(), state.slices.at(state.slice));
  }
  function ensureValues() {
    if (ended || !state.slices.length || typeof TextDecoder === "undefined") return;
    var url = currentValuesUrl();
    if (values.has(url)) return;
    values.set(url, "loading");
    fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) {
        values.set(url, "refused");  // not offered for this image: the server windows it
        if (response.status === 403 || response.status === 410) checkFailure(url);
        return;
      }
      return response.arrayBuffer().then(function (buffer) {
        values.set(url, unpack(buffer));
        values.forEach(function (entry, key) {  // keep the values of a few slices only
          if (values.size > 4 && key !== url && typeof entry !== "string") values.delete(key);
        });
        if (url === currentValuesUrl() && state.window && !ended) drawValues();
      });
    }).catch(function () { values.delete(url); });
  }
  function unpack(buffer) {
    var bytes = new Uint8Array(buffer), newline = bytes.indexOf(10);
    var header = JSON.parse(new TextDecoder().decode(bytes.subarray(0, newline)));
    var rows = header.rows, columns = header.columns, n = rows * columns;
    var low = newline + 1, high = low + n, stored = new Uint16Array(n);
    var least = Infinity, most = -Infinity, top = header.signed ? 32768 : 65536;
    for (var r = 0; r < rows; r++) {
      var sum = 0, j = r * columns, end = j + columns;
      for (; j < end; j++) {
        sum = (sum + (bytes[low + j] | bytes[high + j] << 8)) & 0xFFFF;
        stored[j] = sum;
        var value = sum >= top ? sum - 65536 : sum;
        if (value < least) least = value;
        if (value > most) most = value;
      }
    }
    // The values present: a window's table covers only them (a CT slice's few thousand).
    header.least = least;
    header.most = most;
    return { header: header, stored: stored, image: null };
  }
  // DICOM's LINEAR window (PS3.3 C.11.2.1.2.1), as the server renders it, per 16-bit pattern.
  function windowTable(header, win) {
    var table = new Uint32Array(65536), c = win.center, w = win.width;
    for (var v = header.least; v <= header.most; v++) {
      var x = v * header.slope + header.intercept, y;
      if (w <= 1) y = x > c - 0.5 ? 255 : 0;
      else {
        y = (x - (c - 0.5)) / (w - 1) + 0.5;
        y = Math.floor((y < 0 ? 0 : y > 1 ? 1 : y) * 255 + 0.5);
      }
      if (header.invert) y = 255 - y;
      table[v & 0xFFFF] = 0xFF000000 | y << 16 | y << 8 | y;
    }
    return table;
  }
  function drawValues() {
    if (!state.window || ended) return false;
    var url = currentValuesUrl(), entry = values.get(url);
    if (!entry || typeof entry === "string") return false;
    if (!entry.confirmed) {  // a guest's session is asked about once per slice windowed here
      entry.confirmed = true;
      confirmAccess(url);
    }
    var header = entry.header, table = windowTable(header, state.window);
    var context = canvas.getContext("2d");
    if (canvas.width !== header.columns || canvas.height !== header.rows) {
      canvas.width = header.columns;
      canvas.height = header.rows;
    }
    var image = entry.image || (entry.image = context.createImageData(header.columns, header.rows));
    var pixels = new Uint32Array(image.data.buffer), stored = entry.stored;
    for (var j = 0; j < stored.length; j++) pixels[j] = table[stored[j]];
    context.putImageData(image, 0, 0);
    canvas.hidden = false;
    img.hidden = true;
    clearPreview();
    markPreview();
    stage.dataset.windowing = "browser";
    stage.dataset.shownWindow = state.window.center + "," + state.window.width;
    return true;
  }
  function hideCanvas() {
    canvas.hidden = true;
    delete stage.dataset.windowing;
    delete stage.dataset.shownWindow;
  }

  // --- Failures -----------------------------------------------------------------------------
  // An <img> error says nothing about why: the same URL is fetched to read the answer. The
  // image endpoints answer JSON {error, message} when the session has ended (410 for a guest
  // whose link was deleted, locked or expired), plain text for an image that cannot be
  // rendered; anything else (an HTML error page) is never shown as text.
  function checkFailure(url) {
    if (ended) return;
    fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (response.ok || ended) return;
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === 0) {
        return response.json().then(function (body) {
          if (body && (body.error === "link_unavailable" || body.error === "session_ended")) {
            endViewing(body.message);
          }
        });
      }
      if (type.indexOf("text/plain") === 0 && img.getAttribute("src") === url) {
        return response.text().then(function (text) {
          if (img.getAttribute("src") === url) showError("This image cannot be shown: " + text.trim().slice(0, 300));
        });
      }
    }).catch(function () {});
  }
  // A guest's prefetched slice is shown without asking the server: ask whether the session
  // still stands (a HEAD, one at a time), so that a deleted link stops the viewer at once.
  function confirmAccess(url) {
    if (!data.guest || confirming || ended) return;
    confirming = true;
    fetch(url, { method: "HEAD", credentials: "same-origin", cache: "no-store" }).then(function (response) {
      confirming = false;
      if (!response.ok) checkFailure(url);
    }).catch(function () { confirming = false; });
  }
  function endViewing(message) {
    if (ended) return;
    ended = true;
    preloaded.forEach(function (image) { image.removeAttribute("src"); });
    preloaded.clear();
    Array.from(inFlight.keys()).forEach(cancel);
    queue = [];
    values.clear();
    hideCanvas();
    previewMark.hidden = true;
    img.removeAttribute("src");
    Array.prototype.forEach.call(document.querySelectorAll("#viewer-series img"), function (thumb) { thumb.remove(); });
    slider.disabled = true;
    showError(message || "The images are no longer available.");
  }
  img.addEventListener("error", function () {
    if (ended) return;
    var url = img.getAttribute("src");
    if (inFlight.get(url) === img) { inFlight.delete(url); failed.add(url); }
    showError("This image cannot be shown.");
    checkFailure(img.getAttribute("src"));
  });
  img.addEventListener("load", function () {
    var url = img.getAttribute("src");
    if (inFlight.get(url) === img) {
      inFlight.delete(url);
      // Counted as loaded, without a copy: a new Image() of the same URL is not always served
      // from memory (Chromium asked again for the page's preloaded first preview, a no-store
      // response, about one time in five). What the element loads itself is the preview of
      // the slice on screen (its lossless image, kept by the loader, replaces it) or, when the
      // preview failed, its lossless image.
      remember(url, img);
      pump();
    }
    if (!firstShown) {
      firstShown = true;
      performance.mark("viewer:first-image");
    }
    markPreview();
    placeholder.hidden = true;
    state.shown = img.dataset.window ? parseWindow(img.dataset.window) : null;
    if (!windowTimer) clearPreview();
  });
  function showError(message) {
    img.hidden = true;
    hideCanvas();
    previewMark.hidden = true;
    placeholder.textContent = message;
    placeholder.hidden = false;
  }
  function parseWindow(text) {
    var parts = text.split(",");
    return { center: parseFloat(parts[0]), width: parseFloat(parts[1]) };
  }

  // --- Window / level -----------------------------------------------------------------------
  function baseWindow() {
    if (state.window) return state.window;
    var series = currentSeries();
    if (series.window) return { center: series.window[0], width: series.window[1] };
    return series.modality === "CT" ? { center: 40, width: 400 } : { center: 500, width: 1000 };
  }

  function setWindow(win) {
    state.window = win;
    presetSelect.value = win && win.key ? win.key : "";
    showSlice(state.slice);
  }

  function previewWindow(win) {
    // Adjust the image on screen as if rendered with `win` (linear approximation).
    var shown = state.shown || baseWindow();
    var slope = shown.width / win.width;
    var intercept = 0.5 - 0.5 * slope + (shown.center - win.center) / win.width;
    filterFuncs.forEach(function (fn) {
      fn.setAttribute("slope", String(slope));
      fn.setAttribute("intercept", String(intercept));
    });
    img.style.filter = "url(#wl-preview)";
  }
  function clearPreview() { img.style.filter = ""; }

  function dragWindow(dx, dy) {
    var win = state.window && !state.window.key ? state.window : Object.assign({}, baseWindow());
    var step = Math.max(win.width / 256, 0.5);
    win = {
      center: win.center - dy * step,
      width: Math.max(1, win.width + dx * step),
      label: "Custom"
    };
    state.window = win;
    presetSelect.value = "";
    updateOverlay();
    clearTimeout(windowTimer);
    if (drawValues()) { windowTimer = null; return; }  // exact, in the browser
    ensureValues();
    previewWindow(win);
    windowTimer = setTimeout(function () { windowTimer = null; showSlice(state.slice, true); }, WINDOW_DEBOUNCE_MS);
  }

  // --- Zoom and pan -------------------------------------------------------------------------
  function applyTransform() {
    img.style.transform = canvas.style.transform =
      "translate(" + state.panX + "px," + state.panY + "px) scale(" + state.zoom + ")";
    $("overlay-zoom").textContent = "Zoom " + Math.round(state.zoom * 100) + "%";
  }
  function zoomBy(factor) {
    state.zoom = Math.max(0.1, Math.min(20, state.zoom * factor));
    applyTransform();
  }
  function fit() { state.zoom = 1; state.panX = 0; state.panY = 0; applyTransform(); }
  function reset() { fit(); state.window = null; presetSelect.value = ""; showSlice(state.slice); }

  // --- Overlay ------------------------------------------------------------------------------
  function updateOverlay() {
    var study = currentStudy(), series = currentSeries(), p = data.patient;
    publishCurrent(study, series);
    $("overlay-patient").textContent = p.name + (p.id ? "\nID " + p.id : "") +
      (p.birthDate ? "\nBorn " + p.birthDate : "") + (p.sex ? " " + p.sex : "");
    $("overlay-series").textContent = (study.date || "") + (study.description ? "\n" + study.description : "") +
      "\n" + (series.modality || "") + " " + (series.number == null ? "" : series.number) +
      (series.description ? " · " + series.description : "") +
      "\nSlice " + (state.slice + 1) + "/" + state.slices.length;
    var win = state.window;
    $("overlay-window").textContent = win
      ? "W " + Math.round(win.width) + " L " + Math.round(win.center) + (win.label ? " (" + win.label + ")" : "")
      : "Window: default";
    $("viewer-slice-label").textContent = (state.slice + 1) + " / " + state.slices.length;
  }

  // What is on screen, for other scripts on the page (the guest's "Download" menu).
  function publishCurrent(study, series) {
    var item = state.slices.at(state.slice), win = state.window;
    stage.dataset.currentStudy = study.uid;
    stage.dataset.currentSeries = series.uid;
    stage.dataset.currentFrame = String(item.frame);
    stage.dataset.currentWindow = win ? round(win.center) + "," + round(win.width) : "";
    stage.dataset.currentInstance = item.sop;
  }

  // --- Input: tools, pointer, wheel, keyboard -----------------------------------------------
  function setTool(tool) {
    state.tool = tool;
    document.querySelectorAll("[data-tool]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    });
    stage.dataset.tool = tool;
    if (tool === "window") ensureValues();
  }
  document.querySelectorAll("[data-tool]").forEach(function (b) {
    b.addEventListener("click", function () { setTool(b.dataset.tool); });
  });
  document.querySelectorAll("[data-action]").forEach(function (b) {
    b.addEventListener("click", function () {
      ({ "zoom-in": function () { zoomBy(1.25); }, "zoom-out": function () { zoomBy(0.8); },
         fit: fit, reset: reset })[b.dataset.action]();
    });
  });
  presetSelect.addEventListener("change", function () { applyPreset(presetSelect.value); });
  slider.addEventListener("input", function () { showSlice(parseInt(slider.value, 10) - 1); });

  var pointers = new Map(), last = null, scrollRest = 0, pinchStart = null;
  stage.addEventListener("pointerdown", function (event) {
    try { stage.setPointerCapture(event.pointerId); } catch (error) { /* not an active pointer */ }
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    last = { x: event.clientX, y: event.clientY, button: event.button };
    if (pointers.size === 2) {
      var pts = Array.from(pointers.values());
      pinchStart = { distance: Math.hypot(pts[0].x - pts[1].x, pts[0].y - pts[1].y), zoom: state.zoom };
    }
  });
  stage.addEventListener("pointermove", function (event) {
    if (!pointers.has(event.pointerId) || !last) return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pointers.size === 2 && pinchStart) {
      var pts = Array.from(pointers.values());
      var distance = Math.hypot(pts[0].x - pts[1].x, pts[0].y - pts[1].y);
      state.zoom = Math.max(0.1, Math.min(20, pinchStart.zoom * distance / pinchStart.distance));
      applyTransform();
      return;
    }
    var dx = event.clientX - last.x, dy = event.clientY - last.y;
    last.x = event.clientX; last.y = event.clientY;
    var tool = last.button === 1 ? "pan" : state.tool;
    if (tool === "pan") { state.panX += dx; state.panY += dy; applyTransform(); }
    else if (tool === "zoom") { zoomBy(Math.exp(-dy / 200)); }
    else if (tool === "window") { dragWindow(dx, dy); }
    else {
      scrollRest += dy;
      var steps = Math.trunc(scrollRest / 12);
      if (steps) { scrollRest -= steps * 12; showSlice(state.slice - steps); }
    }
  });
  function endPointer(event) {
    pointers.delete(event.pointerId);
    if (pointers.size < 2) pinchStart = null;
    if (!pointers.size) { last = null; scrollRest = 0; }
  }
  stage.addEventListener("pointerup", endPointer);
  stage.addEventListener("pointercancel", endPointer);
  stage.addEventListener("wheel", function (event) {
    event.preventDefault();
    if (event.ctrlKey) { zoomBy(event.deltaY < 0 ? 1.1 : 0.9); return; }
    showSlice(state.slice + (event.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  stage.addEventListener("contextmenu", function (event) { event.preventDefault(); });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.altKey || event.metaKey || event.ctrlKey) return;
    if (target && (target.tagName === "INPUT" && target.type !== "range" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) return;
    if (target === slider && /^(Arrow|Page|Home|End)/.test(event.key)) return;  // the slider moves itself
    var help = $("viewer-help");
    var key = event.key, handled = true;
    if (key === "ArrowDown" || key === "ArrowRight") showSlice(state.slice + 1);
    else if (key === "ArrowUp" || key === "ArrowLeft") showSlice(state.slice - 1);
    else if (key === "PageDown") showSlice(state.slice + 10);
    else if (key === "PageUp") showSlice(state.slice - 10);
    else if (key === "Home") showSlice(0);
    else if (key === "End") showSlice(state.slices.length - 1);
    else if (key === "]") openSeries(Math.min(state.series + 1, currentStudy().series.length - 1));
    else if (key === "[") openSeries(Math.max(state.series - 1, 0));
    else if (key === "+" || key === "=") zoomBy(1.25);
    else if (key === "-") zoomBy(0.8);
    else if (key === "f" || key === "F") fit();
    else if (key === "r" || key === "R") reset();
    else if (key === "w" || key === "W") setTool("window");
    else if (key === "s" || key === "S") setTool("scroll");
    else if (key === "p" || key === "P") setTool("pan");
    else if (key === "z" || key === "Z") setTool("zoom");
    else if (key === "0") applyPreset("");
    else if (/^[1-9]$/.test(key) && (currentSeries().presets || [])[+key - 1]) applyPreset(currentSeries().presets[+key - 1].key);
    else if (key === "?" && help.showPopover) help.togglePopover();
    else handled = false;
    if (handled) event.preventDefault();
  });

  // --- Phone layout: series and priors in a drawer, the guest banner folded ----------------
  // On a narrow or low screen (the media query of app.css) the image keeps the room; series
  // and priors open in a drawer over it, and the guest's banner folds to one line once the
  // first image is on screen.
  var compact = window.matchMedia("(max-width: 899px), (max-height: 500px)");
  var drawer = $("viewer-drawer"), drawerToggle = document.querySelector("[data-drawer-toggle]");
  function setDrawer(open, focus) {
    drawer.classList.toggle("open", open);
    drawerToggle.setAttribute("aria-expanded", String(open));
    if (!focus) return;
    if (open) {
      var chosen = drawer.querySelector(".series-item[aria-pressed=true]") || drawer.querySelector("button");
      if (chosen) chosen.focus();
    } else {
      drawerToggle.focus();
    }
  }
  drawerToggle.addEventListener("click", function () {
    startThumbnails();  // the series strip is on screen: its thumbnails now
    setDrawer(!drawer.classList.contains("open"), true);
  });
  drawer.querySelector("[data-drawer-close]").addEventListener("click", function () { setDrawer(false, true); });
  drawer.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && drawer.classList.contains("open")) { event.preventDefault(); setDrawer(false, true); }
  });
  // A series or study chosen in the drawer: close it and show the image.
  drawer.addEventListener("click", function (event) {
    if (compact.matches && event.target.closest(".series-item, .study-item")) setDrawer(false, false);
  });

  var banner = document.querySelector("[data-viewer-banner]");
  var bannerToggle = banner && banner.querySelector("[data-banner-toggle]");
  function foldBanner(folded) {
    banner.classList.toggle("folded", folded);
    bannerToggle.setAttribute("aria-expanded", String(!folded));
  }
  if (bannerToggle) {
    bannerToggle.addEventListener("click", function () { foldBanner(!banner.classList.contains("folded")); });
    img.addEventListener("load", function () {
      if (!compact.matches) return;
      bannerToggle.hidden = false;
      foldBanner(true);
    }, { once: true });
  }

  // --- Start --------------------------------------------------------------------------------
  setTool(state.tool);
  applyTransform();
  buildStudies();
  buildStrip();
  if (currentStudy().series.length) openSeries(0); else showError("This study has no images.");
})();
