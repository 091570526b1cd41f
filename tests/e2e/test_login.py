import pytest

from tests.e2e.conftest import log_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_log_in_and_see_the_worklist(page, live_server, read_only, study):
    log_in(page, live_server, "readonly", PASSWORD)
    assert page.get_by_role("heading", name="Radiology").is_visible()
    assert page.get_by_role("link", name=study.patient_display_name).is_visible()


def test_wrong_password_says_so(page, live_server, read_only):
    log_in(page, live_server, "readonly", "wrong")
    assert page.get_by_role("alert").inner_text().startswith("Your username and password")
