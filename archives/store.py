"""Where archive files live: a local directory (the default) or an S3-compatible bucket.

An archive is always written to a local file first (``BAAS_BACKUP_DIR``; the S3 store's
file sits in ``.staging/`` and goes once it is uploaded). The S3 store then uploads it in
parts of ``BAAS_BACKUP_S3_PART_MB`` (one part in memory at a time, never the whole file),
with the archive's SHA-256 as object metadata, and checks the stored size before the
archive row becomes ``ready``. Each run of an export or backup uploads to a key of its own
(``run_key``); the row records the key of the run that made it ready (``archive_key``
reads it). A failed upload aborts its multipart upload (no object appears) and fails the
archive. Reading streams the object back to a local file while
hashing it; a size or SHA-256 other than the archive row's is ``archive_corrupt``.

Errors are ``StoreError`` with a stable code and an HTTP status the services pass on:

- ``backup_store_unavailable`` (503): the endpoint does not answer, times out, refuses the
  credentials, or the bucket does not exist (``details.reason`` says which);
- ``archive_object_missing`` (404): the archive's object is not in the bucket;
- ``archive_corrupt`` (400): the object is not the file that was uploaded.

Credentials come only from the files named by ``BAAS_BACKUP_S3_ACCESS_KEY_FILE`` and
``BAAS_BACKUP_S3_SECRET_KEY_FILE`` (read by ``baas/settings.py``); the client is given them
explicitly, so it never looks at ``AWS_*`` variables or instance metadata.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

log = logging.getLogger(__name__)

LOCAL = "local"
S3 = "s3"
STORES = (LOCAL, S3)
CHUNK = 1024 * 1024
MAX_PARTS = 10_000  # S3's limit of parts in one multipart upload
SHA_META = "sha256"


class StoreError(Exception):
    def __init__(self, code: str, message: str, status: int, reason: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.reason = reason


def _unavailable(reason: str, message: str) -> StoreError:
    return StoreError("backup_store_unavailable", message, 503, reason)


def configured() -> str:
    """The store new archives go to (``BAAS_BACKUP_STORE``)."""
    name = str(getattr(settings, "BAAS_BACKUP_STORE", LOCAL) or LOCAL)
    return name if name in STORES else LOCAL


class S3Store:
    """An S3-compatible bucket, through MinIO's Python SDK (any S3 API: AWS, MinIO, Ceph
    RGW, Garage, ...)."""

    def __init__(self) -> None:
        endpoint = str(getattr(settings, "BAAS_BACKUP_S3_ENDPOINT", "") or "")
        self.bucket = str(getattr(settings, "BAAS_BACKUP_S3_BUCKET", "") or "")
        self.prefix = str(getattr(settings, "BAAS_BACKUP_S3_PREFIX", "") or "")
        access = getattr(settings, "BAAS_BACKUP_S3_ACCESS_KEY", None)
        secret = getattr(settings, "BAAS_BACKUP_S3_SECRET_KEY", None)
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.netloc or not self.bucket \
                or not access or not secret:
            raise _unavailable("not_configured",
                               "The S3 backup store is not configured (endpoint, bucket, "
                               "credential files).")
        timeout = float(getattr(settings, "BAAS_BACKUP_S3_TIMEOUT_S", 30))
        self.part_size = max(5, int(getattr(settings, "BAAS_BACKUP_S3_PART_MB", 16))) * 2**20
        import certifi
        import urllib3
        from minio import Minio

        ca = getattr(settings, "BAAS_BACKUP_S3_CA_FILE", None) or certifi.where()
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout, read=timeout), maxsize=4,
            cert_reqs="CERT_REQUIRED", ca_certs=ca,
            retries=urllib3.Retry(total=2, connect=1, read=1, backoff_factor=0.2,
                                  status_forcelist=[500, 502, 503, 504]))
        self.client = Minio(url.netloc, access_key=access, secret_key=secret,
                            secure=url.scheme == "https",
                            region=str(getattr(settings, "BAAS_BACKUP_S3_REGION", "")
                                       or "us-east-1"), http_client=http)

    def key(self, tenant_id: Any, archive_id: Any) -> str:
        """The key of an archive made before per-run keys (its row's ``object_key`` is
        empty); read it through ``archive_key``."""
        return f"{self.prefix}{tenant_id}/{archive_id}.tar.gz"

    def run_key(self, tenant_id: Any, archive_id: Any, token: str) -> str:
        """The key one run of an export or backup uploads to (``token``: its claim): two
        runs of one operation (a takeover) never write one object."""
        return f"{self.prefix}{tenant_id}/{archive_id}.{token}.tar.gz"

    def listing(self) -> list[tuple[str, Any]]:
        """Every object under the prefix: its key and when it was stored."""
        def names() -> list[tuple[str, Any]]:
            return [(obj.object_name, obj.last_modified) for obj in self.client.list_objects(
                self.bucket, prefix=self.prefix or None, recursive=True)]

        return self._call("list", names)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from minio.error import MinioException, S3Error
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, **kwargs)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise StoreError("archive_object_missing",
                                 "The archive's file is not in the backup store.", 404) from None
            if exc.code == "NoSuchBucket":
                raise _unavailable("no_such_bucket",
                                   "The backup store's bucket does not exist.") from None
            if exc.code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise _unavailable("access_denied",
                                   "The backup store refuses the platform's credentials.") \
                    from None
            log.warning("S3 %s failed: %s", what, exc.code)
            raise _unavailable("error", f"The backup store answered {exc.code}.") from None
        except (MinioException, HTTPError, OSError, ValueError) as exc:
            log.warning("S3 %s failed: %s", what, type(exc).__name__)
            raise _unavailable("unreachable",
                               "The backup store cannot be reached; try again later.") \
                from None

    def put_file(self, key: str, path: Path, *, size: int, sha256: str,
                 beat: Callable[[], None] | None = None) -> None:
        """Upload ``path`` in parts; the object exists only once every part is stored.
        ``beat`` is called as each part is read (the operation's heartbeat: a long upload
        is not a stalled copy); whatever it raises (the run was cancelled) aborts the
        multipart upload."""
        if size > self.part_size * MAX_PARTS:
            # minio would raise a ValueError, which says nothing of the cause.
            raise StoreError(
                "backup_too_large",
                f"The archive ({size} bytes) needs more than {MAX_PARTS} parts of "
                f"{self.part_size // 2**20} MiB; raise BAAS_BACKUP_S3_PART_MB to at least "
                f"{-(-size // (MAX_PARTS * 2**20))}.", 400)
        with open(path, "rb") as data:
            self._call("upload", self.client.put_object, self.bucket, key, data, size,
                       content_type="application/gzip", metadata={SHA_META: sha256},
                       part_size=self.part_size, num_parallel_uploads=1,
                       progress=_Progress(beat) if beat is not None else None)
        stat = self._call("stat", self.client.stat_object, self.bucket, key)
        if stat.size != size:
            self.delete(key)
            raise StoreError("archive_corrupt",
                             "The backup store kept a different size than was uploaded.", 400)

    def _stat(self, key: str) -> Any:
        return self._call("stat", self.client.stat_object, self.bucket, key)

    def read_head(self, key: str) -> tuple[dict[str, Any], dict[str, bytes]]:
        """A stored backup's manifest and passphrase check (``fmt.read_head``): only its
        first kilobytes are read, then the connection is dropped. ``fmt.ArchiveError``
        for a file that is not a readable backup."""
        from archives import fmt

        response = self._call("download", self.client.get_object, self.bucket, key)
        try:
            return fmt.read_head(response)
        except fmt.ArchiveError:
            raise
        except Exception as exc:  # a connection cut mid-body
            log.warning("S3 read of %s cut: %s", key, type(exc).__name__)
            raise _unavailable("unreachable",
                               "The backup store cannot be reached; try again later.") \
                from None
        finally:
            response.close()
            response.release_conn()

    def fetch_to(self, key: str, dest: Path, *, size: int, sha256: str,
                 beat: Callable[[], None] | None = None) -> None:
        """Stream the object into ``dest``, hashing it; the file stays only if it is the
        archive that was uploaded (size and SHA-256 of the archive row). ``beat`` is
        called after each chunk (the restore's heartbeat)."""
        response = self._call("download", self.client.get_object, self.bucket, key)
        digest, written = hashlib.sha256(), 0
        stop: Exception | None = None
        try:
            dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(dest, "wb") as out:
                for chunk in self._call("download", response.stream, CHUNK):
                    written += len(chunk)
                    if written > size:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                    if beat is not None:
                        try:
                            beat()
                        except Exception as exc:  # the run must stop (cancelled): as is
                            stop = exc
                            break
        except StoreError:
            dest.unlink(missing_ok=True)
            raise
        except Exception as exc:  # a connection cut mid-body
            dest.unlink(missing_ok=True)
            log.warning("S3 download of %s cut: %s", key, type(exc).__name__)
            raise _unavailable("unreachable",
                               "The backup store cannot be reached; try again later.") \
                from None
        finally:
            response.close()
            response.release_conn()
        if stop is not None:
            dest.unlink(missing_ok=True)
            raise stop
        if written != size or digest.hexdigest() != sha256:
            dest.unlink(missing_ok=True)
            raise StoreError("archive_corrupt",
                             "The backup in the store is damaged: its size or SHA-256 is "
                             "not the one recorded when it was made.", 400)

    def stream(self, key: str) -> tuple[Iterator[bytes], int]:
        """The object's bytes, for a download answer, and its size."""
        stat = self._stat(key)
        size = int(stat.size)
        response = self._call("download", self.client.get_object, self.bucket, key)
        try:
            return _Body(response), size
        except BaseException:
            response.close()
            response.release_conn()
            raise

    def delete(self, key: str) -> None:
        self._call("delete", self.client.remove_object, self.bucket, key)

    def exists(self, key: str) -> bool:
        try:
            self._stat(key)
        except StoreError as exc:
            if exc.code == "archive_object_missing":
                return False
            raise
        return True


class _Progress:
    """minio's progress hook (``set_meta``, ``update``), calling ``beat`` as parts are read."""

    def __init__(self, beat: Callable[[], None]) -> None:
        self.beat = beat

    def set_meta(self, object_name: str, total_length: int) -> None:
        self.beat()

    def update(self, length: int) -> None:
        self.beat()


class _Body:
    """An object's body as an iterator of chunks; ``close`` (also when no chunk was ever
    asked for: a client that went away at once) releases the connection.

    Safe across threads: under ASGI a chunk is read in a worker thread while the response
    may be closed from another (a cancelled download). ``close`` never waits and never
    touches the connection under a read in progress: it marks the body closed and that
    read releases the connection when it returns (bounded by the client's read timeout,
    see ``S3Store``). A read that fails releases it too."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.chunks = response.stream(CHUNK)
        self.closed = False
        self._lock = threading.Lock()  # guards closed, _reading and _released
        self._read_lock = threading.Lock()  # one read at a time
        self._reading = False
        self._released = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        with self._read_lock:
            with self._lock:
                if self.closed:
                    raise StopIteration
                self._reading = True
            try:
                return next(self.chunks)
            except BaseException:  # the end, or a failed read: either way, done
                with self._lock:
                    self.closed = True
                raise
            finally:
                with self._lock:
                    self._reading = False
                    release = self.closed and not self._released
                    self._released = self._released or release
                if release:
                    self._release()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            release = not self._reading and not self._released
            self._released = self._released or release
        if release:
            self._release()

    def _release(self) -> None:
        try:
            self.response.close()
        finally:
            self.response.release_conn()


def s3() -> S3Store:
    return S3Store()


def archive_key(bucket: S3Store, archive: Any) -> str:
    """Where an S3-kept archive's object is: the key its row names (the run that made it
    ready), or, for an archive made before per-run keys, the archive's own key. Every
    reader and deleter of an archive's object goes through here."""
    return archive.object_key or bucket.key(archive.tenant_id, archive.pk)


