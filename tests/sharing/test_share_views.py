import pytest
from django.core import mail
from django.urls import reverse

from sharing.models import Share
from studies.models import WorklistEntry
from tests.factories import (
    StudyFactory,
    UserFactory,
    WorklistFactory,
    add_to_worklist,
    grant,
    partnership,
)

pytestmark = pytest.mark.django_db


def share_url(worklist, *studies):
    query = "&".join(f"study={study.public_id}" for study in studies)
    return f"{reverse('sharing:share', args=[worklist.public_id])}?{query}"


def post_data(*studies, **fields):
    return {"study": [str(study.public_id) for study in studies], "share": "1", **fields}


# --- the dialog: access -----------------------------------------------------------------------


def test_outsider_gets_404(login, outsider, worklist, study):
    assert login(outsider).get(share_url(worklist, study)).status_code == 404


def test_read_only_member_gets_403(login, read_only, worklist, study):
    client = login(read_only)
    assert client.get(share_url(worklist, study)).status_code == 403
    assert client.post(share_url(worklist), post_data(study)).status_code == 403


def test_share_study_without_any_channel_gets_403(login, worklist, study, organisation):
    user = UserFactory(organisation=organisation)
    grant(user, worklist, "view_studies", "share_study")
    assert login(user).get(share_url(worklist, study)).status_code == 403


def test_wrong_method_is_405(login, owner, worklist, study):
    assert login(owner).put(share_url(worklist, study)).status_code == 405


def test_anonymous_is_sent_to_login(client, worklist, study):
    response = client.get(share_url(worklist, study))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_a_study_not_in_the_worklist_is_404(login, owner, worklist, study):
    elsewhere = StudyFactory()
    client = login(owner)
    assert client.get(share_url(worklist, elsewhere)).status_code == 404
    assert client.get(share_url(worklist, study, elsewhere)).status_code == 404
    assert client.get(share_url(worklist)).status_code == 404
    assert client.get(f"{share_url(worklist)}study=not-a-uuid").status_code == 404


# --- the dialog: content ----------------------------------------------------------------------


def test_dialog_lists_only_the_channels_the_user_may_use(
    login, member, worklist, study, colleague, cardiology
):
    # member: view, upload, share_study and share_with_users only.
    body = login(member).get(share_url(worklist, study)).content.decode()
    assert "Physicians" in body and "Ada Lovelace" in body
    for absent in ("Organisations", "Locations", "Groups", "Share code", "Email addresses"):
        assert absent not in body


def test_dialog_for_owner_lists_every_channel_and_choices(
    login, owner, worklist, study, colleague, cardiology, chest_group, partner, organisation
):
    from tests.factories import partnership

    partnership(organisation, partner)
    body = login(owner).get(share_url(worklist, study)).content.decode()
    for text in (
        "Organisations",
        "Partner Hospital",
        "Locations",
        "Cardiology",
        "Groups",
        "Chest MDT",
        "Physicians",
        "Ada Lovelace",
        "Share code",
        "Email addresses",
        "Message",
    ):
        assert text in body, text
    assert "<html" in body  # the no-JavaScript page


def test_fragment_for_the_dialog_has_no_page_around_it(login, owner, worklist, study):
    response = login(owner).get(share_url(worklist, study), HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body and 'id="share-dialog-title"' in body
    assert "data-share-close" in body


def test_posting_shares_and_reports_each_target(
    login, owner, worklist, study, cardiology, colleague
):
    add_to_worklist(study, cardiology)
    response = login(owner).post(
        share_url(worklist),
        post_data(
            study,
            locations=[str(cardiology.public_id)],
            physicians=[str(colleague.public_id)],
            share_codes="zzzz-zzzz, 2345-6789",
            message="Have a look",
        ),
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Already there" in body and "Cardiology" in body
    assert "Shared" in body and "Ada Lovelace" in body
    assert "Refused" in body and "No worklist has the share code 2345-6789." in body
    assert WorklistEntry.objects.filter(worklist__owner=colleague, study=study).exists()
    assert Share.objects.get().message == "Have a look"


def test_several_studies_from_the_worklist_page(login, owner, worklist, study, colleague):
    second = StudyFactory()
    add_to_worklist(second, worklist)
    response = login(owner).post(
        share_url(worklist), post_data(study, second, physicians=[str(colleague.public_id)])
    )
    assert response.status_code == 200
    assert WorklistEntry.objects.filter(worklist__owner=colleague).count() == 2


def test_invalid_input_is_a_400_with_clear_messages_and_writes_nothing(
    login, owner, worklist, study
):
    client = login(owner)
    response = client.post(share_url(worklist), post_data(study))
    assert (
        response.status_code == 400
        and "Choose at least one recipient." in response.content.decode()
    )
    response = client.post(
        share_url(worklist), post_data(study, emails="a@b.example, nope", share_codes="abc")
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert "Not an email address: nope." in body and "Not a share code: abc." in body
    response = client.post(
        share_url(worklist), post_data(study, locations=["4f9c0d9e-1111-4111-8111-111111111111"])
    )
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not Share.objects.exists() and not mail.outbox


def test_check_codes_shows_where_each_code_goes_without_sharing(login, owner, worklist, study):
    target = WorklistFactory(name="Remote reading room")
    response = login(owner).post(
        share_url(worklist),
        {
            "study": [str(study.public_id)],
            "check_codes": "1",
            "share_codes": f"{target.share_code.lower()}, 2345-6789",
        },
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert f"is Remote reading room (location worklist) at {target.organisation}." in body
    assert "No worklist has the share code 2345-6789." in body
    assert not Share.objects.exists()


# --- share code lookup --------------------------------------------------------------------------


def lookup_url(worklist, code):
    return f"{reverse('sharing:share_code_lookup', args=[worklist.public_id])}?code={code}"


def test_share_code_lookup_names_worklist_and_organisation(login, owner, worklist, organisation):
    target = WorklistFactory(name="Remote reading room")
    partnership(organisation, target.organisation)
    code = target.share_code
    client = login(owner)
    for typed in (code, code.lower(), f"{code[:4]}-{code[4:]}".lower()):
        data = client.get(lookup_url(worklist, typed)).json()
        assert data["found"] is True and data["ok"] is True
        assert data["code"] == f"{code[:4]}-{code[4:]}"
        where = f"Remote reading room (location worklist) at {target.organisation}."
        assert data["text"] == f"{code[:4]}-{code[4:]} is {where}"
    data = client.get(lookup_url(worklist, "2345-6789")).json()
    assert data == {
        "code": "2345-6789",
        "found": False,
        "ok": False,
        "text": "No worklist has the share code 2345-6789.",
    }
    assert client.get(lookup_url(worklist, "??")).json()["found"] is False


def test_share_code_lookup_access(login, outsider, member, worklist):
    assert login(outsider).get(lookup_url(worklist, "2345-6789")).status_code == 404
    assert (
        login(member).get(lookup_url(worklist, "2345-6789")).status_code == 403
    )  # no share_via_code


def test_share_code_lookup_is_get_only(login, owner, worklist):
    assert login(owner).post(lookup_url(worklist, "x")).status_code == 405


# --- study and worklist pages ------------------------------------------------------------------


def study_url(study, worklist):
    return f"{reverse('studies:detail', args=[study.public_id])}?worklist={worklist.public_id}"


def test_study_page_has_the_share_button_only_with_share_study(
    login, owner, read_only, worklist, study
):
    assert (
        share_url(worklist, study) in login(owner).get(study_url(study, worklist)).content.decode()
    )
    assert (
        "data-share-open" not in login(read_only).get(study_url(study, worklist)).content.decode()
    )


def test_study_page_shows_the_share_history(login, owner, read_only, worklist, study, colleague):
    from sharing.services import ShareTarget, study_share

    study_share(
        actor=owner,
        study=study,
        source_worklist=worklist,
        targets=[ShareTarget("physician", str(colleague.public_id))],
        message="For Thursday's MDT",
    )
    body = login(read_only).get(study_url(study, worklist)).content.decode()
    assert "Share history" in body and "Ada Lovelace" in body and "For Thursday" in body
    assert "shared it from Radiology" in body


def test_share_history_is_hidden_from_those_who_cannot_see_either_end(
    login, owner, worklist, study, colleague, organisation
):
    from sharing.services import ShareTarget, study_share

    study_share(
        actor=owner,
        study=study,
        source_worklist=worklist,
        targets=[ShareTarget("physician", str(colleague.public_id))],
    )
    other = WorklistFactory(organisation=organisation, name="Elsewhere ward")
    add_to_worklist(study, other)
    bystander = UserFactory(organisation=organisation)
    grant(bystander, other, "view_studies")
    body = login(bystander).get(study_url(study, other)).content.decode()
    assert "Not shared yet." in body and "Ada Lovelace" not in body


def test_study_page_query_count_does_not_grow_with_shares(
    login, owner, worklist, study, organisation, django_assert_max_num_queries
):
    from sharing.services import ShareTarget, study_share

    def shares(locations, emails, first=0):  # type: ignore[no-untyped-def]
        return [
            ShareTarget("location", str(WorklistFactory(organisation=organisation).public_id))
            for _ in range(locations)
        ] + [ShareTarget("email", f"guest{first + n}@clinic.example") for n in range(emails)]

    client = login(owner)
    # One share of each kind first: its history and delivery state cost their queries once.
    study_share(actor=owner, study=study, source_worklist=worklist, targets=shares(1, 1, 100))
    client.get(study_url(study, worklist))
    with django_assert_max_num_queries(40) as few:
        client.get(study_url(study, worklist))
    targets = shares(8, 4)
    study_share(actor=owner, study=study, source_worklist=worklist, targets=targets)
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = client.get(study_url(study, worklist)).content.decode()
    assert body.count("guest") >= 4


def test_worklist_page_has_checkboxes_and_actions_only_with_share_study(
    login, owner, read_only, worklist, study
):
    url = reverse("worklists:detail", args=[worklist.public_id])
    body = login(owner).get(url).content.decode()
    assert (
        'form="worklist-selection"' in body
        and f'value="{study.public_id}"' in body
        and "Actions" in body
    )
    assert reverse("sharing:share", args=[worklist.public_id]) in body
    body = login(read_only).get(url).content.decode()
    assert "worklist-selection" not in body and "Actions" not in body


def test_admin_lists_shares_and_invitations(client, owner, worklist, study, colleague):
    from sharing.services import ShareTarget, study_share

    study_share(
        actor=owner,
        study=study,
        source_worklist=worklist,
        targets=[
            ShareTarget("physician", str(colleague.public_id)),
            ShareTarget("email", "n@x.example"),
        ],
    )
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    body = client.get(reverse("admin:sharing_share_changelist")).content.decode()
    assert "n@x.example" in body and "Physician" in body
    body = client.get(reverse("admin:sharing_invitation_changelist"), {"q": "n@x"}).content.decode()
    assert "n@x.example" in body and "Pending" in body
