"""Deploying templates, upgrade approvals, calls and the public page's checks: everything
the platform decides before a network is involved (the chain itself: tests/e2e)."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from baas.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from baas.models import Operation
from deploy.choices import NetworkStatus
from deploy.models import NetworkMembership
from deploy.tests.factories import MembershipFactory, NetworkFactory, TenantFactory
from sectors import services, workflows
from sectors.catalogue import version_key
from sectors.choices import TEMPLATE_DEPLOY, DeploymentStatus
from sectors.models import Deployment, DeploymentApproval, Template

pytestmark = pytest.mark.django_db

INIT_ARGS = {"type": "object", "additionalProperties": False, "required": ["roles"],
             "properties": {"roles": {"type": "object"}, "currency": {"type": "string"}}}


def manifest(version: str = "1.0.0", approval: str = "owner") -> dict:
    return {
        "name": "ledgerbook", "version": version, "sector": "other",
        "title": {"en": "Ledger book", "ko": "장부"},
        "description": {"en": "A book", "ko": "장부"},
        "roles": [{"id": "keeper", "holder": "organisation",
                   "title": {"en": "Keeper", "ko": "관리자"}},
                  {"id": "visitor", "holder": "key", "title": {"en": "Visitor", "ko": "방문자"}}],
        "functions": [
            {"name": "init", "kind": "write", "roles": ["keeper"], "args": INIT_ARGS,
             "title": {"en": "Init", "ko": "초기화"}},
            {"name": "put", "kind": "write", "roles": ["keeper"],
             "title": {"en": "Put", "ko": "넣기"},
             "args": {"type": "object", "additionalProperties": False, "required": ["key"],
                      "properties": {"key": {"type": "string", "maxLength": 8},
                                     "amount": {"type": "integer", "minimum": 1}}}},
            {"name": "sign", "kind": "write", "roles": ["visitor"], "public": True,
             "title": {"en": "Sign", "ko": "서명"},
             "args": {"type": "object", "additionalProperties": False,
                      "properties": {"note": {"type": "string"}}}},
            {"name": "get", "kind": "read", "roles": ["anyone"], "public": True,
             "title": {"en": "Get", "ko": "조회"},
             "args": {"type": "object", "properties": {"key": {"type": "string"}}}},
        ],
        "init": {"function": "init", "args": {"currency": "KRW"}},
        "upgrade": {"approval": approval},
    }


def template(version: str = "1.0.0", tenant=None, approval: str = "owner",
             content: str = "") -> Template:
    existing = Template.objects.filter(tenant=tenant, name="ledgerbook", version=version).first()
    if existing is not None:
        return existing
    return Template.objects.create(
        tenant=tenant, name="ledgerbook", version=version, version_key=version_key(version),
        sector="other", content_hash=(version + content).ljust(64, "0")[:64],
        manifest=manifest(version, approval), source=f"# {version}{content}\n")


@pytest.fixture
def owner():
    return MembershipFactory(role="owner")


@pytest.fixture
def network(owner):
    return NetworkFactory(tenant=owner.tenant, public_access=True)


def deploy(owner, network, tpl, **kwargs):
    return services.deployment_create(tenant=owner.tenant, actor=owner.user, network=network,
                                      template=tpl, **kwargs)


def activate(deployment: Deployment) -> None:
    workflows._activate(deployment.pk, deployment.target)
    deployment.refresh_from_db()


def test_first_deploy_queues_an_operation_with_the_roles_and_init_args(
        owner, network, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deployment, op = deploy(owner, network, template())
    assert deployment.status == DeploymentStatus.DEPLOYING and op.kind == TEMPLATE_DEPLOY
    assert deployment.roles == {"keeper": [owner.tenant.slug]}  # the owner holds every role
    assert deployment.init_args == {"currency": "KRW"}  # the manifest's defaults
    assert op.target_id == str(deployment.pk) and len(callbacks) == 1


def test_redeploying_the_active_bundle_is_a_no_op_and_older_versions_are_refused(
        owner, network):
    v2 = template("1.2.0")
    deployment, _ = deploy(owner, network, v2)
    activate(deployment)
    ops = Operation.objects.count()
    same, op = deploy(owner, network, v2)
    assert op is None and same.status == DeploymentStatus.ACTIVE
    assert Operation.objects.count() == ops
    for older in ("1.1.9", "1.2.0"):
        # 1.2.0 again: the same version with other contents (a private upload)
        tpl = template(older, content="x", tenant=owner.tenant if older == "1.2.0" else None)
        with pytest.raises(ValidationFailed) as err:
            deploy(owner, network, tpl)
        assert err.value.code == "version_not_newer"
    deployment.refresh_from_db()
    assert deployment.active == v2 and deployment.status == DeploymentStatus.ACTIVE


def test_a_second_deploy_while_one_runs_is_refused(owner, network):
    deploy(owner, network, template())
    with pytest.raises(Conflict) as err:
        deploy(owner, network, template("1.0.1"))
    assert err.value.code == "deployment_busy"


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_only_admins_deploy(network, owner, role):
    person = MembershipFactory(tenant=owner.tenant, role=role)
    with pytest.raises(PermissionDenied):
        deploy(person, network, template())
    assert not Deployment.objects.exists()


def test_foreign_networks_private_templates_and_stopped_networks_are_refused(owner, network):
    other = MembershipFactory(role="owner")
    with pytest.raises(PermissionDenied) as err:
        deploy(owner, NetworkFactory(tenant=other.tenant), template())
    assert err.value.code == "network_owner_only"
    with pytest.raises(NotFound):
        deploy(owner, network, template(tenant=other.tenant))
    stopped = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.STOPPED)
    with pytest.raises(Conflict) as err:
        deploy(owner, stopped, template())
    assert err.value.code == "network_not_running"
    assert not Deployment.objects.exists()


@pytest.mark.parametrize("roles,init_args,code", [
    ({"nobody": ["x"]}, None, "role_unknown"),
    ({"keeper": ["not-an-org"]}, None, "organisation_unknown"),
    ({"keeper": []}, None, "invalid_roles"),
    ("keeper", None, "invalid_roles"),
    (None, {"currency": 5}, "invalid_init_args"),
    (None, {"surprise": "x"}, "invalid_init_args"),
    (None, {"roles": {}}, "invalid_init_args"),
])
def test_bad_roles_and_init_args_change_nothing(owner, network, roles, init_args, code):
    with pytest.raises(ValidationFailed) as err:
        deploy(owner, network, template(), roles=roles, init_args=init_args)
    assert err.value.code == code
    assert not Deployment.objects.exists() and not Operation.objects.exists()


def test_an_upgrade_waits_for_the_approvals_the_running_version_asks_for(owner, network):
    member = MembershipFactory(role="admin")
    NetworkMembership.objects.create(network=network, tenant=member.tenant)
    deployment, _ = deploy(owner, network, template("1.0.0", approval="all"))
    activate(deployment)
    deployment, op = deploy(owner, network, template("1.1.0"))
    assert op is None and deployment.status == DeploymentStatus.AWAITING_APPROVAL
    assert services.deployment_approvals(deployment) == {
        "approved": [owner.tenant.slug], "required": 2}
    with pytest.raises(Conflict) as err:  # the owner cannot count twice
        services.deployment_approve(tenant=owner.tenant, actor=owner.user,
                                    deployment=deployment, template_id=deployment.target_id)
    assert err.value.code == "already_approved"
    outsider = MembershipFactory(role="owner")
    with pytest.raises(NotFound):
        services.deployment_approve(tenant=outsider.tenant, actor=outsider.user,
                                    deployment=deployment, template_id=deployment.target_id)
    viewer = MembershipFactory(tenant=member.tenant, role="viewer")
    with pytest.raises(PermissionDenied):
        services.deployment_approve(tenant=member.tenant, actor=viewer.user,
                                    deployment=deployment, template_id=deployment.target_id)
    deployment, op = services.deployment_approve(tenant=member.tenant, actor=member.user,
                                                 deployment=deployment,
                                                 template_id=deployment.target_id)
    assert op is not None and deployment.status == DeploymentStatus.DEPLOYING
    assert DeploymentApproval.objects.filter(deployment=deployment,
                                             template=deployment.target).count() == 2
    with pytest.raises(Conflict) as err:
        services.deployment_approve(tenant=member.tenant, actor=member.user,
                                    deployment=deployment, template_id=deployment.target_id)
    assert err.value.code == "nothing_to_approve"


def test_a_failed_first_deploy_fails_and_a_failed_upgrade_keeps_the_active_version(
        owner, network):
    deployment, _ = deploy(owner, network, template())
    assert workflows.failure_policy(str(deployment.pk))("install_failed", "boom") \
        == "install_failed"
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.FAILED and deployment.active is None
    deployment, _ = deploy(owner, network, template())  # retried
    activate(deployment)
    v1 = deployment.active
    deployment, _ = deploy(owner, network, template("2.0.0"))
    workflows.failure_policy(str(deployment.pk))("install_failed", "boom")
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.ACTIVE and deployment.active == v1
    assert deployment.error_code == "install_failed"
    # a late failure of a deploy that is no longer running changes nothing
    assert workflows.failure_policy(str(deployment.pk))("late", "late") == "superseded"


@pytest.fixture
def active(owner, network):
    deployment, _ = deploy(owner, network, template())
    activate(deployment)
    return deployment


@pytest.mark.parametrize("function,args,code", [
    ("nope", {}, "function_unknown"),
    ("init", {"roles": {}}, "function_unknown"),  # init is the platform's, once
    ("put", {"key": "way-too-long"}, "args_invalid"),
    ("put", {"key": "k", "amount": 0}, "args_invalid"),
    ("put", {"key": "k", "extra": 1}, "args_invalid"),
    ("put", ["k"], "args_invalid"),
])
def test_calls_are_checked_against_the_manifest_before_the_network(owner, active, function,
                                                                    args, code):
    with pytest.raises(ValidationFailed) as err:
        services.deployment_call(tenant=owner.tenant, actor=owner.user, deployment=active,
                                 function=function, args=args)
    assert err.value.code == code


def test_a_role_the_manifest_does_not_allow_is_refused(owner, active):
    with pytest.raises(PermissionDenied) as err:
        services.deployment_call(tenant=owner.tenant, actor=owner.user, deployment=active,
                                 function="sign", args={"note": "hi"})
    assert err.value.code == "role_not_allowed"
    viewer = MembershipFactory(tenant=owner.tenant, role="viewer")
    with pytest.raises(PermissionDenied):
        services.deployment_call(tenant=owner.tenant, actor=viewer.user, deployment=active,
                                 function="put", args={"key": "k"})


def test_the_public_page_signs_only_public_functions_and_checks_the_signature(active):
    from ledger import canonical
    from ledger.tx import SIGN_DOMAIN, Signer

    key = Signer.generate()
    with pytest.raises(PermissionDenied) as err:
        services.public_prepare(deployment=active, function="put", args={"key": "k"},
                                public_key=key.public_key_hex)
    assert err.value.code == "function_not_public"
    with pytest.raises(ValidationFailed) as err:
        services.public_prepare(deployment=active, function="sign", args={},
                                public_key="zz")
    assert err.value.code == "invalid_public_key"
    prepared = services.public_prepare(deployment=active, function="sign",
                                       args={"note": "hello"}, public_key=key.public_key_hex)
    body = prepared["body"]
    assert base64.b64decode(prepared["sign_bytes"]) == SIGN_DOMAIN + canonical.encode(body)
    assert body["signer"] == key.public_key_hex and body["chaincode"] == "ledgerbook"
    forged = key.sign(b"something else").hex()
    with pytest.raises(ValidationFailed) as err:
        services.public_submit(deployment=active, body=body, signature=forged)
    assert err.value.code == "invalid_signed_tx"
    good = key.sign(base64.b64decode(prepared["sign_bytes"])).hex()
    for change in ({"chaincode": "kv"}, {"function": "put", "args": {"key": "k"}},
                   {"args": {"note": 5}}):
        with pytest.raises((ValidationFailed, PermissionDenied)):
            services.public_submit(deployment=active, body={**body, **change}, signature=good)


def test_public_pages_need_a_public_network_and_an_active_deployment(owner, active):
    from sectors import selectors

    assert selectors.deployment_public_get(deployment_id=active.pk) == active
    closed = NetworkFactory(tenant=owner.tenant, public_access=False)
    hidden, _ = deploy(owner, closed, template())
    activate(hidden)
    fresh_net = NetworkFactory(tenant=owner.tenant, public_access=True)
    pending, _ = deploy(owner, fresh_net, template())
    for deployment in (hidden, pending):
        with pytest.raises(NotFound):
            selectors.deployment_public_get(deployment_id=deployment.pk)
    with pytest.raises(NotFound):
        selectors.deployment_public_get(deployment_id="not-a-uuid")


# -- the API: scopes and tenants ----------------------------------------------------------
def token_client(membership, scopes):
    from tenants.services import token_create

    _token, secret = token_create(tenant=membership.tenant, actor=membership.user,
                                  membership=membership, name="ci", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.parametrize("scopes,status,code", [
    (["read"], 403, "insufficient_scope"),
    (["read", "write"], 403, "insufficient_scope"),
    (["read", "write", "deploy"], 202, None),
])
def test_deploying_over_the_api_needs_the_deploy_scope(owner, network, scopes, status, code):
    tpl = template()
    client = token_client(owner, scopes)
    res = client.post(f"/api/v1/networks/{network.pk}/deployments/",
                      {"template": str(tpl.pk)}, format="json")
    assert res.status_code == status, res.content
    if code:
        assert res.json()["error"]["code"] == code
        assert not Deployment.objects.exists()
    else:
        body = res.json()
        assert body["deployment"]["status"] == "deploying" and body["operation"]["id"]


def test_other_tenants_see_neither_private_templates_nor_deployments(owner, active):
    private = template("9.0.0", tenant=owner.tenant)
    other = MembershipFactory(role="owner")
    client = APIClient()
    client.force_authenticate(user=other.user)
    listed = {t["id"] for t in client.get("/api/v1/templates/").json()}
    assert str(private.pk) not in listed
    for url in (f"/api/v1/templates/{private.pk}/", f"/api/v1/deployments/{active.pk}/",
                f"/api/v1/deployments/{active.pk}/history/",
                f"/api/v1/networks/{active.network_id}/deployments/"):
        assert client.get(url).status_code == 404, url
    for url in (f"/api/v1/deployments/{active.pk}/approve/",
                f"/api/v1/deployments/{active.pk}/call/"):
        res = client.post(url, {"function": "get", "args": {}}, format="json")
        assert res.status_code == 404, (url, res.content)
    mine = APIClient()
    mine.force_authenticate(user=owner.user)
    assert str(private.pk) in {t["id"] for t in mine.get("/api/v1/templates/").json()}
    got = mine.get(f"/api/v1/deployments/{active.pk}/").json()
    assert got["active"]["version"] == "1.0.0" and got["public_url"] == f"/p/{active.pk}/"


def test_bad_deploy_requests_are_4xx(owner, network):
    client = APIClient()
    client.force_authenticate(user=owner.user)
    url = f"/api/v1/networks/{network.pk}/deployments/"
    for body in ({}, {"template": "nope"}, {"template": str(TenantFactory().pk)}):
        res = client.post(url, body, format="json")
        assert 400 <= res.status_code < 500, res.content
    res = client.get("/api/v1/templates/?sector=space")
    assert res.status_code == 400 and res.json()["error"]["code"] == "invalid_sector"


# -- the catalogue and uploads (real bundles, validated) --------------------------------
def test_platform_bundles_enter_the_catalogue_once_validated(owner):
    from sectors import catalogue, selectors

    catalogue.forget()
    listed = {t.name: t for t in selectors.template_list(tenant=owner.tenant)}
    assert {"donations", "local_currency", "voting"} <= set(listed)
    assert listed["voting"].review["valid"], listed["voting"].review
    donations = listed["donations"]
    assert donations.is_platform and donations.review["valid"]
    assert donations.review["review"]["samples"] and donations.manifest["title"]["ko"]
    catalogue.forget()
    selectors.template_list(tenant=owner.tenant)  # again: nothing new
    assert Template.objects.filter(name="donations", tenant__isnull=True).count() == 1
    assert [t.name for t in selectors.template_list(tenant=owner.tenant,
                                                    sector="local_currency")] == [
        "local_currency"]


def test_uploading_a_bundle_stores_a_private_template_once(owner, tmp_path):
    import shutil

    from sectors.bundle import pack_dir
    from sectors.catalogue import BUNDLES_DIR

    copy = tmp_path / "donations"
    shutil.copytree(BUNDLES_DIR / "donations", copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    archive = pack_dir(copy)
    template = services.template_upload(tenant=owner.tenant, actor=owner.user,
                                        archive=archive)
    assert template.tenant == owner.tenant and template.review["valid"]
    again = services.template_upload(tenant=owner.tenant, actor=owner.user, archive=archive)
    assert again.pk == template.pk
    (copy / "contract.py").write_text((copy / "contract.py").read_text() + "\n# changed\n")
    with pytest.raises(Conflict) as err:
        services.template_upload(tenant=owner.tenant, actor=owner.user,
                                 archive=pack_dir(copy))
    assert err.value.code == "template_version_exists"
    (copy / "contract.py").write_text("@write\ndef nothing(ctx):\n    import os\n")
    with pytest.raises(ValidationFailed) as err:
        services.template_upload(tenant=owner.tenant, actor=owner.user,
                                 archive=pack_dir(copy))
    codes = {p["code"] for p in err.value.details["problems"]}
    assert err.value.code == "bundle_invalid" and "contract_rejected" in codes
    for bad in (b"", b"not an archive", b"x" * (services.MAX_ARCHIVE_BYTES + 1)):
        with pytest.raises(ValidationFailed):
            services.template_upload(tenant=owner.tenant, actor=owner.user, archive=bad)
    viewer = MembershipFactory(tenant=owner.tenant, role="viewer")
    with pytest.raises(PermissionDenied):
        services.template_upload(tenant=owner.tenant, actor=viewer.user, archive=archive)
    assert Template.objects.filter(tenant=owner.tenant).count() == 1


# -- hostile schemas and arguments (review findings) -------------------------------------
@pytest.mark.parametrize("args", [{"key": "k", "amount": 5.0}, {"key": "k", "amount": 2**70},
                                  {"key": "k", "amount": 1, "deep": [[[[[[[[[[[[[[[[[1]]]]]]]]
                                                                            ]]]]]]]]]}])
def test_arguments_the_ledger_cannot_encode_are_a_400(owner, active, args):
    with pytest.raises(ValidationFailed) as err:
        services.deployment_call(tenant=owner.tenant, actor=owner.user, deployment=active,
                                 function="put", args=args)
    assert err.value.code == "args_invalid"
    with pytest.raises(ValidationFailed):
        services.public_prepare(deployment=active, function="sign",
                                args={"note": 1.5}, public_key="ab" * 32)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"x": {"$ref": "http://127.0.0.1:9/secret"}}},
    {"type": "object", "properties": {"x": {"$ref": "file:///etc/passwd"}}},
    {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
])
def test_a_schema_with_references_is_never_applied(owner, active, schema, monkeypatch):
    """A template validated before references were refused: calls answer 409, and nothing
    is fetched (urlopen would be the only way out)."""
    import urllib.request

    def no_fetch(*args, **kwargs):
        raise AssertionError("the schema made the server fetch a URL")

    monkeypatch.setattr(urllib.request, "urlopen", no_fetch)
    spec = {**services.manifest.function_spec(active.active.manifest, "put"), "args": schema}
    monkeypatch.setattr(services.manifest, "function_spec", lambda m, name: spec)
    with pytest.raises(Conflict) as err:
        services.deployment_call(tenant=owner.tenant, actor=owner.user, deployment=active,
                                 function="put", args={"x": 1})
    assert err.value.code == "template_schema_unusable"


def test_the_public_endpoints_refuse_deeply_nested_json(active):
    from django.test import Client

    client = Client(enforce_csrf_checks=False)
    body = "[" * 5000 + "]" * 5000
    res = client.post(f"/p/{active.pk}/prepare/", body, content_type="application/json")
    assert res.status_code == 400 and res.json()["error"]["code"] == "malformed_request"


def test_a_late_run_never_records_over_a_newer_request(owner, network):
    deployment, _ = deploy(owner, network, template())
    v1 = deployment.target
    workflows.failure_policy(str(deployment.pk))("install_failed", "boom")
    assert workflows._activate(deployment.pk, v1) is False  # the failure stands
    deployment, _ = deploy(owner, network, template())
    activate(deployment)
    deployment, _ = deploy(owner, network, template("2.0.0"))
    assert workflows._activate(deployment.pk, v1) is False  # not the target any more
    deployment.refresh_from_db()
    assert deployment.active == v1 and deployment.status == DeploymentStatus.DEPLOYING


def test_roles_are_fixed_once_an_earlier_deploy_may_have_sent_init(owner, network):
    from baas.operations import operation_progress

    member = MembershipFactory(role="admin")
    NetworkMembership.objects.create(network=network, tenant=member.tenant)
    deployment, op = deploy(owner, network, template())
    operation_progress(operation_id=op.pk, percent=70, message="calling",
                       step="template_initialising")
    workflows.failure_policy(str(deployment.pk))("init_failed", "timeout")
    with pytest.raises(ValidationFailed) as err:
        deploy(owner, network, template(), roles={"keeper": [member.tenant.slug]})
    assert err.value.code == "roles_fixed"
    again, _ = deploy(owner, network, template())  # the same roles: retried
    assert again.status == DeploymentStatus.DEPLOYING


def test_an_organisation_that_left_takes_its_approval_with_it(owner, network):
    first, second = MembershipFactory(role="admin"), MembershipFactory(role="admin")
    for m in (first, second):
        NetworkMembership.objects.create(network=network, tenant=m.tenant)
    deployment, _ = deploy(owner, network, template("1.0.0", approval="all"))
    activate(deployment)
    deployment, _ = deploy(owner, network, template("1.1.0"))
    services.deployment_approve(tenant=first.tenant, actor=first.user, deployment=deployment,
                                template_id=deployment.target_id)
    NetworkMembership.objects.filter(tenant=first.tenant).delete()
    deployment.refresh_from_db()
    assert services.deployment_approvals(deployment) == {
        "approved": [owner.tenant.slug], "required": 2}
    deployment, op = services.deployment_approve(tenant=second.tenant, actor=second.user,
                                                 deployment=deployment,
                                                 template_id=deployment.target_id)
    assert op is not None  # owner + the member still there: 2 of 2


def test_members_asked_to_approve_see_the_code(owner, network):
    member = MembershipFactory(role="admin")
    NetworkMembership.objects.create(network=network, tenant=member.tenant)
    deployment, _ = deploy(owner, network, template("1.0.0", approval="all"))
    activate(deployment)
    private = template("1.1.0", tenant=owner.tenant)
    deployment, _ = deploy(owner, network, private)
    client = APIClient()
    client.force_authenticate(user=member.user)
    assert client.get(f"/api/v1/templates/{private.pk}/").status_code == 404
    seen = client.get(f"/api/v1/deployments/{deployment.pk}/").json()["target_template"]
    assert seen["version"] == "1.1.0" and seen["contract"] == private.source
    assert seen["review"] == private.review


def test_an_approval_names_the_version_reviewed(owner, network):
    member = MembershipFactory(role="admin")
    NetworkMembership.objects.create(network=network, tenant=member.tenant)
    deployment, _ = deploy(owner, network, template("1.0.0", approval="all"))
    activate(deployment)
    deployment, _ = deploy(owner, network, template("1.1.0"))
    reviewed = deployment.target_id
    deployment, _ = deploy(owner, network, template("1.2.0"))  # the owner swaps the target
    with pytest.raises(Conflict) as err:
        services.deployment_approve(tenant=member.tenant, actor=member.user,
                                    deployment=deployment, template_id=reviewed)
    assert err.value.code == "target_changed" and err.value.details["version"] == "1.2.0"
    assert services.deployment_approvals(deployment)["approved"] == [owner.tenant.slug]


def test_roles_may_change_when_the_chain_refused_the_earlier_init(owner, network):
    from baas.operations import operation_progress

    member = MembershipFactory(role="admin")
    NetworkMembership.objects.create(network=network, tenant=member.tenant)
    deployment, op = deploy(owner, network, template())
    operation_progress(operation_id=op.pk, percent=70, message="calling",
                       step="template_initialising")
    Operation.objects.filter(pk=op.pk).update(state="failed", error_code="tx_rejected")
    workflows.failure_policy(str(deployment.pk))("tx_rejected", "refused")
    again, _ = deploy(owner, network, template(), roles={"keeper": [member.tenant.slug]})
    assert again.roles == {"keeper": [member.tenant.slug]}
