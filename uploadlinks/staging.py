"""Where an upload's files wait, chunk by chunk, until the upload completes.

Files are stored as `<UPLOADLINK_STAGING_DIR>/<upload public id>/<index>`: nothing from the
browser (a file's name or path) ever becomes part of a path on the server.
"""

import shutil
from pathlib import Path
from typing import IO

from django.conf import settings

_COPY = 1024 * 1024


def upload_dir(upload_public_id: object) -> Path:
    return Path(settings.UPLOADLINK_STAGING_DIR) / str(upload_public_id)


def staged_path(upload_public_id: object, index: int) -> Path:
    return upload_dir(upload_public_id) / str(int(index))


def write_at(path: Path, offset: int, stream: IO[bytes], length: int) -> int:
    """Write `length` bytes from `stream` at `offset` (dropping anything after it: a resent
    chunk replaces what a broken one left); the bytes actually written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "r+b" if path.exists() else "w+b") as handle:
        handle.truncate(offset)
        handle.seek(offset)
        written = 0
        while written < length:
            chunk = stream.read(min(_COPY, length - written))
            if not chunk:
                break
            handle.write(chunk)
            written += len(chunk)
    return written


def remove(upload_public_id: object) -> None:
    shutil.rmtree(upload_dir(upload_public_id), ignore_errors=True)
