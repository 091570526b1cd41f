"""The Storage SCP driven by pynetdicom as a PACS would: echo, store, and every refusal."""

from __future__ import annotations

import time

import pytest
from pydicom.uid import UID, CTImageStorage, DeflatedExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from audit.models import AuditEvent
from dicomnet.scp import StorageSCP
from studies.models import Instance, Study, WorklistEntry
from tests.factories import OrganisationFactory, WorklistFactory

from .conftest import MODALITY, associate, ct

pytestmark = pytest.mark.django_db(transaction=True)

CALLING_AE_NOT_RECOGNISED, CALLED_AE_NOT_RECOGNISED = 0x03, 0x07


def rejection(assoc):  # type: ignore[no-untyped-def]
    assert assoc.is_rejected, "the association was not rejected"
    primitive = assoc.acceptor.primitive
    return primitive.result, primitive.diagnostic


def test_echo_from_a_registered_node(scp_port, node, worklist):
    assoc = associate(scp_port, worklist.ae_title)
    assert assoc.is_established
    status = assoc.send_c_echo()
    assoc.release()
    assert status.Status == 0x0000


def test_store_lands_in_the_called_worklist_as_one_study_over_two_associations(
    scp_port, node, worklist
):
    study_uid = generate_uid()
    first, second = ct(study_uid), ct(study_uid)
    for ds in (first, second):
        assoc = associate(scp_port, worklist.ae_title)
        assert assoc.is_established
        status = assoc.send_c_store(ds)
        assert status.Status == 0x0000
        # The instance is in the worklist as soon as it is stored, before the release.
        assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()
        assoc.release()

    study = Study.objects.get(study_instance_uid=study_uid)
    assert study.number_of_instances == 2
    assert study.patient_name == "Received^Over^DICOM"
    entry = WorklistEntry.objects.get(study=study)
    assert entry.worklist == worklist
    assert entry.source == WorklistEntry.Source.DICOM
    events = AuditEvent.objects.filter(
        action=AuditEvent.Action.STUDY_UPLOADED, study_instance_uid=study_uid
    )
    # One per association, written by the SCP's thread when it sees the release.
    deadline = time.monotonic() + 10
    while events.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert events.count() == 2
    assert {e.details["imported"] for e in events} == {1}


def test_the_same_instance_twice_is_stored_once(scp_port, node, worklist):
    ds = ct()
    assoc = associate(scp_port, worklist.ae_title)
    assert assoc.send_c_store(ds).Status == 0x0000
    assert assoc.send_c_store(ds).Status == 0x0000
    assoc.release()
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).count() == 1


def test_unknown_calling_ae_title_is_rejected_at_association(scp_port, node, worklist):
    assoc = associate(scp_port, worklist.ae_title, calling="SOMEONE_ELSE")
    assert rejection(assoc) == (0x01, CALLING_AE_NOT_RECOGNISED)
    assert not Study.objects.exists()


def test_a_registered_ae_title_from_another_address_is_rejected(scp_port, node, worklist):
    assoc = associate(scp_port, worklist.ae_title, bind="127.0.0.2")
    assert rejection(assoc) == (0x01, CALLING_AE_NOT_RECOGNISED)


def test_another_organisations_worklist_is_rejected_like_an_unknown_one(scp_port, node):
    theirs = WorklistFactory(organisation=OrganisationFactory(name="Other Hospital"))
    assoc = associate(scp_port, theirs.ae_title)
    assert rejection(assoc) == (0x01, CALLED_AE_NOT_RECOGNISED)
    assoc = associate(scp_port, "NO_SUCH_AE")
    assert rejection(assoc) == (0x01, CALLED_AE_NOT_RECOGNISED)


def test_a_node_of_an_inactive_organisation_is_rejected(scp_port, node, worklist):
    node.organisation.is_active = False
    node.organisation.save()
    assoc = associate(scp_port, worklist.ae_title)
    assert rejection(assoc) == (0x01, CALLING_AE_NOT_RECOGNISED)


def test_a_malformed_data_set_is_refused_and_nothing_is_stored(scp_port, node, worklist):
    ds = ct()
    del ds.StudyInstanceUID
    liar = ct(Rows=4096, Columns=4096)  # far more pixels than its Pixel Data holds
    assoc = associate(scp_port, worklist.ae_title)
    missing = assoc.send_c_store(ds)
    short = assoc.send_c_store(liar)
    good = assoc.send_c_store(ct())
    assoc.release()
    assert missing.Status == 0xC000
    assert "Study Instance UID" in missing.ErrorComment
    assert short.Status == 0xC000
    assert good.Status == 0x0000
    assert Instance.objects.count() == 1


def test_a_study_of_another_worklist_cannot_be_reached_by_its_uid(scp_port, node, worklist):
    """Isolation: a sender that knows another worklist's Study Instance UID adds nothing to it."""
    elsewhere = WorklistFactory(organisation=worklist.organisation)
    study_uid = generate_uid()
    other_node_assoc = associate(scp_port, elsewhere.ae_title)
    assert other_node_assoc.send_c_store(ct(study_uid)).Status == 0x0000
    other_node_assoc.release()

    assoc = associate(scp_port, worklist.ae_title)
    status = assoc.send_c_store(ct(study_uid))
    assoc.release()
    assert status.Status == 0xC000
    assert Study.objects.get(study_instance_uid=study_uid).number_of_instances == 1
    assert not WorklistEntry.objects.filter(worklist=worklist).exists()
    assert MODALITY  # the same node may send to both worklists of its organisation


def _compressed(syntax: str):  # type: ignore[no-untyped-def]
    from pydicom.uid import JPEGBaseline8Bit

    from testkit.dicom_files import jpeg_baseline, phantom

    if syntax == JPEGBaseline8Bit:
        ds = jpeg_baseline((phantom(low=0, high=255)).astype("uint8"), photometric="MONOCHROME2")
        ds["PixelData"].is_undefined_length = True  # encapsulated, as a sender encodes it
    else:
        ds = ct()
        if syntax != DeflatedExplicitVRLittleEndian:
            ds.compress(syntax)
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    return ds


@pytest.mark.parametrize(
    "syntax",
    [
        "1.2.840.10008.1.2.4.50",  # JPEG baseline
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
        "1.2.840.10008.1.2.5",  # RLE lossless
        "1.2.840.10008.1.2.1.99",  # deflated explicit VR little endian
    ],
)
def test_compressed_transfer_syntaxes_are_accepted_and_kept(scp_port, node, worklist, syntax):
    ds = _compressed(syntax)
    ae = AE(ae_title=MODALITY)
    ae.add_requested_context(CTImageStorage, [syntax])
    assoc = ae.associate("127.0.0.1", scp_port, ae_title=worklist.ae_title)
    assert assoc.is_established
    assert assoc.accepted_contexts[0].transfer_syntax[0] == syntax
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status.Status == 0x0000
    instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert instance.transfer_syntax_uid == syntax
    assert instance.rows == 64


def test_stopping_waits_for_an_association_then_aborts_it(node, worklist):
    """What `dicom_scp` does on SIGTERM: no new associations, a grace, then an abort."""
    scp = StorageSCP()
    server = scp.start(("127.0.0.1", 0))
    port = int(server.server_address[1])
    finished, idle = associate(port, worklist.ae_title), associate(port, worklist.ae_title)
    assert finished.is_established and idle.is_established
    finished.release()
    server.shutdown()
    assert not associate(port, worklist.ae_title).is_established
    started = time.monotonic()
    assert scp.drain(server, grace=0.5) == 1
    assert 0.5 <= time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while not idle.is_aborted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert idle.is_aborted
