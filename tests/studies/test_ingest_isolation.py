"""Isolation at ingest: an upload never reaches a study the uploader cannot see in the target
worklist, whichever of its UIDs (Study, Series, SOP Instance) the file reuses, on every ingest
path (the service, the upload page, `import_dicom`), and under concurrent uploads."""

import hashlib
import threading
import time
from io import StringIO

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from pydicom.uid import generate_uid

from audit.models import AuditEvent
from studies import services
from studies.models import Instance, Series, Study, WorklistEntry
from studies.services import NOT_HERE, study_ingest, study_ingest_paths
from tests.factories import UserFactory, WorklistFactory, grant
from tests.studies.ingest_helpers import rewrite, small_study, stored_files, zip_bytes
from worklists.models import Worklist

pytestmark = pytest.mark.django_db

# Which of the victim's UIDs the crafted file carries; every other UID is fresh.
VARIANTS = {
    "same-study-uid": ("StudyInstanceUID",),
    "same-series-uid": ("SeriesInstanceUID",),
    "same-sop-instance-uid": ("SOPInstanceUID",),
    "whole-copy": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"),
}
UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


@pytest.fixture
def victim_files(tmp_path, worklist):
    """St Elsewhere's study in its Radiology worklist: two CT series of three images."""
    files = small_study(tmp_path / "victim", key="victim")
    report = study_ingest_paths(actor=None, worklist=worklist, paths=[tmp_path / "victim"])
    assert report.imported == 6
    return files


def crafted(victim_file, target, variant):
    """A file of the attacker's own patient that reuses some of the victim's UIDs."""
    fresh = {uid: generate_uid() for uid in UIDS if uid not in VARIANTS[variant]}
    return rewrite(victim_file, target, PatientName="Mallory^Eve", PatientID="EVE001", **fresh)


def personal_worklist(user):
    return Worklist.objects.get(owner=user, kind=Worklist.Kind.PERSONAL)


@pytest.fixture(params=["outsider-own-worklist", "view-only-personal"])
def attacker(request, worklist):
    """(user, the worklist they upload into): each holds the upload right there."""
    if request.param == "outsider-own-worklist":
        outsider = request.getfixturevalue("outsider")
        own = WorklistFactory(organisation=outsider.organisation, name="Elsewhere Radiology")
        grant(outsider, own, "view_studies", "upload_studies")
        return outsider, own
    # Sees the victim's study in Radiology but may not share it: an upload must not either.
    read_only = request.getfixturevalue("read_only")
    return read_only, personal_worklist(read_only)


def snapshot(media_root):
    """Every row and stored file that an upload could touch."""
    return {
        "studies": sorted(
            Study.objects.values_list(
                "study_instance_uid",
                "patient_name",
                "number_of_series",
                "number_of_instances",
                "modalities_in_study",
            )
        ),
        "series": sorted(
            Series.objects.values_list(
                "series_instance_uid", "study__study_instance_uid", "number_of_instances"
            )
        ),
        "instances": sorted(
            Instance.objects.values_list("sop_instance_uid", "series__series_instance_uid", "file")
        ),
        "entries": sorted(
            WorklistEntry.objects.values_list("worklist__name", "study__study_instance_uid")
        ),
        "files": [
            (str(path.relative_to(media_root)), hashlib.sha256(path.read_bytes()).hexdigest())
            for path in stored_files(media_root)
        ],
    }


def assert_victim_untouched(before, media_root, worklist):
    assert snapshot(media_root) == before
    study = Study.objects.get()
    assert (study.patient_name, study.number_of_series, study.number_of_instances) == (
        "Rivers^Ada",
        2,
        6,
    )
    assert list(WorklistEntry.objects.values_list("worklist", flat=True)) == [worklist.pk]
    assert len(stored_files(media_root)) == 6


# ---------------------------------------------------------------------------- the service


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_file_reusing_a_uid_of_a_study_not_visible_in_the_target_is_refused(
    tmp_path, settings, worklist, victim_files, attacker, variant
):
    user, target = attacker
    before = snapshot(settings.MEDIA_ROOT)
    forged = crafted(victim_files[0], tmp_path / "forged.dcm", variant)

    report = study_ingest_paths(actor=user, worklist=target, paths=[forged])

    assert report.rejected == [("forged.dcm", NOT_HERE)]
    assert (report.imported, report.already_present, report.studies) == (0, 0, [])
    assert_victim_untouched(before, settings.MEDIA_ROOT, worklist)


def test_the_refusal_is_in_the_audit_trail_with_who_tried_and_which_study(
    tmp_path, worklist, victim_files, outsider
):
    own = personal_worklist(outsider)
    forged = [
        crafted(victim_files[n], tmp_path / f"forged{n}.dcm", "same-study-uid") for n in range(2)
    ]
    study_ingest_paths(actor=outsider, worklist=own, paths=forged)

    event = AuditEvent.objects.get(outcome=AuditEvent.Outcome.DENIED)
    assert (event.action, event.actor, event.study_instance_uid) == (
        AuditEvent.Action.STUDY_UPLOADED,
        outsider,
        Study.objects.get().study_instance_uid,
    )
    assert event.details == {"worklist": str(own.public_id), "source": "import", "refused": 2}


def test_good_files_of_the_same_zip_still_go_in(tmp_path, settings, worklist, victim_files):
    member = UserFactory(username="member", organisation=worklist.organisation)
    grant(member, worklist, "view_studies", "upload_studies")
    other = WorklistFactory(organisation=worklist.organisation, name="Oncology")
    grant(member, other, "view_studies", "upload_studies")
    mine = small_study(tmp_path / "mine", key="mine", series_count=1, slices=2)
    forged = crafted(victim_files[0], tmp_path / "forged.dcm", "whole-copy")
    archive = zip_bytes({p.name: p.read_bytes() for p in [*mine, forged]})

    report = study_ingest(
        actor=member, worklist=other, files=[("upload.zip", SimpleUploadedFile("u", archive))]
    )

    assert report.imported == 2
    assert report.rejected == [("upload.zip/forged.dcm", NOT_HERE)]
    new = Study.objects.exclude(study_instance_uid=pydicom.dcmread(forged).StudyInstanceUID).get()
    victim = Study.objects.get(study_instance_uid=pydicom.dcmread(forged).StudyInstanceUID)
    assert set(WorklistEntry.objects.values_list("worklist__name", "study")) == {
        ("Radiology", victim.pk),
        ("Oncology", new.pk),
    }
    assert len(stored_files(settings.MEDIA_ROOT)) == 8


def test_an_uploader_who_may_not_view_the_worklist_only_creates_studies(
    tmp_path, settings, worklist, victim_files
):
    """Upload without view: a drop box. Its own new study goes in whole, but nothing already
    in the worklist is found or extended, and a second upload of the same files is refused."""
    drop_box = UserFactory(username="modality", organisation=worklist.organisation)
    grant(drop_box, worklist, "upload_studies")
    new = small_study(tmp_path / "new", key="new")

    first = study_ingest_paths(actor=drop_box, worklist=worklist, paths=[tmp_path / "new"])
    assert (first.imported, first.rejected) == (6, [])
    before = snapshot(settings.MEDIA_ROOT)

    again = study_ingest_paths(
        actor=drop_box,
        worklist=worklist,
        paths=[new[0], crafted(victim_files[0], tmp_path / "forged.dcm", "same-study-uid")],
    )

    assert again.imported == again.already_present == 0
    assert again.rejected == [(new[0].name, NOT_HERE), ("forged.dcm", NOT_HERE)]
    assert snapshot(settings.MEDIA_ROOT) == before


# ---------------------------------------------------------------------------- what still works


def test_a_legitimate_re_upload_into_the_same_worklist_is_idempotent(
    tmp_path, settings, worklist, victim_files, member, login
):
    before = snapshot(settings.MEDIA_ROOT)
    response = login(member).post(
        reverse("studies:upload", args=[worklist.public_id]),
        {"dicom_files": [SimpleUploadedFile(p.name, p.read_bytes()) for p in victim_files]},
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert '<span class="badge">6</span> already present' in body and NOT_HERE not in body
    assert snapshot(settings.MEDIA_ROOT) == before
    assert not AuditEvent.objects.filter(outcome=AuditEvent.Outcome.DENIED).exists()


def test_a_member_who_sees_the_study_here_may_add_a_series_to_it(
    tmp_path, worklist, victim_files, member
):
    extra = crafted(victim_files[0], tmp_path / "extra.dcm", "same-study-uid")
    report = study_ingest_paths(actor=member, worklist=worklist, paths=[extra])

    assert (report.imported, report.rejected) == (1, [])
    study = Study.objects.get()
    assert (study.number_of_series, study.number_of_instances) == (3, 7)
    assert WorklistEntry.objects.get().worklist == worklist


def test_an_outsider_creates_a_new_study_in_their_own_worklist(
    tmp_path, settings, worklist, victim_files, outsider
):
    own = personal_worklist(outsider)
    report = study_ingest_paths(
        actor=outsider, worklist=own, paths=small_study(tmp_path / "own", key="own")
    )

    assert (report.imported, report.rejected) == (6, [])
    new = report.studies[0]
    assert set(WorklistEntry.objects.values_list("worklist", "study")) == {
        (worklist.pk, Study.objects.exclude(pk=new.pk).get().pk),
        (own.pk, new.pk),
    }
    assert len(stored_files(settings.MEDIA_ROOT)) == 12


# ---------------------------------------------------------------------------- the upload page


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("who", ["outsider", "colleague"])
def test_the_upload_page_refuses_with_the_neutral_reason(
    tmp_path, settings, worklist, victim_files, login, who, variant
):
    """Into their personal worklist: an outsider, and a colleague of the victim's
    organisation who is no member of the victim's worklist."""
    if who == "outsider":
        user = UserFactory(username=who)  # in an organisation of their own
    else:
        user = UserFactory(username=who, organisation=worklist.organisation)
    target = personal_worklist(user)
    before = snapshot(settings.MEDIA_ROOT)
    forged = crafted(victim_files[0], tmp_path / "forged.dcm", variant)

    response = login(user).post(
        reverse("studies:upload", args=[target.public_id]),
        {"dicom_files": [SimpleUploadedFile("forged.dcm", forged.read_bytes())]},
        headers={"X-Requested-With": "XMLHttpRequest"},
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert '<span class="badge bad">1</span> rejected' in body
    assert NOT_HERE in body
    # Nothing about the other study: no conflict wording, no patient, no link to it.
    assert "conflicting" not in body and "different study" not in body
    assert "RIVERS" not in body and "Rivers" not in body
    assert str(Study.objects.get().public_id) not in body
    assert_victim_untouched(before, settings.MEDIA_ROOT, worklist)


# ---------------------------------------------------------------------------- import_dicom


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_import_dicom_does_not_merge_into_a_study_outside_its_worklist(
    tmp_path, settings, worklist, victim_files, outsider, variant
):
    target = WorklistFactory(organisation=outsider.organisation, name="Elsewhere Radiology")
    before = snapshot(settings.MEDIA_ROOT)
    (tmp_path / "in").mkdir()
    crafted(victim_files[0], tmp_path / "in" / "forged.dcm", variant)
    out = StringIO()

    with pytest.raises(CommandError) as caught:
        call_command(
            "import_dicom", str(tmp_path / "in"), "--worklist", target.share_code, stdout=out
        )

    assert caught.value.returncode == 1
    assert f"in/forged.dcm: {NOT_HERE}" in out.getvalue()
    assert "Imported: 0" in out.getvalue() and "Already present: 0" in out.getvalue()
    assert_victim_untouched(before, settings.MEDIA_ROOT, worklist)


# ---------------------------------------------------------------------------- races


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reuse", ["same-study-uid", "whole-copy"])
def test_racing_uploads_into_two_organisations_never_merge(
    tmp_path, settings, worklist, outsider, monkeypatch, reuse
):
    """Both upload the same new study UID at once (different images, or the very same
    files): the first to create it keeps it, the other is refused, under the study's lock."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent writers and row locks")
    victim = UserFactory(username="victim", organisation=worklist.organisation)
    grant(victim, worklist, "view_studies", "upload_studies")
    theirs = WorklistFactory(organisation=outsider.organisation, name="Elsewhere Radiology")
    grant(outsider, theirs, "view_studies", "upload_studies")
    genuine = small_study(tmp_path / "genuine", key="race", series_count=1, slices=3)
    forged = [crafted(path, tmp_path / f"forged{n}.dcm", reuse) for n, path in enumerate(genuine)]

    original = services._recount

    def slow_recount(study, series):
        # Keep the creating transaction open: a check made before taking the study's lock
        # would let the other upload through during this window.
        original(study, series)
        time.sleep(0.05)

    monkeypatch.setattr(services, "_recount", slow_recount)
    barrier = threading.Barrier(2)
    reports, errors = {}, []

    def run(who, user, target, paths):
        try:
            barrier.wait()
            reports[who] = study_ingest_paths(actor=user, worklist=target, paths=paths)
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=("victim", victim, worklist, genuine)),
        threading.Thread(target=run, args=("outsider", outsider, theirs, forged)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    study = Study.objects.get()
    entry = WorklistEntry.objects.get()  # in one worklist only
    winner, loser = ("victim", "outsider") if entry.worklist == worklist else ("outsider", "victim")
    assert (reports[winner].imported, reports[winner].rejected) == (3, [])
    assert reports[loser].imported == reports[loser].already_present == 0
    assert {reason for _, reason in reports[loser].rejected} == {NOT_HERE}
    assert len(reports[loser].rejected) == 3
    # The winner's own files make the study (the forged ones carry a new series UID each).
    files = {"victim": genuine, "outsider": forged}[winner]
    series = {pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID for path in files}
    assert (study.number_of_series, study.number_of_instances) == (len(series), 3)
    assert len(stored_files(settings.MEDIA_ROOT)) == Instance.objects.count() == 3
