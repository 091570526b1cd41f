"""Small DICOM files for the ingest tests, made with demo.synthetic."""

import datetime
import io
import zipfile
from pathlib import Path

import pydicom

from demo.synthetic import Patient, write_study

PATIENT = Patient("Rivers^Ada", "RIV001", datetime.date(1961, 2, 3), "F")


def small_study(folder: Path, key: str = "one", **options) -> list[Path]:
    """Two CT series of three 32x32 slices (six files), deterministic for `key`."""
    defaults = {"patient": PATIENT, "series_count": 2, "slices": 3, "size": 32, "uid_key": key}
    return write_study(folder, **{**defaults, **options})


def rewrite(source: Path, target: Path, **changes) -> Path:
    """A copy of `source` with attributes changed (value None deletes the attribute)."""
    ds = pydicom.dcmread(source)
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(target)
    return target


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def stored_files(media_root: Path) -> list[Path]:
    folder = Path(media_root) / "dicom"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
