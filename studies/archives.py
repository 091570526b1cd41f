"""Zip archives as DICOM input: which members to open, and within which limits.

Every size an archive declares is checked before anything that size is allocated: the member
count and central-directory size from the end record (before zipfile builds a ZipInfo per
member), each member's declared size and compression ratio, and again while it streams out
(a header may lie). Member names are only ever used for the report: nothing is written under a
name taken from an archive, and names that climb out (`..`, absolute paths) are refused.
A DICOMDIR is skipped: paths are never taken from it.

Used by every ingest path (studies.services) and by the upload links' staging.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO

from django.conf import settings

from .dicom import DicomRejected, human_size

# Names that are never DICOM and are not worth a line in the report.
_JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "dicomdir"}
_COPY_CHUNK = 1024 * 1024
# A zip member this small may unpack at any ratio (the ratio limit is for bombs, not headers).
_RATIO_EXEMPT_BYTES = 1024 * 1024

# An archive member as ingest receives it: extracted bytes, or the reason it was refused.
Member = IO[bytes] | DicomRejected


def skipped_name(name: str) -> bool:
    """Directories, macOS resource forks, DICOMDIR indexes and other never-DICOM files."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.endswith(("/", "\\")) or not parts:
        return True
    base = parts[-1].lower()
    return "__MACOSX" in parts or base.startswith("._") or base in _JUNK_NAMES


def is_zip(handle: IO[bytes]) -> bool:
    # A DICOM file may start with anything in its 128-byte preamble: trust "DICM" first.
    handle.seek(0)
    head = handle.read(132)
    handle.seek(0)
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06") and head[128:132] != b"DICM"


def archive_too_large(handle: IO[bytes]) -> DicomRejected | None:
    """Refuse an archive with too many members before zipfile reads its central directory
    (it makes an object per member): the count and size are in the end record."""
    directory = _central_directory(handle)
    if directory is None:
        return None  # not found: zipfile reports the archive as damaged
    members, size = directory
    limit = settings.DICOM_MAX_ARCHIVE_MEMBERS
    # A central directory entry is 46 bytes plus its name (and extras): allow 1 KB each.
    if members > limit or size > limit * 1024:
        return DicomRejected(
            f"The archive holds {members:,} files; one archive may hold at most {limit:,}. "
            "Upload it in parts."
        )
    return None


def _central_directory(handle: IO[bytes]) -> tuple[int, int] | None:
    """(members, bytes) of a zip archive's central directory, from its end record (PKWARE
    APPNOTE 4.3.16, and 4.3.14 for zip64). zipfile offers no public way to read these
    without first building every member's ZipInfo."""
    end = handle.seek(0, os.SEEK_END)
    tail_start = max(0, end - (22 + 65535))  # the record, then a comment of up to 64 KiB
    handle.seek(tail_start)
    tail = handle.read()
    handle.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    members, size = struct.unpack_from("<HI", tail, at + 10)
    if members != 0xFFFF and size != 0xFFFFFFFF:
        return members, size
    locator = at - 20  # zip64: a locator just before the end record points at its own record
    if locator < 0 or tail[locator : locator + 4] != b"PK\x06\x07":
        return members, size  # exactly 65,535 members, or 4 GiB of directory, without zip64
    (record,) = struct.unpack_from("<Q", tail, locator + 8)
    handle.seek(record)
    head = handle.read(56)
    handle.seek(0)
    if len(head) < 56 or head[:4] != b"PK\x06\x06":
        return None
    members, size = struct.unpack_from("<QQ", head, 32)
    return members, size


def archive_members(name: str, handle: IO[bytes]) -> Iterator[tuple[str, Member]]:
    """Each member of a zip archive, extracted to a temporary file within the size limits."""
    member_limit = settings.DICOM_MAX_FILE_SIZE
    remaining = settings.DICOM_MAX_ARCHIVE_SIZE
    too_large = archive_too_large(handle)
    if too_large is not None:
        yield name, too_large
        return
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError):
        yield name, DicomRejected("The zip archive is damaged and could not be opened.")
        return
    with archive:
        for info in archive.infolist():
            if skipped_name(info.filename):
                continue
            member_name = f"{name}/{info.filename}"
            if not _safe_member_name(info.filename):
                yield member_name, DicomRejected("The archive names this file with an unsafe path.")
                continue
            if info.file_size > member_limit:
                yield (
                    member_name,
                    DicomRejected(
                        f"The file is too large ({human_size(info.file_size)}; "
                        f"the limit is {human_size(member_limit)})."
                    ),
                )
                continue
            if remaining <= 0:
                yield (
                    member_name,
                    DicomRejected(
                        "The archive holds more data than one upload may "
                        f"({human_size(settings.DICOM_MAX_ARCHIVE_SIZE)})."
                    ),
                )
                continue
            ratio_limit = max(
                settings.DICOM_MAX_ARCHIVE_RATIO * info.compress_size, _RATIO_EXEMPT_BYTES
            )
            if info.file_size > ratio_limit:
                yield member_name, _too_compressed()
                continue
            extracted = _extract(archive, info, min(member_limit, remaining), ratio_limit)
            if isinstance(extracted, DicomRejected):
                yield member_name, extracted
                continue
            with extracted:
                remaining -= extracted.seek(0, os.SEEK_END)
                if is_zip(extracted):
                    yield (
                        member_name,
                        DicomRejected(
                            "An archive inside an archive is not opened; upload it on its own."
                        ),
                    )
                else:
                    yield member_name, extracted


def _safe_member_name(name: str) -> bool:
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":"):
        return False
    return ".." not in PurePosixPath(normal).parts


def _too_compressed() -> DicomRejected:
    return DicomRejected(
        "The file unpacks to more than "
        f"{settings.DICOM_MAX_ARCHIVE_RATIO} times its packed size, the limit."
    )


def _extract(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, ratio_limit: int
) -> IO[bytes] | DicomRejected:
    """Stream one member out, never past `limit` bytes (nor `ratio_limit`, the compression
    ratio bound) whatever its header claims."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * _COPY_CHUNK)
    copied = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(_COPY_CHUNK):
                copied += len(chunk)
                if copied > limit:
                    spool.close()
                    return DicomRejected(
                        f"The file unpacks to more than {human_size(limit)}, the limit."
                    )
                if copied > ratio_limit:
                    spool.close()
                    return _too_compressed()
                spool.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError):
        spool.close()
        return DicomRejected(
            "The file could not be unpacked from the archive (damaged or encrypted)."
        )
    spool.seek(0)
    return spool  # type: ignore[return-value]


def archive_member_count(handle: IO[bytes]) -> int:
    """How many files ingest will handle from this archive (one for an archive it refuses)."""
    if archive_too_large(handle) is not None:
        return 1
    try:
        with zipfile.ZipFile(handle) as archive:
            return sum(1 for info in archive.infolist() if not skipped_name(info.filename))
    except (zipfile.BadZipFile, OSError):
        return 1
