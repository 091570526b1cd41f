"""The rendered-frame cache: shared by every process and surviving restarts.

`FRAME_CACHE = "files"` (the default) keeps one file per rendered image under
`FRAME_CACHE_DIR` (default MEDIA_ROOT/render-cache), written atomically (a temporary file in the
same directory, then `os.replace`), so concurrent writers never expose half a file.
`FRAME_CACHE = "django"` stores them in the Django cache named by `FRAME_CACHE_ALIAS` (e.g.
Redis when several machines serve the same studies).

Keys are derived from everything that changes the bytes: the instance, the file's identity,
the frame and the display parameters. Files under server-generated names never change, so
nothing needs invalidating; a re-imported file gets a new name and so new keys.

The cache is bounded: every window a viewer drags to is a new entry, so without a bound any
user could fill the disk. The file cache is pruned to `FRAME_CACHE_MAX_BYTES`, oldest writes
first, by the hourly beat task and also after about one write in `PRUNE_EVERY` (the embedded
default runs no beat); the Django cache backend gives entries `FRAME_CACHE_TTL_SECONDS`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.cache import caches

from studies.rendering import RenderParams

log = logging.getLogger(__name__)

KEY_VERSION = "1"
PRUNE_EVERY = 1000  # on average, one write in this many prunes the file cache
PRUNE_TO = 0.9  # a prune brings the cache down to this share of the bound, so it runs rarely
STALE_TEMPORARY_SECONDS = 3600  # a ".tmp-" file this old was left by a writer that died


@dataclass
class PruneReport:
    files: int = 0
    bytes: int = 0
    removed_files: int = 0
    removed_bytes: int = 0


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
        if random.random() < 1 / PRUNE_EVERY:  # noqa: S311 (sampling, not security)
            self.prune(max_bytes=settings.FRAME_CACHE_MAX_BYTES)

    def prune(self, *, max_bytes: int) -> PruneReport:
        """Remove the oldest entries until the cache holds at most PRUNE_TO of `max_bytes`."""
        report = PruneReport()
        entries: list[tuple[float, int, str]] = []
        now = time.time()
        if not self.root.is_dir():
            return report
        for shard in os.scandir(self.root):
            if not shard.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(shard.path):
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed by a concurrent prune
                    continue
                if entry.name.startswith(".tmp-"):
                    if now - stat.st_mtime > STALE_TEMPORARY_SECONDS:
                        Path(entry.path).unlink(missing_ok=True)
                    continue
                entries.append((stat.st_mtime, stat.st_size, entry.path))
        report.files = len(entries)
        report.bytes = sum(size for _, size, _ in entries)
        if report.bytes <= max_bytes:
            return report
        target = int(max_bytes * PRUNE_TO)
        remaining = report.bytes
        for _, size, path in sorted(entries):
            if remaining <= target:
                break
            Path(path).unlink(missing_ok=True)
            remaining -= size
            report.removed_files += 1
            report.removed_bytes += size
        return report


class DjangoFrameCache:
    def __init__(self, alias: str) -> None:
        self.cache = caches[alias]

    def get(self, key: str) -> bytes | None:
        return self.cache.get(f"frame:{key}")

    def set(self, key: str, data: bytes) -> None:
        self.cache.set(f"frame:{key}", data, timeout=settings.FRAME_CACHE_TTL_SECONDS)


class StorageFrameCache:
    """Rendered frames as objects under `render-cache/` in the default storage (FRAME_CACHE=
    storage): shared by every web process and worker, e.g. in the same S3 bucket as the DICOM
    files. Bound its size with the object store's own expiry rule on that prefix (docs/deploy.md).
    """

    PREFIX = "render-cache"

    def __init__(self) -> None:
        from django.core.files.storage import default_storage

        self.storage = default_storage

    def _name(self, key: str) -> str:
        return f"{self.PREFIX}/{key[:2]}/{key}"

    def get(self, key: str) -> bytes | None:
        try:
            with self.storage.open(self._name(key), "rb") as handle:
                return handle.read()
        except Exception:  # missing (each backend says so its own way): not cached
            return None

    def set(self, key: str, data: bytes) -> None:
        from django.core.files.base import ContentFile

        name = self._name(key)
        try:
            if not self.storage.exists(name):
                self.storage.save(name, ContentFile(data))
        except Exception:  # a cache that cannot be written is only slower
            log.warning("frame cache: could not store a rendered frame", exc_info=True)


def frame_cache() -> FrameCache:
    kind = settings.FRAME_CACHE
    if kind == "django":
        return DjangoFrameCache(settings.FRAME_CACHE_ALIAS)
    if kind == "storage":
        return StorageFrameCache()
    root = settings.FRAME_CACHE_DIR or Path(settings.MEDIA_ROOT) / "render-cache"
    return FileFrameCache(Path(root))
