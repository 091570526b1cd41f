"""parse_dicom on generated files and on bad ones."""

import datetime
import io

import pydicom
import pytest

from studies.dicom import DicomRejected, parse_dicom
from tests.studies.ingest_helpers import PATIENT, rewrite, small_study


@pytest.fixture
def files(tmp_path):
    return small_study(tmp_path / "study")


def reason(source, **options) -> str:
    with pytest.raises(DicomRejected) as caught:
        parse_dicom(source, **options)
    return caught.value.reason


def test_reads_the_study_series_and_instance_attributes(files):
    parsed = parse_dicom(files[0])
    ds = pydicom.dcmread(files[0])
    assert parsed.study_instance_uid == ds.StudyInstanceUID
    assert parsed.series_instance_uid == ds.SeriesInstanceUID
    assert parsed.sop_instance_uid == ds.SOPInstanceUID
    assert parsed.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
    assert parsed.patient_name == "Rivers^Ada"
    assert parsed.patient_id == "RIV001"
    assert parsed.issuer_of_patient_id == PATIENT.issuer
    assert parsed.patient_birth_date == datetime.date(1961, 2, 3)
    assert parsed.patient_sex == "F"
    assert parsed.study_date == datetime.date(2024, 3, 1)
    assert parsed.study_time == datetime.time(9, 30)
    assert parsed.study_description == "CT chest with contrast"
    assert parsed.accession_number == ds.AccessionNumber
    assert parsed.referring_physician_name == "Hart^Imogen^^Dr"
    assert parsed.modality == "CT"
    assert parsed.series_number == 1
    assert parsed.body_part_examined == "CHEST"
    assert parsed.instance_number == 1
    assert (parsed.rows, parsed.columns, parsed.number_of_frames) == (32, 32, 1)
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert parsed.photometric_interpretation == "MONOCHROME2"
    assert parsed.bits_allocated == 16
    # Multi-valued window presets: the first one.
    assert (parsed.window_center, parsed.window_width) == (40.0, 400.0)
    assert parsed.slice_location == float(ds.SliceLocation)
    assert parsed.file_size == files[0].stat().st_size


def test_reads_from_a_file_object(files):
    with open(files[1], "rb") as handle:
        handle.read(10)  # wherever the caller left it
        assert parse_dicom(handle).instance_number == 2


def test_accepts_a_dataset_without_preamble(files):
    data = files[0].read_bytes()
    assert data[128:132] == b"DICM"
    assert (
        parse_dicom(io.BytesIO(data[132:])).sop_instance_uid
        == parse_dicom(files[0]).sop_instance_uid
    )


def test_bad_dates_and_times_become_none(files, tmp_path):
    odd = rewrite(
        files[0], tmp_path / "odd.dcm", StudyDate="20241341", PatientBirthDate="abc", StudyTime="99"
    )
    parsed = parse_dicom(odd)
    assert (parsed.study_date, parsed.patient_birth_date, parsed.study_time) == (None, None, None)


def test_object_without_pixel_data_is_accepted(files, tmp_path):
    report = rewrite(
        files[0], tmp_path / "sr.dcm", PixelData=None, Rows=None, Columns=None, Modality="SR"
    )
    parsed = parse_dicom(report)
    assert (parsed.rows, parsed.columns, parsed.modality) == (None, None, "SR")
    assert not parsed.has_pixels


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is a text file\n" * 40,
        b"%PDF-1.7\n" + bytes(300),
        b"PK\x03\x04" + bytes(200),
    ],
)
def test_rejects_what_is_not_dicom(data):
    assert reason(io.BytesIO(data)) in {"This is not a DICOM file.", "The file is empty."}


def test_rejects_a_file_cut_in_the_pixel_data(files):
    data = files[0].read_bytes()
    assert "truncated" in reason(io.BytesIO(data[: len(data) - 100]))


def test_rejects_a_file_cut_in_the_header(files):
    data = files[0].read_bytes()
    assert "truncated" in reason(io.BytesIO(data[:600]))


@pytest.mark.parametrize(
    ("keyword", "label"),
    [
        ("StudyInstanceUID", "Study Instance UID"),
        ("SeriesInstanceUID", "Series Instance UID"),
        ("SOPInstanceUID", "SOP Instance UID"),
    ],
)
def test_rejects_missing_uids(files, tmp_path, keyword, label):
    broken = rewrite(files[0], tmp_path / "broken.dcm", **{keyword: None})
    assert reason(broken) == f"The file has no {label}."


def test_rejects_a_malformed_uid(files, tmp_path):
    broken = rewrite(files[0], tmp_path / "broken.dcm", SOPInstanceUID="1.2." + "9" * 70)
    assert reason(broken) == "The file's SOP Instance UID is not valid."


def test_rejects_a_file_over_the_size_limit(files, settings):
    settings.DICOM_MAX_FILE_SIZE = 1000
    assert reason(files[0]).startswith("The file is too large")
    assert parse_dicom(files[0], max_size=10**6).rows == 32


def test_unreadable_path(tmp_path):
    assert reason(tmp_path / "missing.dcm") == "The file could not be read."


def test_synthetic_studies_are_deterministic_for_a_key(tmp_path):
    from demo.synthetic import study_uid

    first = small_study(tmp_path / "a", key="same")
    second = small_study(tmp_path / "b", key="same")
    other = small_study(tmp_path / "c", key="other")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert parse_dicom(first[0]).study_instance_uid == study_uid("same")
    assert parse_dicom(other[0]).study_instance_uid != study_uid("same")


def test_deflated_transfer_syntax(files, tmp_path):
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = pydicom.dcmread(files[0])
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    target = tmp_path / "deflated.dcm"
    ds.save_as(target, enforce_file_format=True)
    parsed = parse_dicom(target)
    assert parsed.transfer_syntax_uid == DeflatedExplicitVRLittleEndian
    assert parsed.rows == 32
    data = target.read_bytes()
    assert "truncated" in reason(io.BytesIO(data[: len(data) // 2]))
