"""Reading DICOM files from object storage without copying them whole per frame request.

A rendered frame needs the file's header and one frame's bytes. On S3-compatible storage
(django-storages' S3Storage) `RangedObject` is a seekable, read-only file whose reads are HTTP
range requests, buffered (`open_stream`: BUFFER bytes at a time), so a request reads what the
decoder asks for rather than the whole object (django-storages' own file downloads the whole
object first). Other storages are opened as they open.
"""

from __future__ import annotations

import io
from typing import IO, Any

BUFFER = 256 * 1024


class RangedObject(io.RawIOBase):
    """A read-only, seekable view of one object of size `size`, read by byte ranges."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        self._client, self._bucket, self._key, self._size = client, bucket, key, size
        self._position = 0
        self.name = key  # file objects have one; pydicom reads it
        self.requests = 0  # how many range requests were made (for tests and diagnostics)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        end = self._position + wanted - 1
        self.requests += 1
        response = self._client.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{end}"
        )
        body = response["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        count = len(data)
        buffer[:count] = data
        self._position += count
        return count


def open_stream(storage: Any, name: str, size: int | None = None) -> IO[bytes]:
    """A binary, seekable file on `name` in `storage` that reads only what is asked of it."""
    bucket_name = getattr(storage, "bucket_name", None)
    if bucket_name and hasattr(storage, "connection") and hasattr(storage, "_normalize_name"):
        from storages.utils import clean_name

        key = storage._normalize_name(clean_name(name))
        client = storage.connection.meta.client
        if size is None:
            size = int(client.head_object(Bucket=bucket_name, Key=key)["ContentLength"])
        raw = RangedObject(client, bucket_name, key, size)
        return io.BufferedReader(raw, buffer_size=BUFFER)
    return storage.open(name, "rb")
