"""Registered clusters, what the review of issue 11 found: the check follows no redirect,
refuses shared address space, connects to the address it checked, leaves no key on disk,
says "refused" for a closed port; bad host names are a 400; the portal shares the API's
rate limit; a platform cluster's failure reaches tenants only as a code and generic words;
check results are stored as code and parameters and worded per reader; network create
locks the cluster it chose; registered clusters' drivers get no platform BAAS_KUBE_*.

The TLS servers here are local (``_TLSServer``): no kube-apiserver is needed.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import json
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
import yaml

from baas.errors import ValidationFailed
from deploy import crypto, services
from deploy.choices import ClusterStatus
from deploy.drivers import kubeconfig as kc
from deploy.drivers import registry
from deploy.drivers.kubernetes import KubernetesDriver
from deploy.models import Cluster, Network
from deploy.services import clusters
from deploy.tests.factories import ClusterFactory, MembershipFactory, NetworkFactory
from deploy.tests.test_clusters import client_for, kubeconfig, register

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttles():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def probe(monkeypatch, key_file, settings):
    """The cluster check, substituted (as in test_clusters): records what it was given;
    ``fail`` makes it refuse."""
    settings.BAAS_CLUSTER_ALLOW_PRIVATE = True

    class Probe:
        def __init__(self):
            self.calls: list[kc.Accepted] = []
            self.fail: kc.KubeconfigError | None = None

        def __call__(self, accepted, *, timeout, rules=None):
            self.calls.append(accepted)
            if self.fail is not None:
                raise self.fail
            return kc.ProbeResult(version="v1.34.2")

    fake = Probe()
    monkeypatch.setattr("deploy.drivers.kubeconfig.probe", fake)
    return fake


# --- a local TLS "API server" -------------------------------------------------------------


def _cert(tmp: Path, *, ip: str = "127.0.0.1", dns: str | None = None) -> tuple[bytes, Path,
                                                                                Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns or ip)])
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip))]
    if dns:
        sans = [x509.DNSName(dns)]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp / "c.pem").write_bytes(pem)
    (tmp / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return pem, tmp / "c.pem", tmp / "k.pem"


class _Plain(http.server.BaseHTTPRequestHandler):
    """Plain HTTP on loopback: what a redirect would lead to (it must never be hit)."""

    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"major":"1","minor":"30","gitVersion":"v-internal"}')

    def log_message(self, *args):
        pass


def _kube_handler(redirect_to: str | None, seen: list[dict], answer: str = "normal"):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append({"path": self.path, "host": self.headers.get("Host"),
                         "sni": getattr(self.connection, "server_name", None)})
            if answer == "drip":  # a valid version, one byte every 0.3 s for about 9 s
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"gitVersion": "v1.30.0')
                for _ in range(30):
                    time.sleep(0.3)
                    try:
                        self.wfile.write(b"0")
                        self.wfile.flush()
                    except OSError:
                        return  # the check hung up: what it should do
                self.wfile.write(b'"}')
                return
            if answer == "huge":  # valid JSON, 2 MiB of it
                self._json(200, {"gitVersion": "v1.30.0", "padding": "x" * (2 << 20)})
                return
            if redirect_to:
                self.send_response(302)
                self.send_header("Location", redirect_to + self.path)
                self.end_headers()
                return
            self._json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-local",
                             "gitCommit": "0" * 40, "gitTreeState": "clean",
                             "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22",
                             "compiler": "gc", "platform": "linux/amd64"})

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({"path": self.path, "body": body[:40]})
            if redirect_to:
                self.send_response(307)
                self.send_header("Location", redirect_to + self.path)
                self.end_headers()
                return
            self._json(201, {"apiVersion": "authorization.k8s.io/v1",
                             "kind": "SelfSubjectAccessReview", "spec": {},
                             "status": {"allowed": True}})

        def _json(self, code: int, doc: dict) -> None:
            raw = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    return Handler


class _TLSServer:
    def __init__(self, tmp: Path, *, redirect_to: str | None = None, dns: str | None = None,
                 answer: str = "normal"):
        self.pem, cert, key = _cert(tmp, dns=dns)
        self.seen: list[dict] = []
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), _kube_handler(redirect_to, self.seen, answer))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        names: list[str | None] = []
        ctx.sni_callback = lambda sock, name, _ctx: names.append(name)  # noqa: ARG005
        self.sni = names
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def kubeconfig(self, *, host: str = "127.0.0.1", user: dict | None = None) -> str:
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "clusters": [{"name": "c", "cluster": {
                "server": f"https://{host}:{self.port}",
                "certificate-authority-data": base64.b64encode(self.pem).decode()}}],
            "users": [{"name": "u", "user": user or {"token": "t0ken"}}],
        })

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def plain():
    _Plain.hits = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Plain)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]


# --- finding 2: no redirects, no retries, shared address space, pinned address, platform ----


def test_the_check_does_not_follow_a_redirect_to_loopback(tmp_path, plain):
    evil = _TLSServer(tmp_path, redirect_to=f"http://127.0.0.1:{plain.server_address[1]}/meta")
    try:
        accepted = kc.sanitize(evil.kubeconfig(), allow_private=True)
        with pytest.raises(kc.KubeconfigError) as refused:
            kc.probe(accepted, timeout=5, rules=RULES)
    finally:
        evil.close()
    assert refused.value.code == "cluster_unreachable"
    assert refused.value.params["reason"] == "HTTP 302"
    assert _Plain.hits == []  # the redirect's target was never asked
    assert len(evil.seen) == 1  # one request: no retry either


@pytest.mark.parametrize(("answer", "reason"), [("drip", "timeout"),
                                               ("huge", "answer too large")])
def test_the_check_cuts_off_a_dripping_or_huge_answer(tmp_path, answer, reason):
    """The socket timeout is per read: a server that sends a byte now and then would hold
    the web request for as long as it likes, and a huge answer would fill its memory. The
    check has one deadline for everything and a size cap (both answers are valid JSON: a
    check that waited for the end would pass)."""
    server = _TLSServer(tmp_path, answer=answer)
    try:
        accepted = kc.sanitize(server.kubeconfig(), allow_private=True)
        with pytest.raises(kc.KubeconfigError) as cut:
            kc.probe(accepted, timeout=1.5, rules=RULES)
    finally:
        server.close()
    assert cut.value.code == "cluster_unreachable"
    assert cut.value.params["reason"] == reason


@pytest.mark.parametrize("address", ["100.64.0.1", "100.127.255.254", "198.18.0.1",
                                     "192.0.2.10", "::ffff:100.64.0.1"])
def test_shared_and_other_non_global_addresses_are_private(address):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(kc.KubeconfigError) as refused:
        kc.sanitize(kubeconfig(server=f"https://{host}:6443"))
    assert refused.value.code == "cluster_server_private"
    with pytest.raises(kc.KubeconfigError) as by_name:
        kc.sanitize(kubeconfig(server="https://cgnat.example.test:6443"),
                    resolve=lambda host: [address])
    assert by_name.value.code == "cluster_server_private"


def test_the_check_connects_to_the_address_it_checked_with_the_name_for_tls(tmp_path):
    """A name is resolved once, in the check; TLS verifies the certificate against the name
    (and sends it as SNI and Host), the connection goes to the resolved address."""
    server = _TLSServer(tmp_path, dns="api.cluster.example.test")
    resolved: list[str] = []

    def resolve(host):
        resolved.append(host)
        return ["127.0.0.1"]

    try:
        accepted = kc.sanitize(server.kubeconfig(host="api.cluster.example.test"),
                               allow_private=True, resolve=resolve)
        result = kc.probe(accepted, timeout=5, rules=RULES, resolve=resolve)
    finally:
        server.close()
    assert result.version == "v1.30.0-local"
    assert resolved == ["api.cluster.example.test"]  # by the probe (sanitize skipped it)
    assert set(server.sni) == {"api.cluster.example.test"}  # SNI on every connection
    assert server.seen[0]["host"] == f"api.cluster.example.test:{server.port}"


def test_pinning_the_address_keeps_the_certificate_checked_against_the_name(tmp_path):
    server = _TLSServer(tmp_path, dns="api.cluster.example.test")
    try:
        accepted = kc.sanitize(server.kubeconfig(host="other.example.test"),
                               allow_private=True)
        with pytest.raises(kc.KubeconfigError) as refused:
            kc.probe(accepted, timeout=5, rules=RULES, resolve=lambda host: ["127.0.0.1"])
    finally:
        server.close()
    assert refused.value.code == "cluster_tls_failed"


def test_the_check_refuses_a_name_that_now_resolves_to_a_private_address():
    """DNS rebinding: public when registered, private when the check connects."""
    accepted = kc.sanitize(kubeconfig(server="https://rebind.example.test:6443"),
                           resolve=lambda host: ["93.184.216.34"])
    with pytest.raises(kc.KubeconfigError) as refused:
        kc.probe(accepted, timeout=5, resolve=lambda host: ["10.0.0.7"])
    assert refused.value.code == "cluster_server_private"


def test_platform_clusters_have_their_own_private_address_allowance(owner, probe, settings):
    settings.BAAS_CLUSTER_ALLOW_PRIVATE = False
    settings.BAAS_PLATFORM_CLUSTER_ALLOW_PRIVATE = True
    private = kubeconfig(server="https://10.1.2.3:6443")
    res = register(client_for(owner), private)
    assert res.status_code == 400 and res.json()["error"]["code"] == "cluster_server_private"
    cluster = clusters.cluster_register(tenant=None, actor=None, name="plat",
                                        kubeconfig=private)
    assert cluster.tenant_id is None and len(probe.calls) == 1
    assert probe.calls[0].allow_private is True

    settings.BAAS_PLATFORM_CLUSTER_ALLOW_PRIVATE = False
    with pytest.raises(ValidationFailed) as refused:
        clusters.cluster_register(tenant=None, actor=None, name="plat2", kubeconfig=private)
    assert refused.value.code == "cluster_server_private"


# --- finding 13 (probe side): no key left on disk ----------------------------------------------


def test_the_check_leaves_no_certificate_or_key_in_tmpdir(tmp_path, monkeypatch):
    import tempfile

    from kubernetes.config import kube_config

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    server = _TLSServer(tmp_path)
    cert_data, key_data = _client_pair()
    before = dict(kube_config._temp_files)
    try:
        accepted = kc.sanitize(server.kubeconfig(user={
            "client-certificate-data": cert_data, "client-key-data": key_data}),
            allow_private=True)
        kc.probe(accepted, timeout=5, rules=RULES)
        kc.probe(accepted, timeout=5, rules=RULES)
    finally:
        server.close()
    key_pem = base64.b64decode(key_data)
    left = [p for p in tmpdir.rglob("*") if p.is_file() and key_pem in p.read_bytes()]
    assert left == []
    assert list(tmpdir.iterdir()) == []
    assert kube_config._temp_files == before  # nothing cached for process exit either


def _client_pair() -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe-user")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return (base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode(),
            base64.b64encode(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())).decode())


# --- finding 15: refused is not a timeout ------------------------------------------------------


def test_a_closed_port_is_refused_not_a_timeout():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    accepted = kc.sanitize(kubeconfig(server=f"https://127.0.0.1:{port}"), allow_private=True)
    with pytest.raises(kc.KubeconfigError) as refused:
        kc.probe(accepted, timeout=5, rules=RULES)
    assert refused.value.code == "cluster_unreachable"
    assert refused.value.params["reason"] == "refused"


# --- finding 10: host names the IDNA codec refuses ----------------------------------------------


@pytest.mark.parametrize("private", [False, True])
@pytest.mark.parametrize("server", ["https://" + "a" * 64 + ".example.com:6443",
                                    "https://a..b:6443"])
def test_a_bad_host_name_is_a_400_with_a_stable_code(owner, probe, settings, server, private):
    settings.BAAS_CLUSTER_ALLOW_PRIVATE = private
    client = client_for(owner)
    client.raise_request_exception = False
    res = register(client, kubeconfig(server=server))
    assert res.status_code == 400, res.content
    assert res.json()["error"]["code"] == "cluster_server_invalid_host"
    assert probe.calls == [] and not Cluster.objects.exists()


# --- finding 11: the portal shares the API's rate limit -----------------------------------------


def test_portal_registration_is_rate_limited_like_the_api(client, probe, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "cluster_check": "3/minute"}}
    probe.fail = kc.KubeconfigError("cluster_unreachable", server="https://x", reason="timeout")
    member = MembershipFactory(role="owner")
    client.force_login(member.user)
    codes = [client.post("/clusters/", {"name": f"c{i}", "kubeconfig": kubeconfig(),
                                        "context": ""}).status_code for i in range(5)]
    assert codes == [400, 400, 400, 429, 429]
    assert len(probe.calls) == 3
    res = client.post("/clusters/", {"name": "c9", "kubeconfig": kubeconfig(), "context": ""})
    assert "Too many attempts" in res.content.decode()
    # The API counts in the same entry: no fresh allowance there either.
    api = client_for(member)
    assert register(api, kubeconfig(), name="api1").status_code == 429
    assert len(probe.calls) == 3


def test_portal_recheck_is_rate_limited_like_the_api(client, probe, settings, owner):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "cluster_check": "2/minute"}}
    assert register(client_for(owner), kubeconfig()).status_code == 201  # 1 of 2 (create)
    cluster = Cluster.objects.get()
    client.force_login(owner.user)
    calls = len(probe.calls)
    for _ in range(4):
        res = client.post(f"/clusters/{cluster.pk}/check/", follow=True)
    assert len(probe.calls) == calls + 2
    assert "Too many attempts" in res.content.decode()


# --- findings 12 and 18: code + parameters, worded per reader; platform details hidden ---------


def _failing(tenant, *, code="cluster_unreachable", params=None) -> Cluster:
    return ClusterFactory(tenant=tenant, status=ClusterStatus.FAILING,
                          last_error_code=code,
                          last_error_params=params if params is not None else {
                              "server": "https://10.20.30.40:6443", "reason": "timeout"})


def test_a_platform_clusters_failure_reaches_tenants_as_code_and_generic_words(owner, client):
    _failing(None)
    listed = client_for(owner).get("/api/v1/clusters/").json()["results"]
    (error,) = [c["error"] for c in listed]
    assert error["code"] == "cluster_unreachable"
    assert "10.20.30.40" not in error["message"] and "platform" in error["message"]
    client.force_login(owner.user)
    page = client.get("/clusters/").content.decode()
    assert "10.20.30.40" not in page
    # Staff (the operator's command) see what failed.
    text = clusters.cluster_error(cluster=Cluster.objects.get(), staff=True)["message"]
    assert "10.20.30.40" in text


def test_a_tenants_own_failure_is_worded_in_each_readers_language(owner, client):
    cluster = _failing(owner.tenant, params={"server": "https://93.184.216.34:6443",
                                             "reason": "refused"})
    api = client_for(owner)
    en = api.get(f"/api/v1/clusters/{cluster.pk}/", HTTP_ACCEPT_LANGUAGE="en").json()
    ko = api.get(f"/api/v1/clusters/{cluster.pk}/", HTTP_ACCEPT_LANGUAGE="ko").json()
    assert en["error"]["code"] == ko["error"]["code"] == "cluster_unreachable"
    assert "93.184.216.34" in en["error"]["message"]
    assert "connection was refused" in en["error"]["message"]
    assert "93.184.216.34" in ko["error"]["message"]
    assert ko["error"]["message"] != en["error"]["message"]
    assert "connection was refused" not in ko["error"]["message"]
    client.force_login(owner.user)
    page = client.get("/clusters/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert ko["error"]["message"].split("(")[0].strip() in page.replace("&#x27;", "'")


def test_a_recheck_stores_code_and_parameters_not_words(owner, probe):
    assert register(client_for(owner), kubeconfig()).status_code == 201
    cluster = Cluster.objects.get()
    probe.fail = kc.KubeconfigError("cluster_forbidden", right="create namespaces")
    res = client_for(owner).post(f"/api/v1/clusters/{cluster.pk}/check/",
                                 HTTP_ACCEPT_LANGUAGE="ko")
    assert res.json()["status"] == "failing"
    cluster.refresh_from_db()
    assert cluster.last_error_code == "cluster_forbidden"
    assert cluster.last_error_params == {"right": "create namespaces"}
    en = client_for(owner).get(f"/api/v1/clusters/{cluster.pk}/").json()["error"]["message"]
    assert "cannot create namespaces" in en


def test_cluster_not_found_is_translated(owner):
    res = client_for(owner).post("/api/v1/networks/", {
        "name": "n1", "validators": 1, "driver": "kubernetes",
        "cluster": "00000000-0000-0000-0000-000000000000"}, format="json")
    assert res.json()["error"]["code"] == "cluster_unknown"
    from django.utils import translation

    from baas.errors import NotFound
    from deploy import selectors

    with translation.override("ko"), pytest.raises(NotFound) as missing:
        selectors.cluster_get(tenant=owner.tenant, cluster_id="not-a-uuid")
    assert missing.value.message != "Cluster not found."


# --- finding 17: network create locks the cluster it chose ---------------------------------------


def test_a_failing_cluster_cannot_be_chosen(owner, probe):
    cluster = _failing(owner.tenant)
    res = client_for(owner).post("/api/v1/networks/", {
        "name": "n1", "validators": 1, "driver": "kubernetes", "cluster": str(cluster.pk)},
        format="json")
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "cluster_failing"
    assert not Network.objects.exists()


def test_a_cluster_removed_during_create_is_cluster_unknown_not_name_taken(owner, monkeypatch):
    cluster = ClusterFactory(tenant=owner.tenant)
    chosen = clusters.cluster_for_network

    def choose_then_lose(**kwargs):
        found = chosen(**kwargs)
        Cluster.objects.filter(pk=found.pk).delete()  # removed by another request meanwhile
        return found

    monkeypatch.setattr(services, "cluster_for_network", choose_then_lose)
    monkeypatch.setattr("deploy.tasks.network_provision_task.delay", lambda *a: None)
    with pytest.raises(ValidationFailed) as refused:
        services.network_create(tenant=owner.tenant, actor=owner.user, spec=services.NetworkSpec(
            name="n1", validators=1, driver="kubernetes", cluster=str(cluster.pk)))
    assert refused.value.code == "cluster_unknown"
    assert not Network.objects.exists()


def test_a_cluster_marked_failing_during_create_is_refused(owner, monkeypatch):
    cluster = ClusterFactory(tenant=owner.tenant)
    chosen = clusters.cluster_for_network

    def choose_then_fail(**kwargs):
        found = chosen(**kwargs)
        Cluster.objects.filter(pk=found.pk).update(status=ClusterStatus.FAILING)
        return found

    monkeypatch.setattr(services, "cluster_for_network", choose_then_fail)
    with pytest.raises(ValidationFailed) as refused:
        services.network_create(tenant=owner.tenant, actor=owner.user, spec=services.NetworkSpec(
            name="n1", validators=1, driver="kubernetes", cluster=str(cluster.pk)))
    assert refused.value.code == "cluster_failing"


# --- finding 4: platform BAAS_KUBE_* settings stay out of registered clusters ------------------


@pytest.fixture
def platform_kube_settings(settings, key_file):
    settings.BAAS_INSTALL_ID = "install-1"
    settings.BAAS_KUBE_CONTEXT = "platform-ctx"
    settings.BAAS_KUBE_STORAGE_CLASS = "platform-sc"
    settings.BAAS_KUBE_CONTROL_PLANE_NAMESPACE = "platform-ns"
    registry.reset_cache()
    yield settings
    registry.reset_cache()


def _on_cluster(owner) -> Network:
    sealed = crypto.seal(json.dumps(kc.sanitize(kubeconfig()).kubeconfig).encode())
    cluster = ClusterFactory(tenant=owner.tenant, sealed_kubeconfig=sealed)
    return NetworkFactory(tenant=owner.tenant, driver="kubernetes", cluster=cluster)


def test_a_registered_clusters_driver_ignores_the_platforms_context_and_namespace(
        owner, platform_kube_settings):
    driver = registry.driver_for(_on_cluster(owner))
    assert isinstance(driver, KubernetesDriver)
    assert driver.context == "prod"  # the kubeconfig's own
    assert driver.control_plane_namespace == "baas"
    assert driver.in_cluster is False


def test_a_registered_clusters_driver_ignores_the_platforms_storage_class(
        owner, platform_kube_settings):
    assert registry.driver_for(_on_cluster(owner)).storage_class is None


def test_shared_driver_settings_are_part_of_the_cache_version(owner, platform_kube_settings):
    network = _on_cluster(owner)
    first = registry.driver_for(network)
    assert registry.driver_for(network) is first
    platform_kube_settings.BAAS_KUBE_NODE_IMAGE = "registry.example.test/node"
    second = registry.driver_for(network)
    assert second is not first and second.image == "registry.example.test/node"
    platform_kube_settings.BAAS_CLUSTER_ALLOW_PRIVATE = True  # the rule it was built under
    assert registry.driver_for(network) is not second


@pytest.mark.parametrize("address", [
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "fec0::1",  # site-local
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
])
def test_ipv6_addresses_leading_to_private_ones_are_private(address):
    assert kc._address_is_private(address)
    with pytest.raises(kc.KubeconfigError) as refused:
        kc.sanitize(kubeconfig(server=f"https://[{address}]:6443"))
    assert refused.value.code == "cluster_server_private"


@pytest.mark.parametrize("address", ["2002:5db8:d822::1", "2606:2800:220:1:248:1893:25c8:1946",
                                     "93.184.216.34"])
def test_public_addresses_and_ipv6_forms_of_them_stay_public(address):
    assert not kc._address_is_private(address)
