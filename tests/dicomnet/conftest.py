"""A live Storage SCP on a free loopback port, and a pynetdicom client to call it."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, StoragePresentationContexts
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from dicomnet.scp import TRANSFER_SYNTAXES, StorageSCP
from dicomnet.services import remote_node_create
from testkit.dicom_files import dataset, phantom
from tests.dicomweb.apidata import stored  # noqa: F401 (a study stored through the ingest)

MODALITY = "CT_SCANNER_1"


@pytest.fixture
def scp(transactional_db):  # type: ignore[no-untyped-def]
    server = StorageSCP().start(("127.0.0.1", 0))
    yield server
    server.shutdown()


@pytest.fixture
def scp_port(scp) -> int:  # type: ignore[no-untyped-def]
    return int(scp.server_address[1])


@pytest.fixture
def node(worklist):  # type: ignore[no-untyped-def]
    """A modality of the worklist's organisation, calling from 127.0.0.1."""
    return remote_node_create(
        organisation=worklist.organisation,
        name="CT scanner",
        ae_title=MODALITY,
        host="127.0.0.1",
        port=104,
    )


def client(ae_title: str = MODALITY) -> AE:
    ae = AE(ae_title=ae_title)
    ae.add_requested_context(Verification)
    for context in StoragePresentationContexts[:100]:
        ae.add_requested_context(str(context.abstract_syntax), [ExplicitVRLittleEndian])
    return ae


def associate(port: int, called: str, *, calling: str = MODALITY, bind: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    return client(calling).associate("127.0.0.1", port, ae_title=called, bind_address=(bind, 0))


def ct(study_uid: str | None = None, **attributes: Any) -> Dataset:
    ds = dataset(phantom(), bits_stored=12, PatientName="Received^Over^DICOM", **attributes)
    if study_uid is not None:
        ds.StudyInstanceUID = study_uid
    return ds


__all__ = ["TRANSFER_SYNTAXES", "associate", "ct"]
