"""What a guest may download from a link with `allow_download`: the study as a zip that
imports like a CD (its DICOM files under a DICOMDIR), and one image as PNG.

The zip is streamed: members are stored (ZIP_STORED: DICOM pixel data is mostly compressed
already, and a stored zip costs no CPU), written by the standard library's `zipfile` into a
sink that the response drains chunk by chunk, so a study of any size passes through a buffer
of one chunk, never whole. Files are read through the storage API (`dicomweb.objectfiles`:
on S3-compatible storage, by range requests) one after the other.

The DICOMDIR is made with pydicom's FileSet from what the database knows of each instance
(no file is read for it), so it is ready before the first byte goes out; an instance whose
record needs more than the database holds (a structured report, say) has its header read from
its file. File IDs are pydicom's: PT000000/ST000000/SE000000/IM000000, components of at most
8 uppercase characters and digits, as PS3.10 asks of media.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.utils import timezone
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.uid import UID, ExplicitVRLittleEndian

from dicomweb.objectfiles import open_stream
from studies.models import Instance, Study

CHUNK = 256 * 1024
DICOMDIR = "DICOMDIR"
UNINDEXED = "OTHER"  # instances the DICOMDIR cannot describe: still in the zip, under here


@dataclass(frozen=True)
class Member:
    name: str  # its path in the zip
    instance: Instance


class _Sink(io.RawIOBase):
    """Where zipfile writes: collected until the stream takes it (never seekable, so zipfile
    writes each member's sizes and CRC after its data)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def open_instance(instance: Instance) -> IO[bytes]:
    storage, name = instance.file.storage, instance.file.name or ""
    return open_stream(storage, name, instance.file_size or None)


def zip_stream(
    files: Iterable[tuple[str, int, Any]], *, extra: Iterable[tuple[str, bytes]] = ()
) -> Iterator[bytes]:
    """A stored zip of `extra` (name, bytes) and then `files` (name, size, opener), yielded in
    chunks of about CHUNK bytes as it is written."""
    sink = _Sink()
    stamp = timezone.localtime().timetuple()[:6]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in extra:
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), data)
            yield sink.take()
        for name, size, opener in files:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.file_size = size
            large = not size or size > 2**31  # unknown or large: zip64 sizes for this member
            with opener() as source, archive.open(info, "w", force_zip64=large) as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()


# --- the DICOMDIR ------------------------------------------------------------------------


def _record_source(instance: Instance, index: int) -> Dataset:
    """The attributes the DICOMDIR's patient, study, series and image records need, from the
    database (Type 1 values the files lack are given placeholders, as media require them)."""
    series = instance.series
    study = series.study
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(instance.sop_class_uid)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(instance.sop_instance_uid)
    ds.file_meta.TransferSyntaxUID = UID(instance.transfer_syntax_uid or ExplicitVRLittleEndian)
    ds.SOPClassUID = instance.sop_class_uid
    ds.SOPInstanceUID = instance.sop_instance_uid
    ds.PatientID = study.patient_id or "UNKNOWN"
    ds.PatientName = study.patient_name
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate = (study.study_date or study.created_at.date()).strftime("%Y%m%d")
    ds.StudyTime = study.study_time.strftime("%H%M%S") if study.study_time else "000000"
    ds.StudyID = study.study_id or "1"
    ds.StudyDescription = study.study_description
    ds.AccessionNumber = study.accession_number
    ds.Modality = series.modality or "OT"
    ds.SeriesInstanceUID = series.series_instance_uid
    ds.SeriesNumber = series.series_number if series.series_number is not None else 1
    ds.InstanceNumber = (
        instance.instance_number if instance.instance_number is not None else index + 1
    )
    return ds


def _header_source(instance: Instance, index: int) -> Dataset:
    """The instance's own header (no pixel data), with the same placeholders."""
    with open_instance(instance) as source:
        ds = dcmread(source, stop_before_pixels=True, force=True)
    placeholders = _record_source(instance, index)
    for keyword in ("PatientID", "StudyDate", "StudyTime", "StudyID", "Modality"):
        if not ds.get(keyword):
            setattr(ds, keyword, getattr(placeholders, keyword))
    for keyword in ("SeriesNumber", "InstanceNumber"):
        if ds.get(keyword) is None:
            setattr(ds, keyword, getattr(placeholders, keyword))
    return ds


def _add(fileset: FileSet, ds: Dataset) -> None:
    """Add one record, or nothing: FileSet.add changes the set before it saves the dataset, so
    a dataset it cannot save is found out here first (it is small: no pixel data)."""
    ds.save_as(io.BytesIO(), enforce_file_format=True)
    fileset.add(ds)


def study_layout(study: Study) -> tuple[bytes, list[Member]]:
    """The study's DICOMDIR and where each of its instances goes in the zip."""
    instances = list(
        Instance.objects.filter(series__study=study)
        .select_related("series__study")
        .order_by("series__series_number", "series_id", "instance_number", "id")
    )
    fileset = FileSet()
    fileset.ID = "CIMARSHARE"
    unindexed: list[Instance] = []
    for index, instance in enumerate(instances):
        try:
            if not instance.sop_class_uid:
                raise ValueError("The database does not know its SOP class.")
            _add(fileset, _record_source(instance, index))
        except (ValueError, KeyError, AttributeError, TypeError):
            try:
                _add(fileset, _header_source(instance, index))
            except Exception:  # a file no record type fits: in the zip, not in the DICOMDIR
                unindexed.append(instance)
    by_uid = {instance.sop_instance_uid: instance for instance in instances}
    members: list[Member] = []
    with tempfile.TemporaryDirectory() as root:
        if len(fileset):
            fileset.write(root)  # small: the records' datasets, not the files
            dicomdir = (Path(root) / DICOMDIR).read_bytes()
            for record in fileset:
                parts = Path(record.FileID).parts
                members.append(Member("/".join(parts), by_uid[record.SOPInstanceUID]))
        else:
            dicomdir = b""
    members.extend(
        Member(f"{UNINDEXED}/F{number:07d}", instance) for number, instance in enumerate(unindexed)
    )
    return dicomdir, members


def study_zip(dicomdir: bytes, members: list[Member]) -> Iterator[bytes]:
    files = (
        (member.name, member.instance.file_size, lambda m=member: open_instance(m.instance))
        for member in members
    )
    return zip_stream(files, extra=[(DICOMDIR, dicomdir)] if dicomdir else [])
