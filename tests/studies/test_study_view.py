import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from tests.factories import StudyFactory, UserFactory, WorklistFactory, add_to_worklist, grant

pytestmark = pytest.mark.django_db


def url(study, worklist=None):
    base = reverse("studies:detail", args=[study.public_id])
    return f"{base}?worklist={worklist.public_id}" if worklist else base


def test_member_sees_metadata_and_the_worklists(login, read_only, worklist, study):
    response = login(read_only).get(url(study, worklist))
    assert response.status_code == 200
    body = response.content.decode()
    assert study.accession_number in body
    assert study.study_instance_uid in body
    assert "Radiology" in body


def test_opening_a_study_is_audited(login, read_only, study):
    login(read_only).get(url(study))
    event = AuditEvent.objects.get(action=AuditEvent.Action.STUDY_OPENED)
    assert event.actor == read_only
    assert event.study_instance_uid == study.study_instance_uid
    assert event.ip_address == "127.0.0.1"


def test_outsider_gets_404(login, outsider, study):
    assert login(outsider).get(url(study)).status_code == 404


def test_unknown_study_gets_404(login, read_only, study):
    other = StudyFactory()  # exists, but in no worklist of the user
    assert login(read_only).get(url(other)).status_code == 404


def test_member_without_view_permission_gets_403(login, worklist, study):
    uploader = UserFactory(organisation=worklist.organisation)
    grant(uploader, worklist, "upload_studies")
    assert login(uploader).get(url(study)).status_code == 403


def test_post_is_not_allowed(login, read_only, study):
    assert login(read_only).post(url(study)).status_code == 405


def test_priors_are_listed_from_the_same_worklist_only(login, read_only, worklist, organisation):
    import datetime

    current = StudyFactory(patient_id="P1", study_date=datetime.date(2024, 5, 1))
    prior = StudyFactory(
        patient_id="P1", study_date=datetime.date(2022, 1, 1), study_description="Old CT"
    )
    elsewhere = StudyFactory(
        patient_id="P1", study_date=datetime.date(2021, 1, 1), study_description="Hidden CT"
    )
    later = StudyFactory(
        patient_id="P1", study_date=datetime.date(2025, 1, 1), study_description="Later CT"
    )
    for study in (current, prior, later):
        add_to_worklist(study, worklist)
    add_to_worklist(elsewhere, WorklistFactory(organisation=organisation))
    body = login(read_only).get(url(current, worklist)).content.decode()
    assert "Old CT" in body
    assert "Hidden CT" not in body
    assert "Later CT" not in body


@pytest.mark.parametrize(
    "patient_name, referring, shown_patient, shown_referring",
    [
        ("Okafor^Daniel", "Hart^Imogen^^Dr", "OKAFOR, Daniel", "Dr Imogen Hart"),
        ("Doe^Jane^Q", "Smith", "DOE, Jane Q", "Smith"),
        ("^Solo", "", "Solo", "—"),
        ("Yamada^Tarou=山田^太郎", "", "YAMADA, Tarou", "—"),
    ],
)
def test_person_names_are_shown_as_people_write_them(
    login, read_only, worklist, patient_name, referring, shown_patient, shown_referring
):
    study = StudyFactory(patient_name=patient_name, referring_physician_name=referring)
    add_to_worklist(study, worklist)
    body = login(read_only).get(url(study)).content.decode()
    assert f"<h1>{shown_patient}</h1>" in body
    assert f"<dt>Referring physician</dt><dd>{shown_referring}</dd>" in body


def test_grants_made_in_admin_count_like_roles(login, worklist, study, organisation):
    """Seeing the study page follows the one access rule: a direct grant of view opens it; a
    direct grant of something else on a worklist holding it is a 403, as for a role."""
    viewer = UserFactory(username="granted-view", organisation=organisation)
    assign_perm("worklists.view_studies", viewer, worklist)
    assert login(viewer).get(url(study)).status_code == 200
    uploader = UserFactory(username="granted-upload", organisation=organisation)
    assign_perm("worklists.upload_studies", uploader, worklist)
    assert login(uploader).get(url(study)).status_code == 403
