"""Kubeconfigs people hand us: what we accept, and the check of the cluster they reach.

A tenant's kubeconfig runs on our workers, so it may do nothing there but open one HTTPS
connection: no ``exec`` or ``auth-provider`` plugins (they run commands), no file
references (``certificate-authority``, ``client-certificate``, ``client-key``,
``tokenFile`` would read our files), no ``insecure-skip-tls-verify``, no proxy, only
``https://`` servers and, unless the operator allows it, no loopback, private or
link-local addresses (our own network). ``sanitize`` keeps only the chosen context with
the keys known to be harmless, so what is stored is what was checked.

``probe`` checks a sanitized kubeconfig against its API server: ``/version`` answers
(reachable, TLS verified), the credentials are accepted, and a SelfSubjectAccessReview
grants every right the driver needs. It follows no redirect and retries nothing (one
request per step, within one overall timeout), connects to the very address it checked
(the name is resolved once; TLS still verifies, and SNI names, the server's host name),
and deletes the files the TLS layer needs for inline certificates and keys before it
returns. Failures are ``KubeconfigError`` with a stable code and parameters; the control
plane words them (``deploy.services.clusters``). Nothing here puts credentials in an
error, and nothing imports Django.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

MAX_KUBECONFIG_BYTES = 64 * 1024

# Keys copied from the chosen cluster and user entries; everything else is dropped.
# No username/password: Kubernetes dropped basic authentication (1.19), so a server would
# take such a request as anonymous.
CLUSTER_KEYS = ("server", "certificate-authority-data", "tls-server-name")
USER_KEYS = ("client-certificate-data", "client-key-data", "token")
PLUGIN_KEYS = ("exec", "auth-provider")
FILE_KEYS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")

# The rights the driver needs, when ``deploy.drivers.kubernetes`` does not say
# (``RBAC_RULES`` there is the authority: a ClusterRole's rules).
DEFAULT_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["namespaces"],
     "verbs": ["create", "get", "list", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["services", "configmaps", "secrets",
                                      "persistentvolumeclaims"],
     "verbs": ["create", "get", "list", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": ["apps"], "resources": ["statefulsets"],
     "verbs": ["create", "get", "list", "patch", "delete"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
     "verbs": ["create", "get", "list", "patch", "delete"]},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"],
     "verbs": ["create", "get", "list", "patch", "delete"]},
]


class KubeconfigError(Exception):
    """A refused kubeconfig or a failed check: ``code`` is stable, ``params`` fill the
    message (never a credential)."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(code)


@dataclass(frozen=True)
class Accepted:
    kubeconfig: dict[str, Any]  # one context, inline credentials only
    server: str
    context: str
    # The rule the server was checked under; ``probe`` applies it again to the address it
    # connects to (the name may resolve differently by then).
    allow_private: bool = False


@dataclass(frozen=True)
class Right:
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    name: str = ""  # a rule limited to named objects (``resourceNames``)

    def __str__(self) -> str:
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return (f"{self.verb} {what}" + (f" {self.name!r}" if self.name else "")
                + (f" ({self.group})" if self.group else ""))


@dataclass
class ProbeResult:
    version: str = ""
    checked: list[str] = field(default_factory=list)


# --- what we accept ---------------------------------------------------------------------------


def _named(entries: Any, name: str, kind: str) -> dict[str, Any]:
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name \
                and isinstance(entry.get(kind), dict):
            return entry[kind]
    raise KubeconfigError("cluster_kubeconfig_incomplete", missing=f"{kind} {name!r}")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to: IPv4-mapped (``::ffff:a.b.c.d``) or 6to4
    (``2002:AABB:CCDD::/48``, a relay delivers it to ``A.B.C.D``). (NAT64's ``64:ff9b::/96``
    lies in ``::/8``, which ``is_reserved`` already refuses.)"""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    return None


def _one_is_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # ``not is_global`` also covers shared address space (100.64.0.0/10, carrier-grade NAT,
    # where some clouds put internal services), benchmarking and documentation ranges.
    return (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local
            or ip.is_reserved or ip.is_multicast or ip.is_unspecified
            or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local))


def _address_is_private(address: str) -> bool:
    """Loopback, private, link-local, site-local (``fec0::/10``, deprecated but still
    routed by some networks), multicast, shared, reserved -- or an IPv6 address that
    embeds such an IPv4 address (mapped, 6to4). Shared by every check of an address
    the control plane connects to on a tenant's word (clusters, webhooks)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return _one_is_private(embedded) or (ip.ipv4_mapped is None and _one_is_private(ip))
    return _one_is_private(ip)


def _valid_host(host: str) -> bool:
    """A host name the resolver can take: IDNA-encodable, no empty or over-long label.
    (``getaddrinfo`` raises ``UnicodeError`` on those, which is not an ``OSError``.)"""
    if _is_ip(host):
        return True
    try:
        encoded = host.rstrip(".").encode("idna")
    except UnicodeError:
        return False
    return 0 < len(encoded) <= 253 and all(0 < len(label) <= 63
                                           for label in encoded.split(b"."))


def _check_server(server: Any, *, allow_private: bool,
                  resolve: Callable[[str], Iterable[str]]) -> str:
    if not isinstance(server, str) or not server:
        raise KubeconfigError("cluster_kubeconfig_incomplete", missing="server")
    try:
        parts = urlsplit(server)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        raise KubeconfigError("cluster_server_not_https", server=server[:200]) from None
    if parts.username is not None or parts.password is not None:
        # The server URL is stored and shown: it must not carry a password.
        raise KubeconfigError("cluster_kubeconfig_invalid", reason="userinfo")
    if parts.scheme != "https" or not host:
        raise KubeconfigError("cluster_server_not_https", server=server[:200])
    if not _valid_host(host):
        raise KubeconfigError("cluster_server_invalid_host", server=server[:200])
    if allow_private:
        return server
    _allowed_addresses(host, server=server, allow_private=False, resolve=resolve)
    return server


def _allowed_addresses(host: str, *, server: str, allow_private: bool,
                       resolve: Callable[[str], Iterable[str]]) -> list[str]:
    """The addresses ``host`` resolves to, or ``KubeconfigError`` when it does not resolve
    or (unless ``allow_private``) any of them is not a public address."""
    try:
        addresses = [host.split("%", 1)[0]] if _is_ip(host) else list(resolve(host))
    except (OSError, UnicodeError):
        raise KubeconfigError("cluster_unreachable", server=server, reason="name") from None
    if not addresses:
        raise KubeconfigError("cluster_unreachable", server=server, reason="name")
    if not allow_private and any(_address_is_private(a) for a in addresses):
        raise KubeconfigError("cluster_server_private", server=server)
    return addresses


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _check_pem(value: str, *, key: str, kind: str) -> None:
    """``*-data`` must be base64 of PEM the TLS layer can load; anything else would fail
    later as an obscure TLS error (or an exception) instead of saying which field."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError("cluster_kubeconfig_invalid", reason="base64", field=key) from None
    try:
        if kind == "key":
            serialization.load_pem_private_key(raw, password=None)
        else:
            x509.load_pem_x509_certificates(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KubeconfigError("cluster_kubeconfig_invalid", reason="pem", field=key) from None


def resolve_host(host: str) -> list[str]:
    """The addresses of ``host`` in the resolver's order of preference (RFC 6724: the one
    this machine can best reach first; ``probe`` connects to the first), each once."""
    infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def sanitize(text: Any, *, context: str | None = None, allow_private: bool = False,
             resolve: Callable[[str], Iterable[str]] = resolve_host) -> Accepted:
    """The kubeconfig ``text`` reduced to ``context`` (default: its current context), or
    ``KubeconfigError`` saying what is refused."""
    if not isinstance(text, str) or not text.strip():
        raise KubeconfigError("cluster_kubeconfig_invalid", reason="empty")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_KUBECONFIG_BYTES:
        raise KubeconfigError("cluster_kubeconfig_too_large", limit=MAX_KUBECONFIG_BYTES)
    try:
        doc = yaml.safe_load(text)
    except RecursionError:  # nesting deeper than any kubeconfig
        raise KubeconfigError("cluster_kubeconfig_invalid", reason="yaml") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None:
            raise KubeconfigError("cluster_kubeconfig_invalid", reason="yaml") from None
        raise KubeconfigError("cluster_kubeconfig_invalid", reason="line",
                              line=mark.line + 1) from None
    if not isinstance(doc, dict):
        raise KubeconfigError("cluster_kubeconfig_invalid", reason="not a mapping")
    name = context or doc.get("current-context")
    if not isinstance(name, str) or not name:
        raise KubeconfigError("cluster_kubeconfig_incomplete", missing="current-context")
    ctx = _named(doc.get("contexts"), name, "context")
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if not isinstance(cluster_name, str) or not cluster_name:
        raise KubeconfigError("cluster_kubeconfig_incomplete", missing="cluster")
    if not isinstance(user_name, str) or not user_name:
        raise KubeconfigError("cluster_kubeconfig_incomplete", missing="user")
    cluster = _named(doc.get("clusters"), cluster_name, "cluster")
    user = _named(doc.get("users"), user_name, "user")

    for key in PLUGIN_KEYS:
        if key in user:
            raise KubeconfigError("cluster_plugin_refused", field=key)
    for entry in (cluster, user):
        for key in FILE_KEYS:
            if key in entry:
                raise KubeconfigError("cluster_file_reference", field=key)
    if cluster.get("insecure-skip-tls-verify"):
        raise KubeconfigError("cluster_insecure_tls", field="insecure-skip-tls-verify")
    if cluster.get("proxy-url"):
        raise KubeconfigError("cluster_proxy_refused", field="proxy-url")
    for key in (*CLUSTER_KEYS[1:], *USER_KEYS):
        value = cluster.get(key, user.get(key))
        if value is not None and not isinstance(value, str):
            raise KubeconfigError("cluster_kubeconfig_invalid", reason=key)
    if not (user.get("token") or user.get("client-key-data")):
        raise KubeconfigError("cluster_kubeconfig_incomplete", missing="user credentials")
    if bool(user.get("client-certificate-data")) != bool(user.get("client-key-data")):
        raise KubeconfigError("cluster_kubeconfig_incomplete",
                              missing="client-certificate-data and client-key-data")
    for entry, key, kind in ((cluster, "certificate-authority-data", "certificates"),
                             (user, "client-certificate-data", "certificates"),
                             (user, "client-key-data", "key")):
        if entry.get(key):
            _check_pem(entry[key], key=key, kind=kind)
    server = _check_server(cluster.get("server"), allow_private=allow_private, resolve=resolve)

    kept = {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": cluster_name,
                      "cluster": {k: cluster[k] for k in CLUSTER_KEYS if cluster.get(k)}}],
        "users": [{"name": user_name, "user": {k: user[k] for k in USER_KEYS if user.get(k)}}],
        "contexts": [{"name": name, "context": {
            "cluster": cluster_name, "user": user_name,
            **({"namespace": ctx["namespace"]} if isinstance(ctx.get("namespace"), str)
               else {})}}],
    }
    return Accepted(kubeconfig=kept, server=server, context=name,
                    allow_private=allow_private)


# --- the check --------------------------------------------------------------------------------


def required_rights(rules: Iterable[dict[str, Any]]) -> list[Right]:
    """Every (verb, group, resource[, name]) of ClusterRole ``rules``, in their order,
    once. Rules of ``nonResourceURLs`` only name no resource and are not checked."""
    rights: list[Right] = []
    for rule in rules:
        for group in rule.get("apiGroups") or [""]:
            for resource in rule.get("resources") or []:
                resource_name, _, sub = resource.partition("/")
                for verb in rule.get("verbs") or []:
                    for name in rule.get("resourceNames") or [""]:
                        right = Right(verb=verb, resource=resource_name, group=group,
                                      subresource=sub, name=name)
                        if right not in rights:
                            rights.append(right)
    return rights


def driver_rules() -> list[dict[str, Any]]:
    """The driver's own ``RBAC_RULES`` when it publishes them, else ``DEFAULT_RULES``."""
    try:
        from deploy.drivers import kubernetes
    except ImportError:  # pragma: no cover - the client library is pinned
        return DEFAULT_RULES
    return list(getattr(kubernetes, "RBAC_RULES", None) or DEFAULT_RULES)


def _classify(exc: BaseException, server: str) -> KubeconfigError:
    """A client or transport failure as one of our codes (never its text: it can quote the
    request, headers included)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import (
        ConnectTimeoutError,
        MaxRetryError,
        NameResolutionError,
        NewConnectionError,
        ReadTimeoutError,
        SSLError,
        TimeoutStateError,
    )

    if isinstance(exc, ApiException):
        if not exc.status and str(exc.reason or "").startswith("SSLError"):
            # The client's own wrapping of a TLS failure (no retries: not a MaxRetryError).
            return KubeconfigError("cluster_tls_failed", server=server)
        if exc.status == 401:
            return KubeconfigError("cluster_unauthorized", server=server)
        return KubeconfigError("cluster_unreachable", server=server,
                               reason=f"HTTP {exc.status}")
    reason = exc.reason if isinstance(exc, MaxRetryError) else exc
    if isinstance(reason, SSLError) or "SSL" in type(reason).__name__:
        return KubeconfigError("cluster_tls_failed", server=server)
    if isinstance(reason, NameResolutionError):
        return KubeconfigError("cluster_unreachable", server=server, reason="name")
    # Before the timeouts: urllib3 2.x makes NewConnectionError (refused, no route) a
    # subclass of ConnectTimeoutError.
    if isinstance(reason, NewConnectionError):
        cause = reason.__cause__ or reason.__context__
        if isinstance(cause, ConnectionRefusedError):
            return KubeconfigError("cluster_unreachable", server=server, reason="refused")
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return KubeconfigError("cluster_unreachable", server=server, reason="timeout")
        return KubeconfigError("cluster_unreachable", server=server, reason="connection")
    if isinstance(reason, ConnectionRefusedError):
        return KubeconfigError("cluster_unreachable", server=server, reason="refused")
    if isinstance(reason, (TimeoutError, TimeoutStateError, ReadTimeoutError,
                           ConnectTimeoutError)) or "timed out" in str(reason):
        return KubeconfigError("cluster_unreachable", server=server, reason="timeout")
    return KubeconfigError("cluster_unreachable", server=server, reason="connection")


def _write_private(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def _pinned_client(accepted: Accepted, *, address: str, files: str) -> Any:
    """An API client for the cluster of ``accepted`` that connects to ``address`` (the one
    checked) and nowhere else.

    Built from a ``Configuration`` made here rather than by the kubernetes client's
    kubeconfig loader: the loader writes inline certificates and keys to files of its own,
    cached per process and removed only at exit. Here they go to ``files`` (a private
    directory the caller deletes). ``retries=False`` is set before the client (and so its
    connection pool) exists: no retry, and a redirect is returned as is (it fails as an
    unexpected HTTP status), never followed. TLS verifies against the server's host name
    (``tls-server-name`` when given), which is also sent as SNI and as the Host header.
    """
    from kubernetes import client

    cluster = accepted.kubeconfig["clusters"][0]["cluster"]
    user = accepted.kubeconfig["users"][0]["user"]
    parts = urlsplit(accepted.server)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    cfg = client.Configuration()
    cfg.host = f"https://{literal}:{parts.port or 443}{parts.path.rstrip('/')}"
    cfg.verify_ssl = True
    cfg.retries = False  # before ApiClient: the pool takes it when it is made
    server_name = cluster.get("tls-server-name") or (None if _is_ip(host) else host)
    if server_name:
        cfg.tls_server_name = server_name
    if cluster.get("certificate-authority-data"):
        cfg.ssl_ca_cert = _write_private(
            files, "ca.crt", base64.b64decode(cluster["certificate-authority-data"]))
    if user.get("client-certificate-data"):
        cfg.cert_file = _write_private(
            files, "client.crt", base64.b64decode(user["client-certificate-data"]))
        cfg.key_file = _write_private(
            files, "client.key", base64.b64decode(user["client-key-data"]))
    if user.get("token"):
        cfg.api_key = {"authorization": f"Bearer {user['token']}"}
    api = client.ApiClient(cfg)
    if parts.netloc:
        api.set_default_header("Host", parts.netloc)
    return api


def probe(accepted: Accepted, *, timeout: float, rules: Iterable[dict[str, Any]] | None = None,
          resolve: Callable[[str], Iterable[str]] = resolve_host) -> ProbeResult:
    """Reach, authenticate and authorize against the cluster of ``accepted``, all within
    ``timeout`` seconds.

    The server's name is resolved here, once, and checked again under the rule it was
    accepted with (``accepted.allow_private``); the connection goes to that address, so a
    name that resolves to a public address for the check and to a private one a moment
    later (DNS rebinding) cannot turn the check into a request to our own network.
    """
    end = time.monotonic() + timeout

    def remaining() -> float:
        left = end - time.monotonic()
        if left <= 0:
            raise KubeconfigError("cluster_unreachable", server=accepted.server,
                                  reason="timeout")
        return left

    host = urlsplit(accepted.server).hostname or ""
    address = _allowed_addresses(host, server=accepted.server,
                                 allow_private=accepted.allow_private, resolve=resolve)[0]
    files = tempfile.mkdtemp(prefix="baas-probe-")  # 0700, removed below
    try:
        api = _pinned_client(accepted, address=address, files=files)
        try:
            result = _probe_steps(api, accepted, remaining, rules)
        finally:
            api.close()
    finally:
        for name in os.listdir(files):
            os.unlink(os.path.join(files, name))
        os.rmdir(files)
    return result


# The check's answers are small (a version, an access review); a tenant's server that
# sends more, or drips its answer to hold a web worker, is cut off.
MAX_CHECK_ANSWER = 1024 * 1024


def _bounded_json(response: Any, remaining: Callable[[], float], server: str) -> Any:
    """The JSON body of a urllib3 ``response`` (asked with ``_preload_content=False``),
    read as it arrives (``read1``) against the check's overall deadline (``remaining``
    raises when it has passed) and ``MAX_CHECK_ANSWER``: the per-read socket timeout alone
    lets a server that sends a byte now and then hold the check for as long as it likes."""
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            remaining()
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_CHECK_ANSWER:
                raise KubeconfigError("cluster_unreachable", server=server,
                                      reason="answer too large")
            chunks.append(chunk)
    finally:
        response.close()
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        raise KubeconfigError("cluster_unreachable", server=server,
                              reason="not a Kubernetes API server") from None


def _probe_steps(api: Any, accepted: Accepted, remaining: Callable[[], float],
                 rules: Iterable[dict[str, Any]] | None) -> ProbeResult:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    result = ProbeResult()
    budget = remaining()
    try:
        answer = client.VersionApi(api).get_code(_request_timeout=budget,
                                                 _preload_content=False)
        info = _bounded_json(answer, remaining, accepted.server)
        result.version = str(info.get("gitVersion", "") if isinstance(info, dict) else "")
    except KubeconfigError:
        raise
    except Exception as exc:  # every failure becomes a code (see _classify)
        raise _classify(exc, accepted.server) from None
    authz = client.AuthorizationV1Api(api)
    for right in required_rights(driver_rules() if rules is None else rules):
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=right.verb, group=right.group, resource=right.resource,
                    subresource=right.subresource or None, name=right.name or None)))
        budget = remaining()
        try:
            raw = authz.create_self_subject_access_review(review, _request_timeout=budget,
                                                          _preload_content=False)
            answer = _bounded_json(raw, remaining, accepted.server)
        except KubeconfigError:
            raise
        except ApiException as exc:
            if exc.status == 403:
                # Every authenticated user may ask (``system:basic-user``): a refusal
                # means the server took the request as anonymous.
                raise KubeconfigError("cluster_unauthorized", server=accepted.server
                                      ) from None
            raise _classify(exc, accepted.server) from None
        except Exception as exc:
            raise _classify(exc, accepted.server) from None
        status = answer.get("status") if isinstance(answer, dict) else None
        if not (isinstance(status, dict) and status.get("allowed") is True):
            raise KubeconfigError("cluster_forbidden", right=str(right))
        result.checked.append(str(right))
    return result
