"""The rendered-frame cache: shared by every process and surviving restarts.

`FRAME_CACHE = "files"` (the default) keeps one file per rendered image under
`FRAME_CACHE_DIR` (default MEDIA_ROOT/render-cache), written atomically (a temporary file in the
same directory, then `os.replace`), so concurrent writers never expose half a file.
`FRAME_CACHE = "django"` stores them in the Django cache named by `FRAME_CACHE_ALIAS` (e.g.
Redis when several machines serve the same studies).

Keys are derived from everything that changes the bytes: the instance, the file's identity,
the frame and the display parameters. Files under server-generated names never change, so
nothing needs invalidating; a re-imported file gets a new name and so new keys.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.cache import caches

from .rendering import RenderParams

KEY_VERSION = "1"


def cache_key(
    *, sop_instance_uid: str, file_name: str, file_size: int, params: RenderParams
) -> str:
    window = params.window
    parts = (
        KEY_VERSION,
        sop_instance_uid,
        file_name,
        str(file_size),
        str(params.frame),
        f"{window.center!r},{window.width!r},{window.function}" if window else "-",
        "x".join(map(str, params.viewport)) if params.viewport else "-",
        params.media_type,
        str(params.quality),
    )
    return hashlib.blake2b("|".join(parts).encode(), digest_size=20).hexdigest()


class FrameCache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, data: bytes) -> None: ...


class FileFrameCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> bytes | None:
        try:
            with open(self._path(key), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def set(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        except FileNotFoundError:  # the shard's first entry: only then make its directory
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class DjangoFrameCache:
    def __init__(self, alias: str) -> None:
        self.cache = caches[alias]

    def get(self, key: str) -> bytes | None:
        return self.cache.get(f"frame:{key}")

    def set(self, key: str, data: bytes) -> None:
        self.cache.set(f"frame:{key}", data, timeout=None)


def frame_cache() -> FrameCache:
    kind = getattr(settings, "FRAME_CACHE", "files")
    if kind == "django":
        return DjangoFrameCache(getattr(settings, "FRAME_CACHE_ALIAS", "default"))
    root = getattr(settings, "FRAME_CACHE_DIR", "") or Path(settings.MEDIA_ROOT) / "render-cache"
    return FileFrameCache(Path(root))
