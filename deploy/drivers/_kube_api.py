"""A small REST layer over the official ``kubernetes`` client for the Kubernetes driver.

Why not the generated typed APIs: the driver applies plain dicts (``k8s_manifests``) of
seven kinds by server-side apply and reads them back as dicts to compare; one path table
and four verbs (get, list, apply, delete) do that uniformly, where the typed APIs would
turn every object into a model class and back. Authentication, TLS and kubeconfig handling
stay the client's (``ApiClient``).

Every call carries a timeout -- per socket operation *and* for the whole request, so an
API server that drips its answer a byte at a time cannot hold a worker past the deadline --
and an answer larger than ``MAX_RESPONSE_BYTES`` is refused (``driver_error``) instead of
read into memory. Every client, HTTP or OS error leaves as ``DriverError`` with a stable
code (see ``errors``).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

from deploy.drivers.base import DriverError
from deploy.drivers.k8s_manifests import FIELD_MANAGER

# The largest answer read (a list of a network's objects is a few hundred KiB at most; a
# node's log tail less): anything bigger is a misbehaving or hostile server.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_CHUNK = 64 * 1024

# kind -> (API prefix, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Service": ("/api/v1", "services", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims", True),
    "Pod": ("/api/v1", "pods", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets", True),
}


def resource_path(kind: str, namespace: str | None = None, name: str | None = None) -> str:
    prefix, plural, namespaced = KINDS[kind]
    path = prefix
    if namespaced and namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    return f"{path}/{name}" if name else path


def _status_message(exc: Any) -> str:
    """The API server's own explanation (its Status object), else the HTTP reason."""
    try:
        status = json.loads(exc.body or "{}")
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
    except (TypeError, ValueError):
        pass
    return str(exc.reason or f"HTTP {exc.status}")


@contextlib.contextmanager
def errors(action: str, *, server: str, timeout: float) -> Iterator[None]:
    """Turn every failure of ``action`` into a DriverError with a stable code."""
    import urllib3.exceptions
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    try:
        yield
    except DriverError:
        raise
    except ApiException as exc:
        raise api_error(action, exc) from exc
    except urllib3.exceptions.MaxRetryError as exc:
        raise _transport_error(action, exc.reason, server, timeout) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise _transport_error(action, exc, server, timeout) from exc
    except ConfigException as exc:
        raise DriverError("driver_unavailable",
                          f"{action}: the cluster credentials cannot be used: {exc}") from exc
    except TimeoutError as exc:
        raise DriverError("driver_timeout", f"{action}: the API server at {server} did not "
                                            f"answer within {timeout:g}s") from exc
    except OSError as exc:
        raise DriverError("driver_unavailable",
                          f"{action}: cannot reach the API server at {server}: {exc}") from exc


def api_error(action: str, exc: Any) -> DriverError:
    status, message = exc.status, _status_message(exc)
    if not status:  # the client's own wrapping of a TLS failure
        code = "driver_timeout" if "timed out" in message else "driver_unavailable"
        return DriverError(code, f"{action}: {message}")
    if status == 403:
        if "being terminated" in message:
            return DriverError("driver_error", f"{action}: {message}; try again once the "
                                               "network's namespace is gone")
        # RBAC's message names the user, the verb and the resource that were refused
        return DriverError("cluster_forbidden", f"{action}: the cluster refused: {message}")
    if status == 401:
        return DriverError("driver_unavailable",
                           f"{action}: the API server did not accept the credentials: {message}")
    if status == 404:
        return DriverError("not_found", f"{action}: {message}")
    if status == 422:
        return DriverError("invalid_spec", f"{action}: the API server refused it: {message}")
    if status in (429, 503):
        return DriverError("driver_unavailable", f"{action}: the API server is busy: {message}")
    if status == 504:
        return DriverError("driver_timeout", f"{action}: {message}")
    return DriverError("driver_error", f"{action}: {message} (HTTP {status})")


def _transport_error(action: str, reason: Any, server: str, timeout: float) -> DriverError:
    import urllib3.exceptions

    # NewConnectionError is a ConnectTimeoutError subclass in urllib3: refused comes first
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return DriverError("driver_unavailable",
                           f"{action}: cannot reach the API server at {server}")
    if isinstance(reason, urllib3.exceptions.TimeoutError):
        return DriverError("driver_timeout", f"{action}: the API server at {server} did not "
                                             f"answer within {timeout:g}s")
    if isinstance(reason, urllib3.exceptions.SSLError):
        return DriverError("driver_unavailable", f"{action}: TLS with the API server at "
                                                 f"{server} failed: {reason}")
    return DriverError("driver_unavailable", f"{action}: the API server at {server}: {reason}")


class KubeApi:
    """get / list / apply / patch / delete of dict objects through one ``ApiClient``."""

    def __init__(self, client: Any, *, timeout: float):
        self.client = client
        self.timeout = timeout
        self.server = str(client.configuration.host)

    def errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        return errors(action, server=self.server, timeout=self.timeout)

    def request(self, method: str, path: str, *, action: str, query: list[tuple[str, str]]
                | None = None, body: Any = None, content_type: str | None = None,
                text: bool = False) -> Any:
        from kubernetes.client.exceptions import ApiException

        # the log endpoint answers text/plain but only to a catch-all Accept (406 otherwise)
        headers = {"Accept": "*/*" if text else "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        with self.errors(action):
            method, url, headers, body, post = self.client.param_serialize(
                method=method, resource_path=path, query_params=query or [],
                header_params=headers, body=body, auth_settings=["BearerToken"])
            deadline = time.monotonic() + self.timeout
            response = self.client.call_api(method, url, header_params=headers, body=body,
                                            post_params=post,
                                            _request_timeout=(self.timeout, self.timeout))
            data = self._read(response, deadline, action)
            if not 200 <= response.status <= 299:
                raise ApiException(http_resp=response, body=data.decode(errors="replace"),
                                   data=None)
        if text:
            return data.decode(errors="replace")
        try:
            return json.loads(data) if data else {}
        except ValueError:  # e.g. a proxy's HTML page in front of the API server
            raise DriverError("driver_error", f"{action}: the answer of {self.server} is not "
                                              "JSON (is it a Kubernetes API server?)") from None

    def _read(self, response: Any, deadline: float, action: str) -> bytes:
        """The body, read in chunks against the request's overall deadline and the size
        cap (``read1`` returns what has arrived instead of waiting for a full chunk)."""
        raw = getattr(response, "response", None)
        if raw is None or not hasattr(raw, "read1"):  # not a streaming urllib3 answer
            return bytes(response.read())
        declared = raw.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            raw.close()
            raise self._too_big(action)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() >= deadline:
                    raise DriverError("driver_timeout", f"{action}: the API server at "
                                      f"{self.server} did not finish its answer within "
                                      f"{self.timeout:g}s")
                chunk = raw.read1(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise self._too_big(action)
                chunks.append(chunk)
        except DriverError:
            raw.close()  # the connection is not reusable mid-body
            raise
        data = b"".join(chunks)
        response.data = data
        return data

    def _too_big(self, action: str) -> DriverError:
        return DriverError("driver_error", f"{action}: the answer of {self.server} is larger "
                                           f"than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB")

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self.request("GET", resource_path(kind, namespace, name),
                                action=f"read {kind} {name}")
        except DriverError as exc:
            if exc.code == "not_found":
                return None
            raise

    def list(self, kind: str, namespace: str | None = None, *,
             selector: str | None = None) -> list[dict[str, Any]]:
        query = [("labelSelector", selector)] if selector else []
        where = f" in {namespace}" if namespace else ""
        found = self.request("GET", resource_path(kind, namespace), query=query,
                             action=f"list {KINDS[kind][1]}{where}")
        return list(found.get("items") or [])

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply under our field manager, forcing ownership of our fields (an
        operator's edit of one of them is drift, and this is its repair)."""
        meta = obj["metadata"]
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request("PATCH", resource_path(obj["kind"], meta.get("namespace"),
                                                   meta["name"]),
                            query=query, body=obj, content_type="application/apply-patch+yaml",
                            action=f"apply {obj['kind']} {meta['name']}")

    def merge_patch(self, kind: str, name: str, namespace: str | None,
                    patch: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", resource_path(kind, namespace, name),
                            query=[("fieldManager", FIELD_MANAGER)], body=patch,
                            content_type="application/merge-patch+json",
                            action=f"patch {kind} {name}")

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        """False when it was already gone (deletes are idempotent)."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            self.request("DELETE", resource_path(kind, namespace, name), body=body,
                         content_type="application/json", action=f"delete {kind} {name}")
        except DriverError as exc:
            if exc.code == "not_found":
                return False
            raise
        return True
