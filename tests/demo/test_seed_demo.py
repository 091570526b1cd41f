"""python manage.py seed_demo: the demo logins, worklists, roles and studies; idempotent."""

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import Organisation, Partnership
from audit.models import AuditEvent
from demo.management.commands.seed_demo import LOGINS
from studies.models import Instance, Series, Study, WorklistEntry
from studies.selectors import study_priors
from tests.studies.ingest_helpers import stored_files
from worklists.models import PRODUCT_PERMISSION_CODENAMES, Membership, Role, Worklist
from worklists.selectors import worklist_permissions, worklists_for_user

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", slices=2, size=32, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models: list[Any] = [Organisation, Partnership, Worklist, Role, Membership, get_user_model()]
    models += [Study, Series, Instance, WorklistEntry, AuditEvent]
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def seeded(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
    return seed()


def test_second_run_changes_nothing_and_both_print_the_logins(seeded, settings):
    before = counts()
    files = stored_files(settings.MEDIA_ROOT)
    out = seed()
    assert counts() == before
    assert stored_files(settings.MEDIA_ROOT) == files
    assert "nothing to add" in out
    for username in ("demo", "viewer", "partner", "drsmith", "admin"):
        assert f"  {username}" in seeded and f"  {username}" in out
    assert "password: demo" in out


def test_organisations_partnership_worklists_and_users(seeded):
    names = list(Organisation.objects.values_list("name", flat=True))
    assert names == ["Cimar Demo Hospital", "Northfield Clinic"]
    demo, partner = Organisation.objects.all()
    assert demo.partners.get() == partner and partner.partners.get() == demo
    kinds = set(Worklist.objects.filter(organisation=demo).values_list("kind", flat=True))
    assert {"organisation", "location", "group", "personal"} <= kinds
    assert Worklist.objects.filter(organisation=partner, kind="organisation").exists()

    users = get_user_model().objects.all()
    assert {u.username for u in users} >= {"demo", "viewer", "partner", "drsmith", "admin"}
    for user in users:
        assert user.check_password("demo"), user.username
        assert user.organisation is not None and user.email.endswith("@example.org")
        assert user.first_name and user.last_name
    admin = users.get(username="admin")
    assert admin.is_superuser and admin.is_staff


def test_roles_demo_everything_viewer_view_only_partner_its_own(seeded):
    user = get_user_model().objects.get(username="demo")
    shared = Worklist.objects.filter(organisation__name="Cimar Demo Hospital").exclude(
        kind="personal"
    )
    assert shared.count() == 4
    for worklist in shared:
        assert worklist_permissions(user, worklist) == set(PRODUCT_PERMISSION_CODENAMES)
    viewer = get_user_model().objects.get(username="viewer")
    for worklist in Worklist.objects.filter(organisation__name="Cimar Demo Hospital").exclude(
        kind="personal"
    ):
        assert worklist_permissions(viewer, worklist) == {"view_studies"}
    partner = get_user_model().objects.get(username="partner")
    visible = worklists_for_user(partner, "share_study").exclude(kind="personal")
    assert {w.organisation.name for w in visible} == {"Northfield Clinic"}


def test_studies_with_priors_birth_dates_and_both_modalities(seeded):
    studies = Study.objects.all()
    assert studies.count() == 13
    assert set(studies.values_list("modalities_in_study", flat=True)) == {"CT", "MR"}
    assert all(study.patient_birth_date for study in studies)
    for study in studies:
        assert 2 <= study.number_of_series <= 4
        assert study.number_of_instances == study.number_of_series * 2
    patients = set(studies.values_list("patient_id", flat=True))
    assert len(patients) == 5
    for patient_id in patients:
        current = studies.filter(patient_id=patient_id).order_by("-study_date").first()
        worklist = current.entries.get().worklist
        assert 1 <= study_priors(study=current, worklists=[worklist]).count() <= 3
    demo = get_user_model().objects.get(username="demo")
    assert (
        WorklistEntry.objects.filter(worklist__in=worklists_for_user(demo, "view_studies")).count()
        == 11
    )


def test_the_run_banner_and_the_readme_name_every_demo_login(seeded, settings):
    """`make run` prints demo_banner: every user the seed made, with what they can do."""
    settings.SITE_URL = "http://127.0.0.1:33575"
    out = StringIO()
    call_command("demo_banner", url="http://127.0.0.1:33575/", stdout=out)
    banner = out.getvalue()
    assert "Cimar Share on http://127.0.0.1:33575/" in banner
    assert "Links in emails and SMS start with http://127.0.0.1:33575/" in banner
    usernames = set(get_user_model().objects.values_list("username", flat=True))
    assert usernames == {username for username, _ in LOGINS}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for username, what in LOGINS:
        assert what and f"    {username}" in banner and what in banner, username
        assert f"| `{username}` |" in readme, username
