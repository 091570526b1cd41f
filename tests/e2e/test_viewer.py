import datetime
import os

import pytest
from django.urls import reverse

from tests.e2e.conftest import log_in
from tests.factories import PASSWORD, StudyFactory, add_to_worklist, ct_series

pytestmark = pytest.mark.django_db(transaction=True)

PIXELS = """() => {
  const img = document.getElementById('viewer-image');
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
  return Array.from(rgba.filter((_, i) => i % 4 === 0));
}"""
LOADED = """() => {
  const i = document.getElementById('viewer-image'); return i.complete && i.naturalWidth > 0;
}"""


def open_viewer(page, live_server, study, worklist):  # type: ignore[no-untyped-def]
    log_in(page, live_server, "readonly", PASSWORD)
    url = reverse("studies:viewer", args=[study.public_id])
    page.goto(f"{live_server.url}{url}?worklist={worklist.public_id}")
    page.wait_for_function(LOADED)


def test_scroll_to_the_last_slice_and_change_the_window(
    page, live_server, read_only, study, worklist
):
    series = ct_series(study, slices=5)
    last = series.instances.order_by("-instance_number").first()
    open_viewer(page, live_server, study, worklist)
    image = page.locator("#viewer-image")
    first_src = image.get_attribute("src")

    page.locator("#viewer-stage").focus()
    page.keyboard.press("End")
    page.wait_for_function(LOADED)
    assert last.sop_instance_uid in image.get_attribute("src")
    assert page.locator("#viewer-slider").input_value() == "5"
    assert "Slice 5/5" in page.locator("#overlay-series").inner_text()
    assert image.get_attribute("src") != first_src
    before = page.evaluate(PIXELS)

    page.get_by_label("Window preset").select_option("lung")
    page.wait_for_function(
        "() => document.getElementById('viewer-image').src.includes('window=-600,1500')"
    )
    page.wait_for_function(LOADED)
    after = page.evaluate(PIXELS)
    assert len(after) == len(before) and after != before
    assert "L -600" in page.locator("#overlay-window").inner_text()

    page.keyboard.press("ArrowUp")
    page.wait_for_function(LOADED)
    assert page.locator("#viewer-slider").input_value() == "4"
    assert "window=-600,1500" in image.get_attribute("src")  # the window stays while scrolling


def test_a_frame_that_cannot_be_decoded_shows_a_placeholder(
    page, live_server, read_only, study, worklist
):
    series = ct_series(study, slices=2)
    broken = series.instances.order_by("instance_number").first()
    with broken.file.storage.open(broken.file.name, "wb") as handle:
        handle.write(b"garbage, not DICOM")
    log_in(page, live_server, "readonly", PASSWORD)
    page.goto(f"{live_server.url}{reverse('studies:viewer', args=[study.public_id])}")
    placeholder = page.locator("#viewer-placeholder")
    placeholder.wait_for(state="visible")
    page.wait_for_function(
        "() => document.getElementById('viewer-placeholder')"
        ".textContent.includes('not readable DICOM')"
    )


@pytest.mark.parametrize("width", [1280, 375])
def test_priors_open_in_the_viewer_on_desktop_and_phone(
    new_page, live_server, read_only, study, worklist, width
):
    ct_series(study, slices=4, size=256)
    ct_series(study, slices=3, size=256, number=2, series_description="Coronal")
    prior = StudyFactory(patient_id=study.patient_id, study_date=datetime.date(2021, 6, 1))
    add_to_worklist(prior, worklist)
    ct_series(prior, slices=2, size=128)
    page = new_page(viewport={"width": width, "height": 800 if width > 400 else 740})
    open_viewer(page, live_server, study, worklist)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width  # nothing overflows sideways on a phone
    shots = os.environ.get("VIEWER_SCREENSHOTS")
    if shots:
        page.screenshot(path=os.path.join(shots, f"viewer-{width}.png"))
    if width < 900:  # on a phone, series and priors are in a drawer over the image
        page.get_by_role("button", name="Series & priors").click()
    page.get_by_role("button", name="Prior: 01/06/2021").click()
    page.wait_for_function(
        f"() => document.getElementById('viewer-image').src.includes('{prior.study_instance_uid}')"
    )
    page.wait_for_function(LOADED)
    assert "Slice 1/2" in page.locator("#overlay-series").inner_text()
