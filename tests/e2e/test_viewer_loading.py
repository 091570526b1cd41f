"""The viewer on a phone: what it asks for first, the preview it may show while the lossless
image loads, and window/level in the browser giving the server's pixels."""

import io
import re
from collections import Counter

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image
from playwright.sync_api import expect

from testkit.dicom_files import dataset, phantom
from tests.e2e.conftest import DEVICES, log_in
from tests.factories import PASSWORD, SeriesFactory, ct_series, instance_for

pytestmark = pytest.mark.django_db(transaction=True)

CANVAS = """() => {
  const canvas = document.getElementById('viewer-canvas');
  const rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  return [canvas.width, canvas.height, Array.from(rgba.filter((_, i) => i % 4 === 0))];
}"""
# One drag of the W/L tool (the pointer events a finger makes).
DRAG = """(steps) => {
  const stage = document.getElementById('viewer-stage');
  const box = stage.getBoundingClientRect();
  let x = box.left + box.width / 2, y = box.top + box.height / 2;
  const event = (type) => new PointerEvent(type, {pointerId: 3, pointerType: 'touch',
    isPrimary: true, bubbles: true, clientX: x, clientY: y});
  stage.dispatchEvent(event('pointerdown'));
  for (let i = 0; i < steps; i++) { x += 5; y -= 7; stage.dispatchEvent(event('pointermove')); }
  stage.dispatchEvent(event('pointerup'));
}"""
IN_THE_BROWSER = "() => document.getElementById('viewer-stage').dataset.windowing === 'browser'"


def viewer_url(live_server, study, worklist) -> str:  # type: ignore[no-untyped-def]
    url = reverse("studies:viewer", args=[study.public_id])
    return f"{live_server.url}{url}?worklist={worklist.public_id}"


def phone(new_page):  # type: ignore[no-untyped-def]
    return new_page("phone", **DEVICES["phone"])


def test_the_slice_on_screen_is_asked_for_first_then_the_series_then_thumbnails(
    new_page, live_server, read_only, study, worklist
):
    series = ct_series(study, slices=8, size=64)
    ct_series(study, slices=2, size=64, number=2, series_description="Coronal")
    first = series.instances.order_by("instance_number").first()
    page = phone(new_page)
    log_in(page, live_server, "readonly", PASSWORD)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/dicomweb/" in r.url else None)
    page.goto(viewer_url(live_server, study, worklist))
    expect(page.locator("#viewer-slider")).to_have_attribute("data-lossless", "8")
    expect(page.locator("#viewer-loading")).to_have_text("")
    frames = [url for url in asked if "/frames/" in url]
    # The slice on screen: its preview (preloaded by the page), then its lossless image.
    assert first.sop_instance_uid in frames[0] and "accept=image/jpeg" in frames[0]
    assert first.sop_instance_uid in frames[1] and "accept=image/png" in frames[1]
    # Every other slice's preview comes before any other slice's lossless image.
    kinds = ["jpeg" if "image/jpeg" in url else "png" for url in frames[2:]]
    assert kinds == sorted(kinds, key=lambda kind: kind != "jpeg")
    twice = [url for url, n in Counter(frames).items() if n > 1]
    assert not twice, f"asked for twice: {twice} in {frames}"
    # Thumbnails only after the series.
    thumbnails = [i for i, url in enumerate(asked) if url.split("?")[0].endswith("/thumbnail")]
    last_frame = max(i for i, url in enumerate(asked) if "/frames/" in url)
    assert not thumbnails or min(thumbnails) > last_frame
    # What is on screen is the lossless image, and nothing says "preview".
    assert "accept=image/png" in page.locator("#viewer-image").get_attribute("src")
    expect(page.locator("#overlay-preview")).to_be_hidden()


def test_a_preview_on_screen_is_marked_until_the_lossless_image_replaces_it(
    new_page, live_server, read_only, study, worklist
):
    ct_series(study, slices=2, size=64)
    page = phone(new_page)
    log_in(page, live_server, "readonly", PASSWORD)
    held = []
    page.route("**/rendered?accept=image/png*", lambda route: held.append(route))
    page.goto(viewer_url(live_server, study, worklist), wait_until="domcontentloaded")
    expect(page.locator("#overlay-preview")).to_be_visible()
    expect(page.locator("#overlay-preview")).to_contain_text("Preview")
    assert "accept=image/jpeg" in page.locator("#viewer-image").get_attribute("src")
    for route in held:
        route.continue_()
    page.unroute("**/rendered?accept=image/png*")
    expect(page.locator("#overlay-preview")).to_be_hidden()
    expect(page.locator("#viewer-image")).to_have_attribute("src", re.compile("accept=image/png"))


def server_render(page, live_server, image_src: str, window: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    path = image_src.split("?")[0]  # the page's own URLs are relative: /dicomweb/...
    response = page.request.get(f"{live_server.url}{path}?accept=image/png&window={window}")
    assert response.status == 200
    return np.asarray(Image.open(io.BytesIO(response.body())))


def assert_browser_equals_server(page, live_server) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(IN_THE_BROWSER)
    shown = page.locator("#viewer-stage").get_attribute("data-shown-window")
    center, width = (float(v) for v in shown.split(","))
    columns, rows, grey = page.evaluate(CANVAS)
    browser = np.array(grey, dtype=np.int64).reshape(rows, columns)
    src = page.locator("#viewer-image").get_attribute("src")
    server = server_render(page, live_server, src, f"{center:.6f},{width:.6f}")
    assert server.shape == browser.shape
    assert np.abs(server.astype(np.int64) - browser).max() <= 1, (center, width)


def test_windowing_in_the_browser_gives_the_servers_pixels_for_rescaled_ct(
    new_page, live_server, read_only, study, worklist
):
    stored = phantom(60, 80, -1000, 1500) + 1024
    ds = dataset(stored, bits_stored=12, signed=True, RescaleIntercept=-1024, RescaleSlope=1)
    instance_for(ds, series=SeriesFactory(study=study, modality="CT"))
    page = phone(new_page)
    log_in(page, live_server, "readonly", PASSWORD)
    page.goto(viewer_url(live_server, study, worklist))
    page.get_by_label("Window preset").select_option("lung")  # -600 / 1500
    assert_browser_equals_server(page, live_server)
    assert page.locator("#viewer-stage").get_attribute("data-shown-window") == "-600,1500"
    expect(page.locator("#viewer-image")).to_be_hidden()
    page.get_by_role("button", name="W/L").click()
    page.evaluate(DRAG, 6)  # a window of the user's, each step drawn in the browser
    assert_browser_equals_server(page, live_server)
    assert "Custom" in page.locator("#overlay-window").inner_text()


def test_windowing_in_the_browser_gives_the_servers_pixels_for_monochrome1(
    new_page, live_server, read_only, study, worklist
):
    stored = phantom(50, 70, 0, 4000)
    ds = dataset(
        stored,
        photometric="MONOCHROME1",
        RescaleIntercept=-10,
        RescaleSlope=0.5,
        WindowCenter=1000,
        WindowWidth=2000,
    )
    instance_for(ds, series=SeriesFactory(study=study, modality="DX"))
    page = new_page("desktop", **DEVICES["desktop"])
    log_in(page, live_server, "readonly", PASSWORD)
    page.goto(viewer_url(live_server, study, worklist))
    page.get_by_role("button", name="W/L").click()
    page.evaluate(DRAG, 8)
    assert_browser_equals_server(page, live_server)
    # Back to the file's window: the server's rendering again.
    page.get_by_label("Window preset").select_option("")
    expect(page.locator("#viewer-image")).to_be_visible()
    expect(page.locator("#viewer-canvas")).to_be_hidden()


def test_a_jump_cancels_the_prefetches_no_longer_near_and_asks_for_the_new_slice_first(
    new_page, live_server, read_only, study, worklist
):
    slices = 24
    series = ct_series(study, slices=slices, size=64)
    uids = list(
        series.instances.order_by("instance_number").values_list("sop_instance_uid", flat=True)
    )
    page = phone(new_page)
    log_in(page, live_server, "readonly", PASSWORD)
    # A slow network, so that the prefetches are still in flight when the user jumps.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 600,
            "downloadThroughput": 40_000,
            "uploadThroughput": 40_000,
        },
    )
    events: list[tuple[str, str]] = []  # (what, url) in the order the browser reports them
    page.on("request", lambda r: events.append(("start", r.url)) if "/frames/" in r.url else None)
    page.on(
        "requestfailed",
        lambda r: (
            events.append(("aborted", r.url))
            if "/frames/" in r.url and "ABORTED" in (r.failure or "")
            else None
        ),
    )

    def slice_of(url: str) -> int:
        return next(i for i, uid in enumerate(uids) if f"/instances/{uid}/" in url)

    page.goto(viewer_url(live_server, study, worklist), wait_until="domcontentloaded")
    # Wait until prefetches of the first slices are under way, then jump to the last slice.
    page.wait_for_function("() => document.getElementById('viewer-slider').max === '24'")
    deadline = 200
    while not any(w == "start" and 0 < slice_of(u) < 6 for w, u in events) and deadline:
        page.wait_for_timeout(50)
        deadline -= 1
    assert deadline, events
    jumped_at = len(events)
    page.locator("#viewer-slider").focus()
    page.keyboard.press("End")  # the slider's own key: to the last slice
    expect(page.locator("#viewer-slider")).to_have_value(str(slices))
    expect(page.locator("#viewer-slider")).to_have_attribute(
        "data-lossless", str(slices), timeout=60_000
    )

    before, after = events[:jumped_at], events[jumped_at:]
    near_start = {u for w, u in before if w == "start" and slice_of(u) < 6}
    done_before = {u for w, u in before if w == "aborted"}
    aborted = [u for w, u in after if w == "aborted" and u in near_start]
    # The prefetches near the first slice that were in flight were dropped by the browser ...
    assert aborted, events
    assert all(slice_of(u) < 6 for u in aborted) and not done_before
    # ... and the last slice is the first thing asked for after the jump.
    started = [u for w, u in after if w == "start"]
    assert slice_of(started[0]) == slices - 1, [slice_of(u) for u in started]
    assert "accept=image/jpeg" in started[0]  # its preview first (small), then its lossless
    # The slices near the new one come before the slices near the old one.
    order = [slice_of(u) for u in started]
    first_far = next((k for k, i in enumerate(order) if i < slices // 2), len(order))
    assert all(i >= slices - 6 for i in order[: min(first_far, 6)]), order
    # Every slice still ends up loaded (the dropped ones asked for again when their turn comes).
    expect(page.locator("#viewer-loading")).to_have_text("")
