"""Issue 2's journey: log in, search the worklist, open a study, see its thumbnails."""

import pytest

from tests.e2e.conftest import log_in
from tests.factories import PASSWORD, StudyFactory, add_to_worklist, ct_series

pytestmark = pytest.mark.django_db(transaction=True)

THUMBNAILS_LOADED = """() => {
  const images = [...document.querySelectorAll('.series-card img')];
  return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
}"""


def test_log_in_search_open_a_study_and_see_thumbnails(page, live_server, read_only, worklist):
    wanted = StudyFactory(
        patient_name="Nakamura^Aiko", patient_id="NAK-1", study_description="CT chest"
    )
    add_to_worklist(wanted, worklist)
    ct_series(wanted, slices=3, number=1, series_description="Axial")
    ct_series(wanted, slices=2, number=2, series_description="Coronal")
    for _ in range(3):
        add_to_worklist(StudyFactory(patient_name="Other^Person"), worklist)

    log_in(page, live_server, "readonly", PASSWORD)
    assert page.get_by_role("heading", name="Radiology").is_visible()
    assert page.get_by_text("4 studies").is_visible()

    page.get_by_role("searchbox", name="Search").fill("nakamura")
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_text("1 study").is_visible()
    page.get_by_role("link", name="NAKAMURA, Aiko").click()
    page.wait_for_load_state()

    assert page.get_by_role("heading", name="NAKAMURA, Aiko").is_visible()
    assert page.get_by_text("NAK-1").first.is_visible()
    page.locator(".series-card img").first.scroll_into_view_if_needed()
    page.wait_for_function(THUMBNAILS_LOADED)
    thumbnails = page.locator(".series-card img")
    assert thumbnails.count() == 2
    # Rendered from the pixel data: a real image with light and dark pixels.
    spread = page.evaluate(
        """() => {
          const img = document.querySelector('.series-card img');
          const c = document.createElement('canvas');
          c.width = img.naturalWidth; c.height = img.naturalHeight;
          const g = c.getContext('2d'); g.drawImage(img, 0, 0);
          const d = g.getImageData(0, 0, c.width, c.height).data;
          let lo = 255, hi = 0;
          for (let i = 0; i < d.length; i += 4) {
            lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]);
          }
          return hi - lo;
        }"""
    )
    assert spread > 100
