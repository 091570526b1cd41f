import pytest

from audit.models import AuditEvent
from tests.factories import WorklistFactory
from worklists import services, sharecodes

pytestmark = pytest.mark.django_db


def test_codes_use_only_unambiguous_characters():
    for _ in range(200):
        code = sharecodes.generate()
        assert sharecodes.is_well_formed(code)
        assert not set(code) & set("01OIL")


@pytest.mark.parametrize("typed", ["7kq2-m9xd", "7KQ2M9XD", " 7kq2 m9xd ", "7KQ2-M9XD"])
def test_codes_are_accepted_in_any_case_with_or_without_the_dash(typed):
    assert sharecodes.normalise(typed) == "7KQ2M9XD"


def test_display_form_has_a_dash():
    assert sharecodes.display("7KQ2M9XD") == "7KQ2-M9XD"


def test_every_worklist_gets_a_unique_code():
    codes = {WorklistFactory().share_code for _ in range(30)}
    assert len(codes) == 30


def test_regenerating_changes_the_code_and_is_audited():
    worklist = WorklistFactory()
    old = worklist.share_code
    new = services.worklist_regenerate_share_code(actor=None, worklist=worklist)
    worklist.refresh_from_db()
    assert worklist.share_code == new != old
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SHARE_CODE_REGENERATED).exists()
