"""Registered Kubernetes clusters: what a kubeconfig may contain, the check against the
cluster, who may register, check and remove one, tenant isolation, networks on a cluster,
and the driver ``driver_for`` builds from it.

Tests marked ``kubernetes`` run the check against the real kube-apiserver of
``scripts/kube-test-env.sh`` (``kube_env``); the others substitute ``probe``.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import UTC
from pathlib import Path

import pytest
import yaml
from rest_framework.test import APIClient

from baas.testing import token_client
from deploy import crypto
from deploy.choices import ClusterStatus, NetworkStatus
from deploy.drivers import DriverError, registry
from deploy.drivers import kubeconfig as kc
from deploy.models import Cluster, Network
from deploy.tests.factories import ClusterFactory, MembershipFactory, NetworkFactory
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db

SECRET_TOKEN = "s3cret-token-" + "x" * 20  # noqa: S105 -- a marker to search logs for


def _pem_pair() -> tuple[str, str]:
    """A self-signed certificate and its key, base64 of PEM as in a kubeconfig."""
    from datetime import datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return (base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode(),
            base64.b64encode(key_pem).decode())


CA_DATA, KEY_DATA = _pem_pair()
NOT_PEM = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot a real ca\n").decode()


def kubeconfig(*, server: str = "https://93.184.216.34:6443", cluster: dict | None = None,
               user: dict | None = None, context: str | None = "prod",
               extra: dict | None = None) -> str:
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c1", "cluster": {
            "server": server, "certificate-authority-data": CA_DATA, **(cluster or {})}}],
        "users": [{"name": "u1", "user": user if user is not None else {"token": SECRET_TOKEN}}],
        "contexts": [{"name": "prod", "context": {"cluster": "c1", "user": "u1"}}],
        **(extra or {}),
    }
    if context is None:
        del doc["current-context"]
    return yaml.safe_dump(doc)


def client_for(member) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=member.user)
    return client


def _token(member, scopes: list[str]) -> APIClient:
    from tenants import services as tenant_services

    _row, raw = tenant_services.token_create(
        tenant=member.tenant, actor=member.user, membership=member,
        name=f"t-{uuid.uuid4().hex[:8]}", scopes=scopes)
    return token_client(raw)


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Registration and re-checks are rate-limited per user (counted in the cache)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def allow_private(settings):
    settings.BAAS_CLUSTER_ALLOW_PRIVATE = True


@pytest.fixture
def probe(monkeypatch, key_file, allow_private):
    """The cluster check, substituted: records what it was given; ``fail`` makes it refuse."""

    class Probe:
        calls: list[kc.Accepted] = []
        fail: kc.KubeconfigError | None = None

        def __call__(self, accepted, *, timeout, rules=None):
            self.calls.append(accepted)
            assert 0 < timeout <= 60
            if self.fail is not None:
                raise self.fail
            return kc.ProbeResult(version="v1.34.2")

    fake = Probe()
    fake.calls = []
    monkeypatch.setattr("deploy.drivers.kubeconfig.probe", fake)
    return fake


def register(client, text: str, name: str = "prod", **extra):
    return client.post("/api/v1/clusters/", {"name": name, "kubeconfig": text, **extra},
                       format="json")


# --- refusals before anything is contacted --------------------------------------------------

REFUSED = [
    ("too-large", "x: " + "a" * (64 * 1024), "cluster_kubeconfig_too_large"),
    ("empty", "   ", "cluster_kubeconfig_invalid"),
    ("unparsable", "clusters: [\n  - {name: c1", "cluster_kubeconfig_invalid"),
    ("not-a-mapping", "- just\n- a list\n", "cluster_kubeconfig_invalid"),
    ("no-context", kubeconfig(context=None), "cluster_kubeconfig_incomplete"),
    ("unknown-context", kubeconfig(context="staging"), "cluster_kubeconfig_incomplete"),
    ("no-cluster", kubeconfig(extra={"clusters": []}), "cluster_kubeconfig_incomplete"),
    ("no-user", kubeconfig(extra={"users": []}), "cluster_kubeconfig_incomplete"),
    ("no-server", kubeconfig(server=""), "cluster_kubeconfig_incomplete"),
    ("no-credentials", kubeconfig(user={"username": "bob"}), "cluster_kubeconfig_incomplete"),
    ("cert-without-key", kubeconfig(user={"client-certificate-data": CA_DATA, "token": "t"}),
     "cluster_kubeconfig_incomplete"),
    ("exec", kubeconfig(user={"exec": {"command": "/bin/sh", "args": ["-c", "id"]}}),
     "cluster_plugin_refused"),
    ("auth-provider", kubeconfig(user={"auth-provider": {"name": "gcp"}, "token": "t"}),
     "cluster_plugin_refused"),
    ("ca-file", kubeconfig(cluster={"certificate-authority": "/etc/shadow"}),
     "cluster_file_reference"),
    ("client-cert-file", kubeconfig(user={"client-certificate": "/etc/ssl/a.crt",
                                          "client-key-data": CA_DATA}),
     "cluster_file_reference"),
    ("client-key-file", kubeconfig(user={"client-key": "/var/secrets/k",
                                         "client-certificate-data": CA_DATA}),
     "cluster_file_reference"),
    ("token-file", kubeconfig(user={"tokenFile": "/var/run/secrets/token"}),
     "cluster_file_reference"),
    ("insecure", kubeconfig(cluster={"insecure-skip-tls-verify": True}),
     "cluster_insecure_tls"),
    ("proxy", kubeconfig(cluster={"proxy-url": "http://10.0.0.1:3128"}),
     "cluster_proxy_refused"),
    ("http", kubeconfig(server="http://93.184.216.34:6443"), "cluster_server_not_https"),
    ("bad-port", kubeconfig(server="https://93.184.216.34:http"), "cluster_server_not_https"),
    ("token-not-text", kubeconfig(user={"token": ["a", "b"]}), "cluster_kubeconfig_invalid"),
    ("ca-not-base64", kubeconfig(cluster={"certificate-authority-data": "!!!x"}),
     "cluster_kubeconfig_invalid"),
    ("ca-not-pem", kubeconfig(cluster={"certificate-authority-data": NOT_PEM}),
     "cluster_kubeconfig_invalid"),
    ("key-not-a-key", kubeconfig(user={"client-certificate-data": CA_DATA,
                                       "client-key-data": CA_DATA}),
     "cluster_kubeconfig_invalid"),
    ("basic-auth-only", kubeconfig(user={"username": "admin", "password": "pw"}),
     "cluster_kubeconfig_incomplete"),
    ("password-in-server", kubeconfig(server="https://admin:" + SECRET_TOKEN
                                      + "@93.184.216.34:6443"), "cluster_kubeconfig_invalid"),
    ("deeply-nested", "a: " + "[" * 20000 + "]" * 20000, "cluster_kubeconfig_invalid"),
]


@pytest.mark.parametrize("text, code", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_a_refused_kubeconfig_stores_nothing_and_says_why(owner, probe, text, code):
    res = register(client_for(owner), text)
    assert res.status_code == 400, res.content
    error = res.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["message"] != code  # words, not the code again
    assert SECRET_TOKEN not in res.content.decode()
    assert probe.calls == []  # refused before anything was contacted
    assert not Cluster.objects.exists()
    assert not AuditEvent.objects.filter(action="cluster.register").exists()


def test_a_lone_surrogate_is_refused_not_a_server_error(owner, probe):
    res = client_for(owner).post(
        "/api/v1/clusters/", data='{"name": "prod", "kubeconfig": "clusters: \\ud800"}',
        content_type="application/json")
    assert res.status_code == 400, res.content
    assert res.json()["error"]["code"] == "invalid_unicode"  # the API's parser says it
    assert not Cluster.objects.exists()


@pytest.mark.parametrize("server", [
    "https://127.0.0.1:6443", "https://10.1.2.3", "https://172.16.0.9:443",
    "https://192.168.1.1:6443", "https://169.254.169.254", "https://[::1]:6443",
    "https://[fe80::1]:6443", "https://[::ffff:10.0.0.1]:6443", "https://0.0.0.0:6443",
    "https://localhost:6443",
])
def test_private_servers_are_refused_unless_the_operator_allows_them(
        owner, probe, settings, server):
    settings.BAAS_CLUSTER_ALLOW_PRIVATE = False
    res = register(client_for(owner), kubeconfig(server=server))
    assert res.status_code == 400, res.content
    assert res.json()["error"]["code"] == "cluster_server_private"
    assert probe.calls == [] and not Cluster.objects.exists()

    settings.BAAS_CLUSTER_ALLOW_PRIVATE = True
    res = register(client_for(owner), kubeconfig(server=server))
    assert res.status_code == 201, res.content


def test_an_inline_client_certificate_is_accepted():
    accepted = kc.sanitize(kubeconfig(user={"client-certificate-data": CA_DATA,
                                            "client-key-data": KEY_DATA}))
    assert accepted.kubeconfig["users"][0]["user"] == {
        "client-certificate-data": CA_DATA, "client-key-data": KEY_DATA}


def test_a_name_resolving_to_a_private_address_is_refused():
    with pytest.raises(kc.KubeconfigError) as refused:
        kc.sanitize(kubeconfig(server="https://k8s.example.test:6443"),
                    resolve=lambda host: ["93.184.216.34", "10.0.0.7"])
    assert refused.value.code == "cluster_server_private"
    accepted = kc.sanitize(kubeconfig(server="https://k8s.example.test:6443"),
                           resolve=lambda host: ["93.184.216.34"])
    assert accepted.server == "https://k8s.example.test:6443"


def test_only_the_chosen_context_and_harmless_keys_are_kept():
    doc = yaml.safe_load(kubeconfig(user={"token": SECRET_TOKEN, "as": "system:admin"},
                                    cluster={"extensions": [{"name": "x"}]}))
    doc["contexts"].append({"name": "other", "context": {"cluster": "c2", "user": "u2"}})
    doc["clusters"].append({"name": "c2", "cluster": {"server": "https://93.184.216.35"}})
    doc["users"].append({"name": "u2", "user": {"exec": {"command": "evil"}}})
    accepted = kc.sanitize(yaml.safe_dump(doc), context="prod")
    assert accepted.context == "prod"
    assert accepted.kubeconfig["clusters"] == [{"name": "c1", "cluster": {
        "server": "https://93.184.216.34:6443", "certificate-authority-data": CA_DATA}}]
    assert accepted.kubeconfig["users"] == [{"name": "u1", "user": {"token": SECRET_TOKEN}}]
    assert [c["name"] for c in accepted.kubeconfig["contexts"]] == ["prod"]
    # The other context is refused when chosen, though unused above.
    with pytest.raises(kc.KubeconfigError) as refused:
        kc.sanitize(yaml.safe_dump(doc), context="other")
    assert refused.value.code == "cluster_plugin_refused"


def test_the_rights_checked_are_the_driver_rules_in_order():
    rights = kc.required_rights([
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create", "delete"]},
        {"apiGroups": ["", "apps"], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["update"],
         "resourceNames": ["baas-reconciler"]},
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
    ])
    assert [str(r) for r in rights] == [
        "create namespaces", "delete namespaces", "get pods/log", "get pods/log (apps)",
        "update leases 'baas-reconciler' (coordination.k8s.io)"]


# --- registration, check, delete -----------------------------------------------------------


def test_registration_seals_the_kubeconfig_and_never_shows_it(owner, probe, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(owner)
    res = register(client, kubeconfig())
    assert res.status_code == 201, res.content
    body = res.json()
    assert body["name"] == "prod" and body["status"] == ClusterStatus.READY
    assert body["server"] == "https://93.184.216.34:6443" and body["platform"] is False
    assert body["error"] is None and body["last_checked_at"]
    assert res["Location"] == f"/api/v1/clusters/{body['id']}/"

    cluster = Cluster.objects.get()
    assert cluster.tenant == owner.tenant and cluster.created_by == owner.user
    sealed = bytes(cluster.sealed_kubeconfig)
    assert SECRET_TOKEN.encode() not in sealed and CA_DATA.encode() not in sealed
    stored = json.loads(crypto.unseal(sealed))
    assert stored["users"][0]["user"] == {"token": SECRET_TOKEN}
    assert probe.calls[0].kubeconfig == stored  # what is stored is what was checked

    everything = [
        res.content, client.get("/api/v1/clusters/").content,
        client.get(f"/api/v1/clusters/{cluster.pk}/").content,
        client.post(f"/api/v1/clusters/{cluster.pk}/check/").content,
        register(client, kubeconfig(), name="prod").content,  # name taken
        json.dumps(list(AuditEvent.objects.values("action", "metadata")), default=str).encode(),
        "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records).encode(),
    ]
    for blob in everything:
        assert SECRET_TOKEN.encode() not in blob
        assert CA_DATA.encode() not in blob
    assert set(body) == {"id", "name", "platform", "server", "status", "last_checked_at",
                         "error", "created_at", "updated_at"}
    audit = AuditEvent.objects.get(action="cluster.register")
    assert audit.metadata["server"] == "https://93.184.216.34:6443"
    assert audit.tenant == owner.tenant


def test_registering_and_checking_are_rate_limited(owner, probe):
    client = client_for(owner)
    cluster_id = register(client, kubeconfig()).json()["id"]
    answers = [client.post(f"/api/v1/clusters/{cluster_id}/check/").status_code
               for _ in range(11)]
    assert answers == [200] * 10 + [429]
    assert len(probe.calls) == 11  # registration and ten checks; the refused one never ran
    for n in range(9):  # registrations count on their own, per user: ten a minute
        assert register(client, kubeconfig(), name=f"more-{n}").status_code == 201
    res = register(client, kubeconfig(), name="one-too-many")
    assert res.status_code == 429 and res.json()["error"]["code"] == "throttled"
    assert not Cluster.objects.filter(name="one-too-many").exists()


def test_a_taken_name_is_a_conflict(owner, probe):
    client = client_for(owner)
    assert register(client, kubeconfig()).status_code == 201
    res = register(client, kubeconfig())
    assert res.status_code == 409 and res.json()["error"]["code"] == "cluster_name_taken"
    assert register(client, kubeconfig(), name="Not A Name").json()["error"]["code"] \
        == "invalid_name"
    assert Cluster.objects.count() == 1


def test_a_failed_check_stores_nothing(owner, probe):
    probe.fail = kc.KubeconfigError("cluster_forbidden", right="create namespaces")
    res = register(client_for(owner), kubeconfig())
    assert res.status_code == 400
    error = res.json()["error"]
    assert error["code"] == "cluster_forbidden"
    assert "cannot create namespaces" in error["message"]
    assert error["details"] == {"right": "create namespaces"}
    assert not Cluster.objects.exists()


def test_recheck_updates_the_status(owner, probe):
    client = client_for(owner)
    cluster_id = register(client, kubeconfig()).json()["id"]
    probe.fail = kc.KubeconfigError("cluster_unauthorized", server="https://93.184.216.34:6443")
    res = client.post(f"/api/v1/clusters/{cluster_id}/check/")
    assert res.status_code == 200, res.content
    assert res.json()["status"] == ClusterStatus.FAILING
    assert res.json()["error"]["code"] == "cluster_unauthorized"
    assert Cluster.objects.get().status == ClusterStatus.FAILING
    probe.fail = None
    res = client.post(f"/api/v1/clusters/{cluster_id}/check/")
    assert res.json()["status"] == ClusterStatus.READY and res.json()["error"] is None
    assert AuditEvent.objects.filter(action="cluster.check").count() == 2


def test_recheck_of_credentials_sealed_under_a_lost_key_says_so(owner, probe):
    cluster = ClusterFactory(tenant=owner.tenant)  # placeholder bytes: no key opens them
    res = client_for(owner).post(f"/api/v1/clusters/{cluster.pk}/check/")
    assert res.status_code == 200
    assert res.json()["error"]["code"] == "cluster_credentials_unreadable"


ROLES = [("owner", True), ("admin", True), ("developer", False), ("viewer", False)]


@pytest.mark.parametrize("role, allowed", ROLES)
def test_only_admins_and_owners_change_clusters(probe, role, allowed):
    member = MembershipFactory(role=role)
    existing = ClusterFactory(tenant=member.tenant)
    client = client_for(member)
    assert client.get("/api/v1/clusters/").status_code == 200  # everyone reads
    assert client.get(f"/api/v1/clusters/{existing.pk}/").status_code == 200
    created = register(client, kubeconfig())
    checked = client.post(f"/api/v1/clusters/{existing.pk}/check/")
    deleted = client.delete(f"/api/v1/clusters/{existing.pk}/")
    if allowed:
        assert (created.status_code, checked.status_code, deleted.status_code) == \
            (201, 200, 204)
        return
    for res in (created, checked, deleted):
        assert res.status_code == 403, res.content
        assert res.json()["error"]["code"] == "permission_denied"
    assert list(Cluster.objects.values_list("pk", flat=True)) == [existing.pk]
    assert probe.calls == []


@pytest.mark.parametrize("scopes, missing", [
    (["read"], "write"), (["read", "write"], "deploy"), (["read", "write", "deploy"], None)])
def test_tokens_need_the_deploy_scope_to_change_clusters(owner, probe, scopes, missing):
    existing = ClusterFactory(tenant=owner.tenant)
    client = _token(owner, scopes)
    assert client.get("/api/v1/clusters/").status_code == 200
    results = [register(client, kubeconfig()),
               client.post(f"/api/v1/clusters/{existing.pk}/check/"),
               client.delete(f"/api/v1/clusters/{existing.pk}/")]
    if missing is None:
        assert [r.status_code for r in results] == [201, 200, 204]
        return
    for res in results:
        assert res.status_code == 403, res.content
        assert res.json()["error"]["code"] == "insufficient_scope"
        assert res.json()["error"]["details"] == {"required_scope": missing}
    assert list(Cluster.objects.values_list("pk", flat=True)) == [existing.pk]


def test_another_tenant_cannot_see_check_delete_or_use_a_cluster(owner, probe, monkeypatch):
    monkeypatch.setattr("deploy.services.AVAILABLE_DRIVERS", ("local", "kubernetes"))
    theirs = ClusterFactory(tenant=MembershipFactory(role="owner").tenant)
    client = client_for(owner)
    assert client.get("/api/v1/clusters/").json()["results"] == []
    for method, url in [("get", f"/api/v1/clusters/{theirs.pk}/"),
                        ("delete", f"/api/v1/clusters/{theirs.pk}/"),
                        ("post", f"/api/v1/clusters/{theirs.pk}/check/")]:
        res = getattr(client, method)(url)
        assert res.status_code == 404, (method, url)
        assert res.json()["error"]["code"] == "not_found"

    def create(cluster_id):
        return client.post("/api/v1/networks/", {
            "name": f"n{uuid.uuid4().hex[:6]}", "validators": 1, "driver": "kubernetes",
            "cluster": cluster_id}, format="json")

    other, unknown, garbage = create(str(theirs.pk)), create(str(uuid.uuid4())), create("x'")
    for res in (other, unknown, garbage):
        assert res.status_code == 400, res.content
        assert res.json()["error"]["code"] == "cluster_unknown"
        assert res.json()["error"]["message"] == other.json()["error"]["message"]
    assert not Network.objects.exists()
    assert Cluster.objects.get().tenant_id == theirs.tenant_id and \
        Cluster.objects.get().status == ClusterStatus.READY  # untouched


def test_platform_clusters_are_listed_and_usable_but_not_changed_by_tenants(
        owner, probe, monkeypatch):
    monkeypatch.setattr("deploy.services.AVAILABLE_DRIVERS", ("local", "kubernetes"))
    shared = ClusterFactory(tenant=None, name="shared")
    client = client_for(owner)
    listed = client.get("/api/v1/clusters/").json()["results"]
    assert [(c["name"], c["platform"], c["server"]) for c in listed] == [("shared", True, None)]
    res = client.post(f"/api/v1/clusters/{shared.pk}/check/")
    assert res.status_code == 403 and res.json()["error"]["code"] == "cluster_platform_managed"
    res = client.delete(f"/api/v1/clusters/{shared.pk}/")
    assert res.status_code == 403 and Cluster.objects.filter(pk=shared.pk).exists()
    res = client.post("/api/v1/networks/", {"name": "on-shared", "validators": 1,
                                            "driver": "kubernetes", "cluster": str(shared.pk)},
                      format="json")
    assert res.status_code == 202, res.content
    assert res.json()["network"]["cluster"] == str(shared.pk)
    assert Network.objects.get().cluster == shared


def test_a_cluster_needs_the_kubernetes_driver(owner, probe):
    mine = ClusterFactory(tenant=owner.tenant)
    res = client_for(owner).post("/api/v1/networks/", {
        "name": "n1", "validators": 1, "driver": "local", "cluster": str(mine.pk)},
        format="json")
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "cluster_driver_mismatch"
    assert not Network.objects.exists()


def test_deleting_a_cluster_networks_use_is_refused(owner, probe):
    cluster = ClusterFactory(tenant=owner.tenant)
    network = NetworkFactory(tenant=owner.tenant, driver="kubernetes", cluster=cluster,
                             status=NetworkStatus.DELETING)
    client = client_for(owner)
    res = client.delete(f"/api/v1/clusters/{cluster.pk}/")
    assert res.status_code == 409
    assert res.json()["error"]["code"] == "cluster_in_use"
    assert res.json()["error"]["details"] == {"networks": [network.name]}
    assert Cluster.objects.filter(pk=cluster.pk).exists()

    Network.objects.filter(pk=network.pk).update(status=NetworkStatus.DELETED)
    assert client.delete(f"/api/v1/clusters/{cluster.pk}/").status_code == 204
    assert not Cluster.objects.exists()
    network.refresh_from_db()
    assert network.cluster is None
    assert AuditEvent.objects.filter(action="cluster.delete").exists()


# --- the driver of a network on a cluster ---------------------------------------------------


@pytest.fixture
def built(monkeypatch, key_file, settings):
    """``registry.get_driver`` substituted: each build is recorded with its options."""
    settings.BAAS_INSTALL_ID = "install-1"
    registry.reset_cache()
    builds: list[tuple[str, dict]] = []

    def get_driver(name, **options):
        builds.append((name, options))
        return object()

    monkeypatch.setattr("deploy.drivers.registry.get_driver", get_driver)
    yield builds
    registry.reset_cache()


def _sealed(token: str) -> bytes:
    return crypto.seal(json.dumps(kc.sanitize(kubeconfig(user={"token": token})).kubeconfig)
                       .encode())


def test_driver_for_uses_the_clusters_kubeconfig_cached_until_it_changes(owner, built):
    cluster = ClusterFactory(tenant=owner.tenant, sealed_kubeconfig=_sealed("first"))
    network = NetworkFactory(tenant=owner.tenant, driver="kubernetes", cluster=cluster)
    driver = registry.driver_for(network)
    assert registry.driver_for(network) is driver  # one driver per cluster and process
    (name, options), = built
    assert name == "kubernetes" and options["install_id"] == "install-1"
    assert options["kubeconfig"]["users"][0]["user"] == {"token": "first"}

    # Rotated credentials take effect at the next call, without a restart.
    Cluster.objects.filter(pk=cluster.pk).update(sealed_kubeconfig=_sealed("second"))
    assert registry.driver_for(network) is not driver
    assert built[-1][1]["kubeconfig"]["users"][0]["user"] == {"token": "second"}

    # Another network on the same cluster shares its driver.
    sibling = NetworkFactory(tenant=owner.tenant, driver="kubernetes", cluster=cluster)
    registry.driver_for(sibling)
    assert len(built) == 2


def test_driver_for_applies_the_registration_rules_again(owner, built, settings):
    settings.BAAS_CLUSTER_ALLOW_PRIVATE = True
    private = crypto.seal(json.dumps(kc.sanitize(
        kubeconfig(server="https://10.0.0.5:6443"), allow_private=True).kubeconfig).encode())
    cluster = ClusterFactory(tenant=owner.tenant, sealed_kubeconfig=private)
    network = NetworkFactory(tenant=owner.tenant, driver="kubernetes", cluster=cluster)
    settings.BAAS_CLUSTER_ALLOW_PRIVATE = False  # the operator tightened the rules since
    with pytest.raises(DriverError) as refused:
        registry.driver_for(network)
    assert refused.value.code == "cluster_refused"
    assert "cluster_server_private" in refused.value.message
    assert built == []


def test_driver_for_without_a_cluster_uses_the_platform_defaults(owner, built):
    registry.driver_for(NetworkFactory(tenant=owner.tenant, driver="kubernetes"))
    registry.driver_for(NetworkFactory(tenant=owner.tenant, driver="local"))
    assert built == [("kubernetes", {}), ("local", {})]


def test_driver_for_never_uses_a_tenants_cluster_for_another_tenant(owner, built):
    theirs = ClusterFactory(tenant=MembershipFactory().tenant, sealed_kubeconfig=_sealed("t"))
    # A row the services would never write: the driver refuses it anyway.
    network = NetworkFactory(tenant=owner.tenant, driver="kubernetes", cluster=theirs)
    with pytest.raises(DriverError) as refused:
        registry.driver_for(network)
    assert refused.value.code == "cluster_not_allowed"
    assert built == []
    shared = ClusterFactory(tenant=None, sealed_kubeconfig=_sealed("p"))
    Network.objects.filter(pk=network.pk).update(cluster=shared)
    network.refresh_from_db()
    registry.driver_for(network)
    assert built[0][1]["kubeconfig"]["users"][0]["user"] == {"token": "p"}


# --- against a real kube-apiserver ----------------------------------------------------------


def inline(path: str, *, token: str | None = None, ca: bool = True,
           server: str | None = None) -> str:
    """A kube-test-env kubeconfig with its CA file put inline (file references are refused)."""
    doc = yaml.safe_load(Path(path).read_text())
    for entry in doc["clusters"]:
        ca_file = entry["cluster"].pop("certificate-authority", None)
        if ca and ca_file:
            entry["cluster"]["certificate-authority-data"] = base64.b64encode(
                Path(ca_file).read_bytes()).decode()
        if server:
            entry["cluster"]["server"] = server
    if token:
        for entry in doc["users"]:
            entry["user"] = {"token": token}
    return yaml.safe_dump(doc)


def _server(path: str) -> str:
    return yaml.safe_load(Path(path).read_text())["clusters"][0]["cluster"]["server"]


def _admin_token(path: str) -> str:
    return yaml.safe_load(Path(path).read_text())["users"][0]["user"]["token"]


@pytest.fixture
def real(kube_env, key_file, allow_private, caplog):
    caplog.set_level(logging.DEBUG)
    return kube_env


@pytest.mark.kubernetes
def test_registering_the_real_cluster_with_admin_credentials(owner, real, caplog):
    client = client_for(owner)
    raw = Path(real.kubeconfig).read_text()
    res = register(client, raw)  # as the script writes it: a CA *file*
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "cluster_file_reference"

    text = inline(real.kubeconfig)
    res = register(client, text, name="test-env")
    assert res.status_code == 201, res.content
    assert res.json()["status"] == ClusterStatus.READY
    assert res.json()["server"] == _server(real.kubeconfig)
    res = client.post(f"/api/v1/clusters/{res.json()['id']}/check/")
    assert res.json()["status"] == ClusterStatus.READY and res.json()["error"] is None

    token = _admin_token(real.kubeconfig)
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert token not in logged
    assert token not in json.dumps(list(AuditEvent.objects.values("metadata")), default=str)


@pytest.mark.kubernetes
def test_the_real_cluster_refuses_a_wrong_token(owner, real):
    res = register(client_for(owner), inline(real.kubeconfig, token="wrong-" + "0" * 40))
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "cluster_unauthorized"
    assert "wrong-" not in res.content.decode()
    assert not Cluster.objects.exists()


@pytest.mark.kubernetes
def test_the_real_cluster_with_an_unknown_ca_fails_tls(owner, real):
    res = register(client_for(owner), inline(real.kubeconfig, ca=False))
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "cluster_tls_failed"
    assert not Cluster.objects.exists()


@pytest.mark.kubernetes
def test_a_closed_port_is_unreachable_within_the_timeout(owner, real, settings):
    settings.BAAS_CLUSTER_CHECK_TIMEOUT_S = 3
    res = register(client_for(owner), inline(real.kubeconfig, server="https://127.0.0.1:1"))
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "cluster_unreachable"
    assert not Cluster.objects.exists()


@pytest.mark.kubernetes
def test_the_driver_user_without_rights_is_forbidden_naming_the_right(owner, real):
    res = register(client_for(owner), inline(real.driver_kubeconfig))
    assert res.status_code == 400, res.content
    error = res.json()["error"]
    assert error["code"] == "cluster_forbidden"
    first = str(kc.required_rights(kc.driver_rules())[0])
    assert error["details"] == {"right": first}
    assert f"cannot {first}" in error["message"]
    assert not Cluster.objects.exists()


@pytest.fixture
def service_account(real):
    """A service account of its own (no rights) in a namespace of its own, with a token,
    and a way to bind rules to it; everything is deleted afterwards."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=real.kubeconfig)
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    name = f"baas-test-clusters-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    roles: list[str] = []
    try:
        core.create_namespaced_service_account(name, {"metadata": {"name": "probe"}})
        token = core.create_namespaced_service_account_token(
            "probe", name, client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
        ).status.token

        def bind(rules: list[dict]) -> None:
            role = f"{name}-{len(roles)}"
            rbac.create_cluster_role({"metadata": {"name": role}, "rules": rules})
            roles.append(role)
            rbac.create_cluster_role_binding({
                "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": "probe", "namespace": name}]})

        yield inline(real.kubeconfig, token=token), bind
    finally:
        for role in roles:
            rbac.delete_cluster_role_binding(role)
            rbac.delete_cluster_role(role)
        core.delete_namespace(name)
        api.close()


def _register_until(client, text: str, done, attempts: int = 20):
    """RBAC changes reach the authorizer's cache within moments, not at once."""
    import time

    for _ in range(attempts):
        res = register(client, text, name="sa")
        if done(res):
            break
        time.sleep(0.5)
    return res


@pytest.mark.kubernetes
def test_rights_granted_one_by_one_until_registration_passes(owner, real, service_account):
    text, bind = service_account
    client = client_for(owner)
    rights = kc.required_rights(kc.driver_rules())
    res = register(client, text)
    assert res.json()["error"]["code"] == "cluster_forbidden"
    assert res.json()["error"]["details"] == {"right": str(rights[0])}

    rules = kc.driver_rules()
    bind(rules[:1])  # the first rule only: the next missing right is named
    missing = next(r for r in rights if r not in kc.required_rights(rules[:1]))
    res = _register_until(client, text, lambda r: r.status_code == 400 and r.json()["error"]
                          ["details"].get("right") != str(rights[0]))
    assert res.json()["error"]["code"] == "cluster_forbidden", res.content
    assert res.json()["error"]["details"] == {"right": str(missing)}, res.content
    assert not Cluster.objects.exists()

    bind(rules)
    res = _register_until(client, text, lambda r: r.status_code == 201)
    assert res.status_code == 201, res.content
    stored = json.loads(crypto.unseal(bytes(Cluster.objects.get().sealed_kubeconfig)))
    assert stored["clusters"][0]["cluster"]["server"] == _server(real.kubeconfig)


# --- portal ---------------------------------------------------------------------------------


@pytest.fixture
def browser(client, owner):
    client.force_login(owner.user)
    return client


def test_portal_registers_and_never_renders_the_kubeconfig_back(browser, owner, probe):
    refused = browser.post("/clusters/", {"name": "prod", "kubeconfig": kubeconfig(
        user={"token": SECRET_TOKEN, "exec": {"command": "id"}})})
    assert refused.status_code == 400
    assert SECRET_TOKEN not in refused.content.decode()
    assert "run a command on our servers" in str(refused.context["form"].errors["kubeconfig"])
    assert not Cluster.objects.exists()

    res = browser.post("/clusters/", {"name": "prod", "kubeconfig": kubeconfig()})
    assert res.status_code == 302 and res["Location"] == "/clusters/"
    page = browser.get("/clusters/").content.decode()
    assert "prod" in page and "https://93.184.216.34:6443" in page
    assert SECRET_TOKEN not in page
    cluster = Cluster.objects.get(tenant=owner.tenant)

    probe.fail = kc.KubeconfigError("cluster_forbidden", right="create namespaces")
    browser.post(f"/clusters/{cluster.pk}/check/")
    cluster.refresh_from_db()
    assert cluster.status == ClusterStatus.FAILING
    assert "cannot create namespaces" in browser.get("/clusters/").content.decode()

    assert browser.post(f"/clusters/{cluster.pk}/delete/", {"confirm_name": "nope"}
                        ).status_code == 400
    assert browser.post(f"/clusters/{cluster.pk}/delete/", {"confirm_name": "prod"}
                        ).status_code == 302
    assert not Cluster.objects.exists()


def test_portal_hides_management_from_developers_and_other_tenants(client, probe):
    developer = MembershipFactory(role="developer")
    mine = ClusterFactory(tenant=developer.tenant)
    theirs = ClusterFactory(tenant=MembershipFactory().tenant, name="theirs")
    client.force_login(developer.user)
    page = client.get("/clusters/")
    assert page.status_code == 200 and mine.name in page.content.decode()
    assert "theirs" not in page.content.decode() and b"kubeconfig" not in page.content
    client.post("/clusters/", {"name": "sneaky", "kubeconfig": kubeconfig()})
    assert client.post(f"/clusters/{mine.pk}/check/").status_code == 404
    assert client.post(f"/clusters/{mine.pk}/delete/", {"confirm_name": mine.name}
                       ).status_code == 404
    assert sorted(Cluster.objects.values_list("name", flat=True)) == sorted([mine.name,
                                                                               "theirs"])
    assert probe.calls == []
    owner = MembershipFactory(role="owner")
    client.force_login(owner.user)
    for url in (f"/clusters/{theirs.pk}/check/", f"/clusters/{theirs.pk}/delete/"):
        assert client.post(url).status_code == 404


def test_the_network_form_offers_own_and_platform_clusters(browser, owner, probe):
    ClusterFactory(tenant=owner.tenant, name="mine")
    ClusterFactory(tenant=None, name="shared")
    ClusterFactory(tenant=MembershipFactory().tenant, name="theirs")
    choices = [label for _value, label in
               browser.get("/networks/").context["form"].fields["cluster"].choices]
    assert choices[1:] == ["mine", "shared"]


# --- the operator's command for platform clusters ---------------------------------------------


def test_the_operator_registers_checks_and_deletes_platform_clusters(probe, tmp_path, owner):
    from django.core.management import CommandError, call_command

    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig())
    out = tmp_path / "out"
    with out.open("w") as stream:
        call_command("platform_cluster", "register", "shared", "--kubeconfig", str(path),
                     stdout=stream)
        cluster = Cluster.objects.get(tenant__isnull=True)
        call_command("platform_cluster", "list", stdout=stream)
        probe.fail = kc.KubeconfigError("cluster_tls_failed", server=cluster.server)
        call_command("platform_cluster", "check", str(cluster.pk), stdout=stream)
    printed = out.read_text()
    assert "registered" in printed and "shared" in printed and "failing" in printed
    assert SECRET_TOKEN not in printed
    assert client_for(owner).get("/api/v1/clusters/").json()["results"][0]["platform"] is True

    path.write_text(kubeconfig(cluster={"certificate-authority": "/etc/passwd"}))
    with pytest.raises(CommandError, match="cluster_file_reference"):
        call_command("platform_cluster", "register", "other", "--kubeconfig", str(path))
    with pytest.raises(CommandError, match="not a cluster id"):
        call_command("platform_cluster", "delete", "nope")
    NetworkFactory(tenant=owner.tenant, driver="kubernetes", cluster=cluster)
    with pytest.raises(CommandError, match="cluster_in_use"):
        call_command("platform_cluster", "delete", str(cluster.pk))
    Network.objects.update(status=NetworkStatus.DELETED)
    call_command("platform_cluster", "delete", str(cluster.pk), stdout=out.open("w"))
    assert not Cluster.objects.exists()


def test_refusals_are_worded_in_the_readers_language(owner, probe):
    res = client_for(owner).post(
        "/api/v1/clusters/", {"name": "prod", "kubeconfig": kubeconfig(
            cluster={"insecure-skip-tls-verify": True})},
        format="json", HTTP_ACCEPT_LANGUAGE="ko")
    assert res.json()["error"]["code"] == "cluster_insecure_tls"
    assert "TLS 검증을 끕니다" in res.json()["error"]["message"]
