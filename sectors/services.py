"""Writes of the sectors app: uploading templates, deploying them onto networks, approving
upgrades, and calling a deployment's functions.

Deploying is governance of the network (the owner's admins, the ``deploy`` scope on
tokens, an operation and an audit record); calling a deployment's functions is an
ordinary transaction or query signed with the caller's own key, after the platform checked
the function, its arguments and the caller's role against the manifest. The chaincode
checks the role again on chain: the platform's check only gives a clearer error sooner.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from baas.errors import AppError, Conflict, NotFound, PermissionDenied, ValidationFailed
from baas.models import Operation
from baas.operations import enqueue_after_commit, operation_create
from deploy import consortium, gateway, platform
from deploy.choices import NETWORK_LIVE
from deploy.guards import require_owner
from deploy.models import Network, NetworkIdentity, NetworkMembership
from deploy.services import keys
from sectors import catalogue, manifest, tasks
from sectors.choices import TEMPLATE_DEPLOY, DeploymentStatus
from sectors.models import Deployment, DeploymentApproval, Template

MAX_ARCHIVE_BYTES = 1024 * 1024
# Arguments of one call, encoded: what fits in a transaction (ledger.tx.MAX_TX_BYTES, 256
# KiB) with room for the envelope.
MAX_ARGS_BYTES = 192 * 1024
MAX_HISTORY = 100


# -- templates -------------------------------------------------------------------------------
def _bundle_error(problems: list[Any], review: Any = None) -> ValidationFailed:
    listed = [p.to_dict() for p in problems]
    first = listed[0]["message"] if listed else ""
    details: dict[str, Any] = {"problems": listed}
    if review is not None:
        details["review"] = review
    return ValidationFailed(
        "bundle_invalid",
        _("The bundle is not valid: %(count)s problem(s), the first: %(first)s")
        % {"count": len(listed), "first": first}, details=details)


def template_check(*, archive: Any, deployed_version: str | None = None) -> tuple[Any, Any]:
    """Load and validate an uploaded archive: (bundle, report); ``bundle_invalid`` lists
    every problem found."""
    from sectors.bundle import BundleError, load_archive
    from sectors.validation import validate

    if not isinstance(archive, bytes | bytearray) or not archive:
        raise ValidationFailed("archive_missing",
                               _("Send the bundle as a .tar.gz or .zip file in 'archive'."))
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise ValidationFailed(
            "archive_too_large",
            _("The archive is %(size)s bytes; at most %(max)s are accepted.")
            % {"size": len(archive), "max": MAX_ARCHIVE_BYTES})
    try:
        bundle = load_archive(bytes(archive))
    except BundleError as exc:
        raise _bundle_error(exc.problems) from None
    report = validate(bundle, deployed_version=deployed_version)
    if not report.valid:
        raise _bundle_error(report.problems, report.to_dict().get("review"))
    return bundle, report


def template_upload(*, tenant: Any, actor: Any, archive: Any, request: Any = None) -> Template:
    """A private template of ``tenant``. The same bundle uploaded again is the same template
    (nothing changes); the same name and version with other contents is refused."""
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    bundle, report = template_check(archive=archive)
    existing = Template.objects.filter(tenant=tenant, name=bundle.name,
                                       version=bundle.version).first()
    if existing is not None:
        if existing.content_hash == bundle.content_hash:
            return existing
        raise Conflict(
            "template_version_exists",
            _("You already uploaded %(name)s %(version)s with other contents; give the "
              "changed bundle a new version.") % {"name": bundle.name,
                                                  "version": bundle.version},
            details={"name": bundle.name, "version": bundle.version})
    try:
        with transaction.atomic():
            template = Template.objects.create(
                tenant=tenant, created_by=actor if getattr(actor, "pk", None) else None,
                **catalogue.template_fields(bundle, report))
            platform.audit(tenant=tenant, actor=actor, action="template.upload",
                           target=template, request=request,
                           metadata={"name": bundle.name, "version": bundle.version,
                                     "content_hash": bundle.content_hash})
    except IntegrityError:  # the same upload, twice at once
        return Template.objects.get(tenant=tenant, name=bundle.name, version=bundle.version)
    return template


# -- deployments -----------------------------------------------------------------------------
def network_organisations(network: Network) -> list[str]:
    """Organisation ids of the network on chain: the owner's and its consortium members'."""
    owner = NetworkIdentity.objects.filter(network=network, tenant=network.tenant).first()
    orgs = [owner.organisation_id if owner else network.tenant.slug]
    members = NetworkMembership.objects.filter(network=network).select_related("tenant")
    for membership in members:
        identity = NetworkIdentity.objects.filter(network=network,
                                                  tenant=membership.tenant).first()
        orgs.append(identity.organisation_id if identity else membership.tenant.slug)
    return orgs


def _org_of(network: Network, tenant: Any) -> str:
    identity = NetworkIdentity.objects.filter(network=network, tenant=tenant).first()
    return identity.organisation_id if identity else tenant.slug


def _check_roles(template: Template, roles: Any, organisations: list[str]) -> dict[str, list]:
    declared = manifest.organisation_roles(template.manifest)
    if roles is None:
        return {role: [organisations[0]] for role in declared}
    if not isinstance(roles, dict):
        raise ValidationFailed("invalid_roles", _("roles maps each organisation role to a list "
                                                  "of organisation ids."))
    checked: dict[str, list] = {}
    for role, orgs in roles.items():
        if role not in declared:
            raise ValidationFailed(
                "role_unknown", _("The template has no organisation role '%(role)s'; its "
                                  "roles: %(roles)s.") % {"role": str(role)[:40],
                                                          "roles": ", ".join(declared)},
                details={"role": str(role)[:40], "roles": declared})
        if not isinstance(orgs, list) or not orgs or not all(isinstance(o, str) for o in orgs):
            raise ValidationFailed("invalid_roles", _("Role '%(role)s' needs a non-empty list "
                                                      "of organisation ids.") % {"role": role})
        unknown = [o for o in orgs if o not in organisations]
        if unknown:
            raise ValidationFailed(
                "organisation_unknown",
                _("%(org)s is not an organisation of this network; its organisations: "
                  "%(orgs)s.") % {"org": unknown[0][:64], "orgs": ", ".join(organisations)},
                details={"organisations": organisations})
        checked[role] = sorted(set(orgs))
    for role in declared:  # a role nobody was given stays with the owner
        checked.setdefault(role, [organisations[0]])
    return checked


def _check_args(spec: dict[str, Any], args: Any, *, code: str = "args_invalid") -> None:
    """Arguments a function accepts: a JSON object the ledger can encode (no floats,
    integers within 64 bits, nesting within bounds) that matches its schema."""
    from ledger.canonical import CanonicalError, encode
    from ledger.tx import MAX_ARGS_DEPTH, MAX_TX_BYTES
    from sectors.schemas import ArgsUnusable, args_errors

    if not isinstance(args, dict):
        raise ValidationFailed(code, _("The arguments are a JSON object."))
    try:
        size = len(encode(args, max_depth=MAX_ARGS_DEPTH))  # what the transaction will carry
        if size > MAX_ARGS_BYTES:
            raise CanonicalError(f"{size} bytes, at most {MAX_ARGS_BYTES} fit in a "
                                 f"transaction of {MAX_TX_BYTES} bytes")
    except (CanonicalError, RecursionError) as exc:
        raise ValidationFailed(
            code, _("The ledger cannot encode these arguments: %(reason)s")
            % {"reason": str(exc)[:200]},
            details={"problems": [{"path": "(arguments)", "message": str(exc)[:300]}]}) \
            from None
    try:
        errors = args_errors(spec.get("args") or {"type": "object"}, args)
    except ArgsUnusable as exc:
        raise Conflict("template_schema_unusable",
                       _("The template's schema for %(function)s cannot be applied: %(why)s")
                       % {"function": spec.get("name"), "why": str(exc)}) from None
    if errors:
        problems = [{"path": "/".join(str(p) for p in e.absolute_path) or "(arguments)",
                     "message": e.message[:300]} for e in errors[:20]]
        raise ValidationFailed(
            code, _("The arguments do not match %(function)s: %(first)s")
            % {"function": spec.get("name"), "first": problems[0]["message"]},
            details={"problems": problems})


def _init_args(template: Template, roles: dict[str, list], init_args: Any) -> dict[str, Any]:
    init = template.manifest.get("init") or {}
    if not init.get("function"):
        return {}
    if init_args is None:
        init_args = dict(init.get("args") or {})
    if not isinstance(init_args, dict) or "roles" in init_args:
        raise ValidationFailed("invalid_init_args", _("init_args is a JSON object; the "
                                                      "platform adds 'roles' itself."))
    full = {**init_args, "roles": roles}
    spec = manifest.function_spec(template.manifest, init["function"]) or {}
    _check_args(spec, full, code="invalid_init_args")
    return init_args


def _queue(deployment: Deployment, *, tenant: Any, actor: Any) -> Operation:
    op = operation_create(tenant=tenant, actor=actor, kind=TEMPLATE_DEPLOY,
                          target=("sectors.deployment", deployment.pk),
                          deadline=timedelta(minutes=10),
                          params={"template": str(deployment.target_id)})
    enqueue_after_commit(tasks.deployment_deploy_task, str(deployment.pk), op.pk)
    return op


def _needed(deployment: Deployment) -> int:
    """Approvals the target version needs: one (the owner's) for a first deploy; for an
    upgrade, the rule of the version running now (a new version cannot loosen its own)."""
    if deployment.active is None:
        return 1
    rule = manifest.approval_rule(deployment.active.manifest)
    return manifest.approvals_needed(rule, len(network_organisations(deployment.network)))


def deployment_create(*, tenant: Any, actor: Any, network: Network, template: Template,
                      roles: Any = None, init_args: Any = None,
                      request: Any = None) -> tuple[Deployment, Operation | None]:
    """Deploy ``template`` onto ``network`` (first deploy or upgrade). Returns the
    deployment and its operation; no operation when nothing is to do (the same bundle is
    active: ``unchanged``) or when other organisations must approve first."""
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    require_owner(tenant, network)
    if not Template.objects.visible_to(tenant).filter(pk=template.pk).exists():
        raise NotFound("not_found", "Template not found.")
    organisations = network_organisations(network)
    asked_roles, asked_init = roles, init_args
    roles = _check_roles(template, roles, organisations) if roles is not None else None
    with transaction.atomic():
        locked = Network.objects.select_for_update().get(pk=network.pk)
        if locked.status not in NETWORK_LIVE:
            raise Conflict(
                "network_not_running",
                _("The network is %(status)s; it must run to deploy a template.")
                % {"status": locked.status}, details={"status": locked.status})
        deployment = (Deployment.objects.select_for_update()
                      .filter(network=locked, name=template.name).first())
        if deployment is None:
            roles = roles or _check_roles(template, None, organisations)
            args = _init_args(template, roles, init_args)
            deployment = Deployment.objects.create(
                network=locked, tenant=locked.tenant, name=template.name, target=template,
                roles=roles, init_args=args, status=DeploymentStatus.DEPLOYING,
                created_by=actor if getattr(actor, "pk", None) else None)
        else:
            if _unchanged(deployment, template):
                return deployment, None
            _check_upgrade(deployment, template)
            if deployment.active is None:  # a first deploy that failed: retried
                if _init_may_have_run(deployment):
                    # What init was sent with may be on chain: it cannot change now. The
                    # stored roles stand even if an organisation has left since.
                    changed = (asked_roles is not None and roles != deployment.roles) or (
                        asked_init is not None and asked_init != deployment.init_args)
                    if changed:
                        raise ValidationFailed(
                            "roles_fixed",
                            _("An earlier deploy may already have given the roles and init "
                              "arguments on chain; deploy again without changing them."),
                            details={"roles": deployment.roles,
                                     "init_args": deployment.init_args})
                else:
                    deployment.roles = roles or _check_roles(template, None, organisations)
                    deployment.init_args = _init_args(template, deployment.roles, init_args)
            deployment.target = template
            deployment.error_code = deployment.error_message = ""
        DeploymentApproval.objects.get_or_create(deployment=deployment, template=template,
                                                 tenant=tenant,
                                                 defaults={"approved_by": _user(actor)})
        op = _advance(deployment, tenant=tenant, actor=actor)
        platform.audit(tenant=tenant, actor=actor, action="template.deploy", target=locked,
                       request=request,
                       metadata={"name": template.name, "version": template.version,
                                 "content_hash": template.content_hash,
                                 "deployment": str(deployment.pk),
                                 "status": deployment.status})
    return deployment, op


def _init_may_have_run(deployment: Deployment) -> bool:
    """May an earlier deploy of this deployment have run its init call on chain? It got as
    far as sending it, and did not end with the chain refusing it (a refused transaction
    changes nothing)."""
    ops = Operation.objects.filter(kind=TEMPLATE_DEPLOY, target_type="sectors.deployment",
                                   target_id=str(deployment.pk))
    for steps, error in ops.values_list("steps", "error_code"):
        sent = any(step.get("code") == "template_initialising" for step in steps or [])
        if sent and error != "tx_rejected":
            return True
    return False


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _unchanged(deployment: Deployment, template: Template) -> bool:
    active = deployment.active
    if deployment.status == DeploymentStatus.DEPLOYING:
        raise Conflict("deployment_busy",
                       _("A deploy of %(name)s is already running on this network; wait for "
                         "it to end.") % {"name": deployment.name})
    return active is not None and active.content_hash == template.content_hash \
        and deployment.status == DeploymentStatus.ACTIVE


def _check_upgrade(deployment: Deployment, template: Template) -> None:
    active = deployment.active
    if active is None:
        return
    if template.version_key <= active.version_key:
        raise ValidationFailed(
            "version_not_newer",
            _("%(name)s %(active)s runs on this network; deploy a newer version than that "
              "(this one is %(version)s).") % {"name": deployment.name,
                                                "active": active.version,
                                                "version": template.version},
            details={"active": active.version, "version": template.version})


def approvers(deployment: Deployment) -> Any:
    """Approvals of the target that count: from the owner and the network's current
    members (an organisation that left takes its approval with it)."""
    network = deployment.network
    current = [network.tenant_id, *NetworkMembership.objects.filter(network=network)
               .values_list("tenant_id", flat=True)]
    return DeploymentApproval.objects.filter(deployment=deployment, template=deployment.target,
                                             tenant_id__in=current)


def _advance(deployment: Deployment, *, tenant: Any, actor: Any) -> Operation | None:
    """Queue the deploy once enough organisations approved the target; else wait."""
    count = approvers(deployment).count()
    if count < _needed(deployment):
        deployment.status = DeploymentStatus.AWAITING_APPROVAL
        deployment.save()
        return None
    deployment.status = DeploymentStatus.DEPLOYING
    deployment.save()
    return _queue(deployment, tenant=deployment.tenant, actor=actor)


def deployment_approve(*, tenant: Any, actor: Any, deployment: Deployment, template_id: Any,
                       request: Any = None) -> tuple[Deployment, Operation | None]:
    """An admin of one of the network's organisations agrees to the version waiting, named
    by ``template_id``: the approval is of what they reviewed, never of a version the owner
    put in its place since (``409 target_changed``)."""
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    network = deployment.network
    if tenant != network.tenant and consortium.membership_of(network, tenant) is None:
        raise NotFound("not_found", "Deployment not found.")
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if locked.status != DeploymentStatus.AWAITING_APPROVAL or locked.target is None:
            raise Conflict("nothing_to_approve",
                           _("No version of %(name)s is waiting for approval.")
                           % {"name": locked.name})
        if str(template_id) != str(locked.target_id):
            raise Conflict("target_changed",
                           _("The version waiting for approval is now %(version)s; review it "
                             "and approve that one.") % {"version": locked.target.version},
                           details={"template": str(locked.target_id),
                                    "version": locked.target.version})
        _approval, created = DeploymentApproval.objects.get_or_create(
            deployment=locked, template=locked.target, tenant=tenant,
            defaults={"approved_by": _user(actor)})
        if not created:
            raise Conflict("already_approved",
                           _("Your organisation already approved %(name)s %(version)s.")
                           % {"name": locked.name, "version": locked.target.version})
        op = _advance(locked, tenant=tenant, actor=actor)
        platform.audit(tenant=tenant, actor=actor, action="template.approve", target=network,
                       request=request, metadata={"deployment": str(locked.pk),
                                                  "version": locked.target.version})
    return locked, op


def deployment_approvals(deployment: Deployment) -> dict[str, Any]:
    """Who approved the version waiting, and how many must."""
    if deployment.target is None:
        return {"approved": [], "required": 0}
    approved = approvers(deployment).select_related("tenant")
    return {"approved": [a.tenant.slug for a in approved], "required": _needed(deployment)}


# -- calling a deployment --------------------------------------------------------------------
def _active_spec(deployment: Deployment, function: Any) -> dict[str, Any]:
    if deployment.active is None:
        raise Conflict("deployment_not_active",
                       _("%(name)s is not deployed yet.") % {"name": deployment.name})
    spec = manifest.function_spec(deployment.active.manifest, function)
    if spec is None or function == (deployment.active.manifest.get("init") or {}).get(
            "function"):
        raise ValidationFailed(
            "function_unknown",
            _("%(name)s has no function '%(function)s'.")
            % {"name": deployment.name, "function": str(function)[:64]},
            details={"functions": [f["name"] for f in
                                   manifest.functions(deployment.active.manifest)]})
    return spec


def held_roles(deployment: Deployment, org: str | None = None,
               public_key: str | None = None) -> set[str]:
    """Roles an organisation (from the deployment's role table) holds; with the contract's
    own ``roles_of``, what the chain says, which counts when roles changed on chain."""
    held = {role for role, orgs in (deployment.roles or {}).items() if org in orgs}
    if deployment.active and manifest.function_spec(deployment.active.manifest, "roles_of"):
        try:
            answer = gateway.query(network=deployment.network, body={
                "chaincode": deployment.name, "function": "roles_of",
                "args": {"org": org, "public_key": public_key}})
            result = answer.get("result")
            if isinstance(result, list):
                held = {r for r in result if isinstance(r, str)}
        except AppError:
            pass  # the table the platform keeps is the fallback
    return held


def deployment_call(*, tenant: Any, actor: Any, deployment: Deployment, function: Any,
                    args: Any, token: Any = None, request: Any = None) -> dict[str, Any]:
    """Run one of the deployment's functions: a read is a query, a write a transaction
    signed with the caller's own key (``deploy.services.keys``)."""
    spec = _active_spec(deployment, function)
    args = {} if args is None else args
    network = deployment.network
    body = {"chaincode": deployment.name, "function": spec["name"], "args": args}
    if spec.get("kind") == "read":
        platform.require_role(tenant=tenant, actor=actor, minimum="viewer")
        _check_args(spec, args)
        signer = keys.registered_signer(network=network, tenant=tenant,
                                        user=None if token else actor, token=token)
        return {"data": gateway.query(network=network, body=body, signer=signer)["result"]}
    # who may, before any work on what they sent
    platform.require_role(tenant=tenant, actor=actor, minimum="developer")
    consortium.require_writer(network, tenant)
    org = _org_of(network, tenant)
    if not manifest.allows(spec, held_roles(deployment, org)):
        raise PermissionDenied(
            "role_not_allowed",
            _("%(function)s is for %(roles)s; your organisation holds none of these roles.")
            % {"function": spec["name"], "roles": ", ".join(spec.get("roles") or [])},
            details={"roles": spec.get("roles") or []})
    _check_args(spec, args)
    consortium.ensure_registered(network, tenant)
    signer = keys.signer_for(network=network, tenant=tenant, user=None if token else actor,
                             token=token, request=request)
    return gateway.submit_tx(network=network, body=body, signer=signer)


def deployment_history(*, deployment: Deployment, instance_id: str | None = None,
                       limit: int = 50) -> list[dict[str, Any]]:
    """The newest transactions of the deployment's chaincode (at most ``limit``), and with
    ``instance_id`` only those whose events name it: each with its function, signer and
    the chaincode's own events."""
    txs = gateway.tx_search(network=deployment.network,
                            query_text=f"tx.chaincode='{deployment.name}'",
                            limit=min(limit, MAX_HISTORY))
    history = []
    for tx in txs:
        own = [e for e in tx["events"]
               if e["attributes"].get("chaincode") == deployment.name and e["type"] != "tx"]
        if instance_id is not None and not any(
                e["attributes"].get("id") == instance_id for e in own):
            continue
        for event in own:
            history.append({"height": tx["height"], "tx_hash": tx["hash"],
                            "function": tx["function"], "signer": tx["signer"],
                            "type": event["type"], "attributes": {
                                k: v for k, v in event["attributes"].items()
                                if k != "chaincode"}})
    return history


# -- the public page: people with their own keys ----------------------------------------------
def _public_spec(deployment: Deployment, function: Any, kind: str) -> dict[str, Any]:
    spec = _active_spec(deployment, function)
    if not spec.get("public") or spec.get("kind") != kind:
        raise PermissionDenied(
            "function_not_public",
            _("'%(function)s' cannot be called from the public page.")
            % {"function": str(function)[:64]})
    return spec


def public_prepare(*, deployment: Deployment, function: Any, args: Any,
                   public_key: Any) -> dict[str, Any]:
    """The envelope a browser key signs: ``body`` (everything but the signature) and
    ``sign_bytes`` (base64), which the page checks against what its user asked for."""
    import os
    import time

    from ledger import canonical
    from ledger.tx import HEX64, SIGN_DOMAIN, VERSION

    spec = _public_spec(deployment, function, "write")
    _check_args(spec, args)
    if not isinstance(public_key, str) or not HEX64.match(public_key):
        raise ValidationFailed("invalid_public_key",
                               _("The public key is 64 lowercase hex characters."))
    body = {"v": VERSION, "chain_id": deployment.network.chain_id,
            "chaincode": deployment.name, "function": spec["name"], "args": args,
            "signer": public_key, "nonce": os.urandom(16).hex(),
            "time_ms": int(time.time() * 1000)}
    return {"body": body,
            "sign_bytes": base64.b64encode(SIGN_DOMAIN + canonical.encode(body)).decode()}


def public_submit(*, deployment: Deployment, body: Any, signature: Any) -> dict[str, Any]:
    """Relay a transaction a browser key signed, after checking it is a public function
    of this deployment with valid arguments and a valid signature."""
    from ledger import canonical
    from ledger.errors import LedgerError
    from ledger.tx import HEX128, decode_tx

    if not isinstance(body, dict) or not isinstance(signature, str) \
            or not HEX128.match(signature):
        raise ValidationFailed("invalid_signed_tx",
                               _("Send the prepared body and its signature (128 hex)."))
    if body.get("chaincode") != deployment.name \
            or body.get("chain_id") != deployment.network.chain_id:
        raise ValidationFailed("invalid_signed_tx",
                               _("This transaction is not for this deployment."))
    spec = _public_spec(deployment, body.get("function"), "write")
    _check_args(spec, body.get("args"))
    try:
        raw = canonical.encode({**body, "sig": signature})
        decode_tx(raw)  # shape and signature
    except (LedgerError, canonical.CanonicalError, ValueError, TypeError, KeyError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise ValidationFailed("invalid_signed_tx",
                               _("The signed transaction was refused: %(reason)s")
                               % {"reason": message[:200]}) from None
    return gateway.submit_tx(network=deployment.network,
                             body={"tx": base64.b64encode(raw).decode()})


def public_query(*, deployment: Deployment, function: Any, args: Any) -> dict[str, Any]:
    spec = _public_spec(deployment, function, "read")
    args = {} if args is None else args
    _check_args(spec, args)
    answer = gateway.query(network=deployment.network, body={
        "chaincode": deployment.name, "function": spec["name"], "args": args})
    return {"data": answer["result"]}
