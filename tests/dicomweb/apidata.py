"""Data for the DICOMweb API tests: a study stored through the real ingest, and tokens."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from pydicom.uid import generate_uid

from accounts.services import api_token_create
from studies.models import Study
from studies.services import study_ingest
from testkit.dicom_files import dataset, phantom, to_bytes


@dataclass
class Stored:
    study: Study
    study_uid: str
    series_uids: list[str]
    sop_uids: list[str]


def ct_files(study_uid: str, series_uids: list[str], per_series: int, **attributes):  # type: ignore[no-untyped-def]
    files = []
    for series_number, series_uid in enumerate(series_uids, start=1):
        for number in range(1, per_series + 1):
            ds = dataset(
                phantom(),
                bits_stored=12,
                PatientName="Api^Patient",
                PatientID="API-1",
                AccessionNumber="ACC42",
                StudyDate="20240315",
                SeriesNumber=series_number,
                InstanceNumber=number,
                **attributes,
            )
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            files.append(ds)
    return files


def store(worklist, datasets) -> list[Study]:  # type: ignore[no-untyped-def]
    report = study_ingest(
        actor=None,
        worklist=worklist,
        files=[(f"f{i}.dcm", io.BytesIO(to_bytes(ds))) for i, ds in enumerate(datasets)],
    )
    assert not report.rejected, report.rejected
    return report.studies


@pytest.fixture
def stored(worklist) -> Stored:
    study_uid, series_uids = str(generate_uid()), [str(generate_uid()), str(generate_uid())]
    datasets = ct_files(study_uid, series_uids, 2)
    [study] = store(worklist, datasets)
    return Stored(study, study_uid, series_uids, [str(ds.SOPInstanceUID) for ds in datasets])


@pytest.fixture
def token(read_only) -> str:
    return api_token_create(user=read_only, name="viewer")[1]


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
