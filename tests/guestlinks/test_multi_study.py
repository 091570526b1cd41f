"""Guest links for several studies of one patient: the service's checks, the selection's
view, what the guest session reaches (pages and images), and the study pages' link lists."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audit.models import AuditEvent
from guestlinks import services
from guestlinks.access import guest_study_ids
from guestlinks.models import MAX_LINK_STUDIES, GuestLink
from tests.factories import (
    StudyFactory,
    UserFactory,
    WorklistFactory,
    add_to_worklist,
    ct_series,
    grant,
)
from tests.guestlinks.conftest import open_link, viewer_url
from tests.guestlinks.test_guest_session import frame_url, guest_request

pytestmark = pytest.mark.django_db

FORM = {"gl-expires": "7d", "gl-max_password_attempts": "5"}


def of_patient(study, worklist, *, day, **fields):
    """Another study of `study`'s patient in `worklist`, on `day` of March 2024."""
    other = StudyFactory(
        **{
            "patient_id": study.patient_id,
            "issuer_of_patient_id": study.issuer_of_patient_id,
            "patient_name": study.patient_name,
            "study_date": datetime.date(2024, 3, day),
            "study_description": f"Study of day {day}",
            **fields,
        }
    )
    add_to_worklist(other, worklist)
    return other


@pytest.fixture
def older(study, worklist):
    return of_patient(study, worklist, day=1)


@pytest.fixture
def newer(study, worklist):
    return of_patient(study, worklist, day=20)


@pytest.fixture
def study(worklist):  # the study of the day in the middle: 10 March 2024
    study = StudyFactory(study_date=datetime.date(2024, 3, 10), study_description="CT chest")
    add_to_worklist(study, worklist)
    return study


def create_multi_url(worklist):
    return reverse("guestlinks:create_multi", kwargs={"worklist_id": worklist.public_id})


def selection(*studies):
    return [str(study.public_id) for study in studies]


# --- the service ---------------------------------------------------------------------------


def test_a_link_for_several_studies_opens_on_the_newest(owner, worklist, study, older, newer):
    link = services.guestlink_create(actor=owner, worklist=worklist, studies=[older, study, newer])
    assert link.study == newer
    assert set(link.extra_studies.all()) == {older, study}
    assert link.included_study_ids() == {older.pk, study.pk, newer.pk}
    event = AuditEvent.objects.get(action=AuditEvent.Action.GUESTLINK_CREATED)
    assert sorted(event.details["studies"]) == sorted(
        item.study_instance_uid for item in (older, study, newer)
    )


def test_study_beside_studies_is_the_one_it_opens_on(owner, worklist, study, older, newer):
    link = services.guestlink_create(
        actor=owner, worklist=worklist, study=older, studies=[study, newer, older]
    )
    assert link.study == older and set(link.extra_studies.all()) == {study, newer}


def test_a_single_study_link_has_no_extra_studies(owner, worklist, study):
    link = services.guestlink_create(actor=owner, worklist=worklist, studies=[study])
    assert link.study == study and not link.extra_studies.exists()
    assert (
        "studies" not in AuditEvent.objects.get(action=AuditEvent.Action.GUESTLINK_CREATED).details
    )


@pytest.mark.parametrize(
    ("make_other", "error"),
    [
        (lambda study: StudyFactory(), "same patient"),
        (
            lambda study: StudyFactory(patient_id=study.patient_id, issuer_of_patient_id="OTHER"),
            "same patient",
        ),
        (lambda study: StudyFactory(patient_id=""), "without a patient ID"),
    ],
    ids=["other_patient", "other_issuer", "no_patient_id"],
)
def test_studies_of_different_or_unknown_patients_are_refused(
    owner, worklist, study, make_other, error
):
    other = make_other(study)
    add_to_worklist(other, worklist)
    with pytest.raises(ValidationError, match=error):
        services.guestlink_create(actor=owner, worklist=worklist, studies=[study, other])
    assert not GuestLink.objects.exists()


def test_two_studies_without_a_patient_id_are_refused(owner, worklist):
    first, second = StudyFactory(patient_id=""), StudyFactory(patient_id="")
    for item in (first, second):
        add_to_worklist(item, worklist)
    with pytest.raises(ValidationError, match="without a patient ID"):
        services.guestlink_create(actor=owner, worklist=worklist, studies=[first, second])
    # Alone, it is still a link of its own.
    assert services.guestlink_create(actor=owner, worklist=worklist, studies=[first])


def test_none_and_too_many_are_refused(owner, worklist, study):
    with pytest.raises(ValidationError, match="at least one"):
        services.guestlink_create(actor=owner, worklist=worklist, studies=[])
    many = [of_patient(study, worklist, day=1) for _ in range(MAX_LINK_STUDIES)]
    with pytest.raises(ValidationError, match=f"at most {MAX_LINK_STUDIES}"):
        services.guestlink_create(actor=owner, worklist=worklist, studies=[study, *many])
    assert not GuestLink.objects.exists()
    link = services.guestlink_create(actor=owner, worklist=worklist, studies=many)
    assert len(link.included_study_ids()) == MAX_LINK_STUDIES


def test_a_study_of_another_worklist_or_organisation_is_refused(owner, worklist, study):
    # The same patient, but in a worklist of another organisation the owner cannot create on.
    elsewhere = WorklistFactory()
    theirs = StudyFactory(patient_id=study.patient_id)
    add_to_worklist(theirs, elsewhere)
    with pytest.raises(PermissionDenied):
        services.guestlink_create(actor=owner, worklist=worklist, studies=[study, theirs])
    # Even a worklist of the owner's own organisation where they may create links: one link
    # opens studies of one worklist.
    mine_too = WorklistFactory(organisation=worklist.organisation)
    grant(owner, mine_too)
    add_to_worklist(theirs, mine_too)
    with pytest.raises(PermissionDenied):
        services.guestlink_create(actor=owner, worklist=worklist, studies=[study, theirs])
    assert not GuestLink.objects.exists()


def test_permission_is_checked_first(member, worklist, study, older):
    with pytest.raises(PermissionDenied):
        services.guestlink_create(actor=member, worklist=worklist, studies=[study, older])
    assert not GuestLink.objects.exists()


def test_the_message_may_not_hold_any_included_studys_birth_date(owner, worklist, study):
    other = of_patient(study, worklist, day=2, patient_birth_date=datetime.date(1971, 2, 3))
    with pytest.raises(ValidationError, match="birth date"):
        services.guestlink_create(
            actor=owner,
            worklist=worklist,
            studies=[study, other],
            email="guest@example.net",
            message="Born 03/02/1971",
        )


# --- what the guest reaches ----------------------------------------------------------------


def test_the_guest_reaches_every_included_study_and_nothing_else(
    client, owner, worklist, study, older, newer
):
    not_chosen = of_patient(study, worklist, day=15)  # same patient, same worklist
    stranger = StudyFactory()
    add_to_worklist(stranger, worklist)
    series = {item: ct_series(item, slices=1) for item in (study, newer, not_chosen, stranger)}
    link = services.guestlink_create(actor=owner, worklist=worklist, studies=[study, newer])

    response = open_link(client, link)
    assert response.status_code == 303 and response["Location"] == viewer_url(newer)
    assert guest_study_ids(guest_request(client)) == {study.pk, newer.pk}
    for item in (study, newer):
        assert client.get(frame_url(series[item])).status_code == 200
        assert client.get(viewer_url(item)).status_code == 200
    for item in (not_chosen, stranger):
        assert client.get(frame_url(series[item])).status_code == 404
        assert client.get(viewer_url(item)).status_code == 404
    assert client.get(viewer_url(older)).status_code == 404  # a prior, not asked for


def test_the_viewer_lists_the_links_studies_to_switch_between(
    client, owner, worklist, study, newer
):
    link = services.guestlink_create(actor=owner, worklist=worklist, studies=[study, newer])
    response = client.get(open_link(client, link)["Location"])
    listed = [item["uid"] for item in response.context["viewer_data"]["studies"]]
    assert listed == [newer.study_instance_uid, study.study_instance_uid]
    # Opened on the other study, it lists the first one too.
    response = client.get(viewer_url(study))
    listed = [item["uid"] for item in response.context["viewer_data"]["studies"]]
    assert listed == [study.study_instance_uid, newer.study_instance_uid]


def test_priors_are_those_of_the_study_it_opens_on(client, owner, worklist, study, older, newer):
    link = services.guestlink_create(
        actor=owner, worklist=worklist, study=study, studies=[newer], include_priors=True
    )
    open_link(client, link)
    assert guest_study_ids(guest_request(client)) == {study.pk, newer.pk, older.pk}


def test_deleting_the_link_ends_access_to_all_its_studies(client, owner, worklist, study, newer):
    series = {item: ct_series(item, slices=1) for item in (study, newer)}
    link = services.guestlink_create(actor=owner, worklist=worklist, studies=[study, newer])
    open_link(client, link)
    services.guestlink_delete(actor=owner, link=link)
    for item in (study, newer):
        assert client.get(frame_url(series[item])).status_code == 410
        assert client.get(viewer_url(item)).status_code == 404


# --- the clinician's pages -----------------------------------------------------------------


def test_the_link_is_listed_on_each_included_study_page(
    login, owner, worklist, study, older, newer
):
    services.guestlink_create(actor=owner, worklist=worklist, studies=[study, newer])
    client = login(owner)
    for item, listed in ((study, True), (newer, True), (older, False)):
        page = reverse("studies:detail", args=[item.public_id]) + f"?worklist={worklist.public_id}"
        body = client.get(page).content.decode()
        assert ("2 studies" in body) is listed
        assert (body.count("data-gl-link=") == 1) is listed


def test_the_selection_form_lists_the_studies(login, owner, worklist, study, newer):
    response = login(owner).get(create_multi_url(worklist), {"study": selection(study, newer)})
    body = response.content.decode()
    assert response.status_code == 200 and "The link opens 2 studies" in body
    assert body.index("Study of day 20") < body.index("CT chest")  # newest first
    assert body.count('type="hidden" name="study"') == 2 and "csrfmiddlewaretoken" in body
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


def test_creating_from_the_selection(login, owner, worklist, study, newer):
    client = login(owner)
    data = {**FORM, "study": selection(study, newer), "gl-password": "s3cret-pass"}
    response = client.post(create_multi_url(worklist), data)
    link = GuestLink.objects.get()
    assert response.status_code == 302 and link.study == newer
    assert response["Location"].startswith(reverse("studies:detail", args=[newer.public_id]))
    assert set(link.extra_studies.all()) == {study}
    assert link.has_password
    page = client.get(response["Location"]).content.decode()
    assert "Guest link created for 2 studies" in page and link.get_absolute_url() in page


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        (lambda study, worklist: [], "Select at least one study"),
        (
            lambda study, worklist: [study, of_patient(study, worklist, day=2, patient_id="X")],
            "same patient",
        ),
    ],
    ids=["none", "two_patients"],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_selection_problems_get_a_clear_400(login, owner, worklist, study, chosen, message, method):
    client = login(owner)
    data = {"study": selection(*chosen(study, worklist))}
    response = getattr(client, method)(create_multi_url(worklist), {**FORM, **data})
    assert response.status_code == 400 and message in response.content.decode()
    assert not GuestLink.objects.exists()


def test_too_many_studies_get_a_clear_400(login, owner, worklist, study):
    ids = [str(StudyFactory().public_id) for _ in range(MAX_LINK_STUDIES + 1)]
    response = login(owner).get(create_multi_url(worklist), {"study": ids})
    assert (
        response.status_code == 400 and f"at most {MAX_LINK_STUDIES}" in response.content.decode()
    )


@pytest.mark.parametrize("where", ["other_worklist", "other_organisation", "no_such", "not_uuid"])
def test_a_study_crafted_into_the_selection_is_404(login, owner, worklist, study, where):
    if where in ("other_worklist", "other_organisation"):
        other_worklist = WorklistFactory(
            organisation=worklist.organisation if where == "other_worklist" else None
        )
        grant(owner, other_worklist)  # they may create links there, but not from here
        theirs = StudyFactory(patient_id=study.patient_id)
        add_to_worklist(theirs, other_worklist)
        crafted = str(theirs.public_id)
    else:
        crafted = str(StudyFactory.build().public_id) if where == "no_such" else "not-a-uuid"
    client = login(owner)
    data = {**FORM, "study": [str(study.public_id), crafted]}
    assert client.get(create_multi_url(worklist), data).status_code == 404
    assert client.post(create_multi_url(worklist), data).status_code == 404
    assert not GuestLink.objects.exists()


def test_selection_permissions_and_methods(client, login, worklist, study, read_only, outsider):
    url = create_multi_url(worklist)
    data = {**FORM, "study": selection(study)}
    assert client.get(url, data).status_code == 302  # anonymous: to the login page
    assert login(outsider).get(url, data).status_code == 404
    assert login(outsider).post(url, data).status_code == 404
    assert login(read_only).get(url, data).status_code == 403
    assert login(read_only).post(url, data).status_code == 403
    viewer = UserFactory(organisation=worklist.organisation)
    grant(viewer, worklist, "view_studies", "view_guest_links")
    assert login(viewer).post(url, data).status_code == 403
    creator = UserFactory(organisation=worklist.organisation)
    grant(creator, worklist, "view_studies", "create_guest_links")
    assert login(creator).put(url, data).status_code == 405
    assert login(creator).post(url, data).status_code == 302
    assert not GuestLink.objects.filter(created_by__in=[read_only, outsider, viewer]).exists()
