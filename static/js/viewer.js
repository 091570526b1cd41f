/* Cimar Share image viewer: plain JavaScript, no external assets.
 * Images are DICOMweb rendered frames (/dicomweb/.../frames/N/rendered); the server windows
 * and encodes them. While the user drags the window, the shown image is adjusted with an SVG
 * filter and the exact rendering is requested once the drag settles. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("viewer-data").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var stage = $("viewer-stage"), img = $("viewer-image"), slider = $("viewer-slider");
  var presetSelect = $("viewer-preset"), placeholder = $("viewer-placeholder");
  var filterFuncs = document.querySelectorAll("#wl-preview feComponentTransfer > *");
  var PRELOAD_AHEAD = 6, PRELOAD_BEHIND = 3, CACHE_LIMIT = 200, WINDOW_DEBOUNCE_MS = 180;

  var state = {
    study: 0, series: 0, slice: 0, slices: { length: 0, at: null },
    window: null,          // {center, width, label} or null for the file's default
    shown: null,           // the window of the image on screen (for the drag preview)
    zoom: 1, panX: 0, panY: 0,
    tool: window.matchMedia("(pointer: coarse)").matches ? "scroll" : "window",
    direction: 1
  };
  var preloaded = new Map();  // url -> Image, most recent last
  var windowTimer = null;
  var ended = false;          // the session (or the guest's link) ended: nothing more is shown
  var confirming = false;     // a guest's access check of a prefetched slice is under way

  function currentStudy() { return data.studies[state.study]; }
  function currentSeries() { return currentStudy().series[state.series]; }

  function frameUrl(study, series, item, win) {
    var url = data.dicomweb + "/studies/" + study.uid + "/series/" + series.uid +
      "/instances/" + item.sop + "/frames/" + item.frame + "/rendered?accept=image/png";
    if (win) url += "&window=" + round(win.center) + "," + round(win.width);
    if (item.viewport) url += "&viewport=" + item.viewport;
    return url;
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
        return { sop: inst[0], frame: i - first + 1, viewport: inst[2] };
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
      thumb.loading = "lazy";
      thumb.alt = "";
      thumb.src = thumbnailUrl(study, series);
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
      button.textContent = (index === 0 ? "Current: " : "Prior: ") + study.label;
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
    state.slice = 0;
    showSlice(0);
  }

  function showSlice(index, keepFilter) {
    if (ended || !state.slices.length) return;
    index = Math.max(0, Math.min(state.slices.length - 1, index));
    if (index !== state.slice) state.direction = index > state.slice ? 1 : -1;
    state.slice = index;
    var url = frameUrl(currentStudy(), currentSeries(), state.slices.at(index), state.window);
    if (img.getAttribute("src") !== url) {
      if (preloaded.has(url)) confirmAccess(url);
      placeholder.hidden = true;
      img.hidden = false;
      img.dataset.window = state.window ? state.window.center + "," + state.window.width : "";
      img.src = url;
      remember(url, img);
    }
    if (!keepFilter) clearPreview();
    slider.value = String(index + 1);
    updateOverlay();
    preloadAround(index);
  }

  function remember(url, image) {
    if (preloaded.has(url)) preloaded.delete(url);
    preloaded.set(url, image);
    while (preloaded.size > CACHE_LIMIT) preloaded.delete(preloaded.keys().next().value);
  }

  function preloadAround(index) {
    var ahead = state.direction > 0 ? PRELOAD_AHEAD : PRELOAD_BEHIND;
    var behind = state.direction > 0 ? PRELOAD_BEHIND : PRELOAD_AHEAD;
    for (var offset = -behind; offset <= ahead; offset++) {
      var i = index + offset;
      if (offset === 0 || i < 0 || i >= state.slices.length) continue;
      var url = frameUrl(currentStudy(), currentSeries(), state.slices.at(i), state.window);
      if (preloaded.has(url)) continue;
      var image = new Image();
      image.decoding = "async";
      image.addEventListener("error", checkFailure.bind(null, url));
      image.src = url;
      remember(url, image);
    }
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
    img.removeAttribute("src");
    Array.prototype.forEach.call(document.querySelectorAll("#viewer-series img"), function (thumb) { thumb.remove(); });
    slider.disabled = true;
    showError(message || "The images are no longer available.");
  }
  img.addEventListener("error", function () {
    if (ended) return;
    showError("This image cannot be shown.");
    checkFailure(img.getAttribute("src"));
  });
  img.addEventListener("load", function () {
    placeholder.hidden = true;
    state.shown = img.dataset.window ? parseWindow(img.dataset.window) : null;
    if (!windowTimer) clearPreview();
  });
  function showError(message) {
    img.hidden = true;
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
    previewWindow(win);
    updateOverlay();
    clearTimeout(windowTimer);
    windowTimer = setTimeout(function () { windowTimer = null; showSlice(state.slice, true); }, WINDOW_DEBOUNCE_MS);
  }

  // --- Zoom and pan -------------------------------------------------------------------------
  function applyTransform() {
    img.style.transform = "translate(" + state.panX + "px," + state.panY + "px) scale(" + state.zoom + ")";
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

  // --- Input: tools, pointer, wheel, keyboard -----------------------------------------------
  function setTool(tool) {
    state.tool = tool;
    document.querySelectorAll("[data-tool]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    });
    stage.dataset.tool = tool;
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
    stage.setPointerCapture(event.pointerId);
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
  drawerToggle.addEventListener("click", function () { setDrawer(!drawer.classList.contains("open"), true); });
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
