import pytest
from django.urls import reverse

from tests.factories import StudyFactory, WorklistFactory, add_to_worklist

pytestmark = pytest.mark.django_db


def url(worklist, **params):
    from urllib.parse import urlencode

    base = reverse("worklists:detail", args=[worklist.public_id])
    return f"{base}?{urlencode(params)}" if params else base


def test_member_sees_the_studies_table(login, read_only, worklist, study):
    response = login(read_only).get(url(worklist))
    assert response.status_code == 200
    assert study.patient_id in response.content.decode()


def test_outsider_gets_404(login, outsider, worklist, study):
    assert login(outsider).get(url(worklist)).status_code == 404


def test_member_without_view_permission_gets_403(login, worklist, study):
    from tests.factories import UserFactory, grant

    uploader = UserFactory(organisation=worklist.organisation)
    grant(uploader, worklist, "upload_studies")
    assert login(uploader).get(url(worklist)).status_code == 403


def test_post_is_not_allowed(login, read_only, worklist):
    assert login(read_only).post(url(worklist)).status_code == 405


def test_anonymous_is_sent_to_login(client, worklist):
    response = client.get(url(worklist))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_search_by_name_id_and_accession(login, read_only, worklist):
    wanted = StudyFactory(patient_name="Smith^Anna", patient_id="P-777", accession_number="A-9")
    other = StudyFactory(patient_name="Jones^Bob", patient_id="P-888", accession_number="B-1")
    for study in (wanted, other):
        add_to_worklist(study, worklist)
    client = login(read_only)
    for term in ("smith", "P-777", "A-9"):
        body = client.get(url(worklist, q=term)).content.decode()
        assert "P-777" in body and "P-888" not in body, term


def test_modality_and_date_filters(login, read_only, worklist):
    import datetime

    ct = StudyFactory(
        modalities_in_study="CT", study_date=datetime.date(2024, 1, 10), patient_id="CT-1"
    )
    mr = StudyFactory(
        modalities_in_study="MR SR", study_date=datetime.date(2023, 6, 1), patient_id="MR-1"
    )
    for study in (ct, mr):
        add_to_worklist(study, worklist)
    client = login(read_only)
    body = client.get(url(worklist, modality="MR")).content.decode()
    assert "MR-1" in body and "CT-1" not in body
    body = client.get(url(worklist, date_from="2024-01-01")).content.decode()
    assert "CT-1" in body and "MR-1" not in body


def test_bad_filter_input_is_a_clear_message_not_an_error(login, read_only, worklist, study):
    response = login(read_only).get(url(worklist, date_from="2024-02-30", date_to="yesterday"))
    assert response.status_code == 200
    assert "Enter a valid date." in response.content.decode()


def test_query_count_does_not_grow_with_rows(
    login, read_only, worklist, django_assert_max_num_queries
):
    client = login(read_only)
    add_to_worklist(StudyFactory(), worklist)
    with django_assert_max_num_queries(12) as few:
        client.get(url(worklist))
    for _ in range(30):
        add_to_worklist(StudyFactory(), worklist)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url(worklist))


def test_only_worklists_with_view_permission_are_listed(login, read_only, worklist, organisation):
    hidden = WorklistFactory(organisation=organisation, name="Secret ward")
    body = login(read_only).get(url(worklist)).content.decode()
    assert "Radiology" in body and "Secret ward" not in body and hidden


def test_one_bad_filter_keeps_the_others(login, read_only, worklist):
    wanted = StudyFactory(patient_name="Smith^Anna", patient_id="P-777")
    other = StudyFactory(patient_name="Jones^Bob", patient_id="P-888")
    for study in (wanted, other):
        add_to_worklist(study, worklist)
    response = login(read_only).get(url(worklist, q="smith", date_from="not-a-date"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid date." in body
    assert "P-777" in body and "P-888" not in body
