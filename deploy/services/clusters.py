"""Registering, checking and removing the Kubernetes clusters networks run on.

Registration refuses a kubeconfig that could act on our workers (plugins, file
references; ``deploy.drivers.kubeconfig``), then checks the cluster with a timeout
(reachable with verified TLS, credentials accepted, every right the driver needs) and
stores nothing unless that passes. The kubeconfig is kept sealed (``deploy.crypto``),
reduced to the checked context; it never goes into a response, a log record, an audit
record or an error message.

Tenant clusters are written by the tenant's admins and owners (``deploy`` scope on
tokens, checked by the API's permissions); platform clusters (``tenant=None``) by staff.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from baas.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from deploy import conf, crypto, platform, selectors
from deploy.choices import ClusterStatus
from deploy.drivers import kubeconfig as kc
from deploy.models import Cluster

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")  # as network names


def _messages() -> dict[str, str]:
    # Built per call: gettext must run in the request's language.
    return {
        "cluster_kubeconfig_too_large": _(
            "The kubeconfig is larger than %(limit)s bytes; export only the context you need."),
        "cluster_kubeconfig_invalid": _(
            "The kubeconfig is not a YAML kubeconfig we can read (%(reason)s)."),
        "cluster_kubeconfig_incomplete": _(
            "The kubeconfig is missing something we need: %(missing)s."),
        "cluster_plugin_refused": _(
            "The kubeconfig's user uses '%(field)s', which would run a command on our "
            "servers; use a token or an inline client certificate instead."),
        "cluster_file_reference": _(
            "The kubeconfig refers to a file ('%(field)s'); put the content inline instead "
            "(certificate-authority-data, client-certificate-data, client-key-data, token)."),
        "cluster_insecure_tls": _(
            "The kubeconfig turns off TLS verification ('%(field)s'); give the cluster's CA "
            "as certificate-authority-data instead."),
        "cluster_proxy_refused": _(
            "The kubeconfig routes through a proxy ('%(field)s'), which is not supported."),
        "cluster_server_not_https": _(
            "The cluster's server must be an https:// URL (got '%(server)s')."),
        "cluster_server_invalid_host": _(
            "The cluster's server '%(server)s' does not have a valid host name (empty or "
            "over-long labels, or characters a host name cannot have)."),
        "cluster_server_private": _(
            "The cluster's server %(server)s is on a loopback, private or link-local address; "
            "this platform only connects to public addresses."),
        "cluster_unreachable": _(
            "The cluster's API server at %(server)s could not be reached (%(reason)s)."),
        "cluster_tls_failed": _(
            "The TLS certificate of %(server)s could not be verified with the kubeconfig's "
            "certificate-authority-data."),
        "cluster_unauthorized": _(
            "The cluster at %(server)s did not accept the kubeconfig's credentials."),
        "cluster_forbidden": _(
            "The kubeconfig's user is not allowed to do what networks need: it cannot "
            "%(right)s. Bind the platform's ClusterRole to it."),
    }


def _reasons() -> dict[str, str]:
    return {
        "timeout": _("timed out"),
        "name": _("its name does not resolve"),
        "connection": _("no route to it"),
        "refused": _("the connection was refused"),
        "empty": _("it is empty"),
        "not a mapping": _("it is not a mapping of clusters, users and contexts"),
        "yaml": _("it is not valid YAML"),
        "userinfo": _("the server URL contains a user name or password"),
    }


def _message(error: kc.KubeconfigError) -> str:
    template = _messages().get(error.code, error.code)
    params = {"limit": "", "reason": "", "missing": "", "field": "", "server": "",
              "right": "", **{k: str(v) for k, v in error.params.items()}}
    if params["reason"] == "base64":
        params["reason"] = _("'%(field)s' is not base64") % {"field": params["field"]}
    elif params["reason"] == "pem":
        params["reason"] = _("'%(field)s' holds no PEM certificate or key we can load") % {
            "field": params["field"]}
    elif params["reason"] == "line":
        params["reason"] = _("YAML error at line %(line)s") % {"line": params.get("line", "?")}
    params["reason"] = _reasons().get(params["reason"], params["reason"])
    return template % params


def _check_error_text(code: str, params: dict[str, Any]) -> str:
    if code == "cluster_credentials_unreadable":
        return _("The cluster's stored credentials cannot be opened with the configured "
                 "key file; register it again.")
    return _message(kc.KubeconfigError(code, **params))


def cluster_error(*, cluster: Cluster, staff: bool = False) -> dict[str, Any] | None:
    """The last check's failure as ``{"code", "message"}`` in the reader's language (the
    row keeps the code and its parameters, not words), or None.

    Anyone but platform staff (``staff``) reading a platform cluster gets the code and a
    generic message only: the parameters can name the platform's internal addresses (the
    server URL is hidden from tenants for the same reason).
    """
    if not cluster.last_error_code:
        return None
    code = cluster.last_error_code
    if cluster.tenant_id is None and not staff:
        return {"code": code, "message": _(
            "The platform's cluster failed its last check. Choose another cluster, or ask "
            "the platform's operator.")}
    # Rows checked before parameters were stored have none: the server is the row's own.
    params = {"server": cluster.server, **(cluster.last_error_params or {})}
    return {"code": code, "message": _check_error_text(code, params)}


def _refused(error: kc.KubeconfigError) -> ValidationFailed:
    # Only our own parameters (field names, the server URL, a right): never the kubeconfig.
    return ValidationFailed(error.code, _message(error), details=dict(error.params))


def allow_private(*, tenant: Any) -> bool:
    """Whether a cluster of ``tenant`` may be on a loopback, private or link-local address:
    ``BAAS_CLUSTER_ALLOW_PRIVATE`` for a tenant's cluster, ``BAAS_PLATFORM_CLUSTER_ALLOW_PRIVATE``
    for a platform cluster (``tenant=None``, registered by staff or the operator's command)."""
    name = "BAAS_CLUSTER_ALLOW_PRIVATE" if tenant is not None \
        else "BAAS_PLATFORM_CLUSTER_ALLOW_PRIVATE"
    return bool(getattr(settings, name, False))


def _timeout() -> float:
    return conf.setting("BAAS_CLUSTER_CHECK_TIMEOUT_S")


def _check(accepted: kc.Accepted) -> kc.ProbeResult:
    return kc.probe(accepted, timeout=_timeout())


def _require_writer(*, tenant: Any, actor: Any) -> None:
    if actor is None:  # the platform itself (``manage.py platform_cluster``)
        return
    if tenant is None:  # a platform cluster: staff only, invisible to anyone else
        if not platform.is_staff(actor):
            raise NotFound("not_found", _("Not found."))
        return
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")


def _require_own(*, tenant: Any, cluster: Cluster) -> None:
    """A tenant reads platform clusters (to choose one) but only staff change them."""
    if cluster.tenant_id is None and tenant is not None:
        raise PermissionDenied(
            "cluster_platform_managed",
            _("This cluster belongs to the platform; only platform staff can change it."))
    if tenant is not None and cluster.tenant_id != tenant.pk:
        raise NotFound("not_found", _("Cluster not found."))


def cluster_register(
    *, tenant: Any, actor: Any, name: Any, kubeconfig: Any, context: Any = None,
    request: Any = None,
) -> Cluster:
    """Check and store a cluster; ``tenant=None`` registers a platform cluster (staff)."""
    _require_writer(tenant=tenant, actor=actor)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationFailed(
            "invalid_name",
            _("A cluster name is 1-63 lowercase letters, digits or hyphens, starting and "
              "ending with a letter or digit."),
        )
    if context is not None and (not isinstance(context, str) or len(context) > 253):
        raise ValidationFailed("cluster_kubeconfig_incomplete",
                               _("context must be the name of a context of the kubeconfig."))
    if Cluster.objects.filter(tenant=tenant, name=name).exists():
        raise Conflict("cluster_name_taken",
                       _("There is already a cluster called '%(name)s'.") % {"name": name},
                       details={"name": name})
    try:
        accepted = kc.sanitize(kubeconfig, context=context or None,
                               allow_private=allow_private(tenant=tenant))
        result = _check(accepted)
    except kc.KubeconfigError as exc:
        logger.info("cluster registration refused: %s", exc.code)
        raise _refused(exc) from None
    except UnicodeError:  # a host name the IDNA codec refuses, wherever it surfaces
        raise _refused(kc.KubeconfigError("cluster_server_invalid_host", server="")) from None
    sealed = crypto.seal(json.dumps(accepted.kubeconfig, sort_keys=True).encode())
    try:
        with transaction.atomic():
            cluster = Cluster.objects.create(
                tenant=tenant, name=name, server=accepted.server, sealed_kubeconfig=sealed,
                status=ClusterStatus.READY, last_checked_at=timezone.now(),
                created_by=actor if getattr(actor, "pk", None) else None,
            )
            platform.audit(tenant=tenant, actor=actor, action="cluster.register",
                           target=cluster, request=request,
                           metadata={"name": name, "server": accepted.server,
                                     "context": accepted.context, "version": result.version})
    except IntegrityError:  # lost a race for the name
        raise Conflict("cluster_name_taken",
                       _("There is already a cluster called '%(name)s'.") % {"name": name},
                       details={"name": name}) from None
    return cluster


def cluster_check(*, tenant: Any, actor: Any, cluster: Cluster, request: Any = None) -> Cluster:
    """Check a registered cluster again with its stored kubeconfig; its status says how it
    went (``ready``, or ``failing`` with the code and parameters of what failed, worded in
    each reader's language by ``cluster_error``)."""
    _require_writer(tenant=tenant, actor=actor)
    _require_own(tenant=tenant, cluster=cluster)
    params: dict[str, Any] = {}
    try:
        stored = json.loads(crypto.unseal(bytes(cluster.sealed_kubeconfig)))
        # Checked again as at registration: the operator may have tightened the rules.
        accepted = kc.sanitize(json.dumps(stored),
                               allow_private=allow_private(tenant=cluster.tenant_id))
        _check(accepted)
        code = ""
    except kc.KubeconfigError as exc:
        code = exc.code
        # Only our own parameters (a field name, the server URL, a right), as text.
        params = {k: str(v)[:300] for k, v in exc.params.items()}
    except UnicodeError:
        code, params = "cluster_server_invalid_host", {"server": cluster.server[:300]}
    except crypto.SealError:
        code = "cluster_credentials_unreadable"
    with transaction.atomic():
        locked = Cluster.objects.select_for_update().get(pk=cluster.pk)
        locked.status = ClusterStatus.FAILING if code else ClusterStatus.READY
        locked.last_checked_at = timezone.now()
        locked.last_error_code = code
        locked.last_error_params = params
        locked.save(update_fields=["status", "last_checked_at", "last_error_code",
                                   "last_error_params", "updated_at"])
        platform.audit(tenant=tenant, actor=actor, action="cluster.check", target=locked,
                       request=request, metadata={"status": locked.status, "error_code": code})
    return locked


def cluster_delete(*, tenant: Any, actor: Any, cluster: Cluster, request: Any = None) -> None:
    """Forget a cluster no live network uses (nothing on the cluster itself is touched)."""
    from deploy.choices import NetworkStatus
    from deploy.models import Network

    _require_writer(tenant=tenant, actor=actor)
    _require_own(tenant=tenant, cluster=cluster)
    with transaction.atomic():
        locked = Cluster.objects.select_for_update().get(pk=cluster.pk)
        using = list(selectors.cluster_in_use(cluster=locked).values_list("name", flat=True)[:5])
        if using:
            raise Conflict(
                "cluster_in_use",
                _("Networks still run on this cluster (%(names)s); delete them first.")
                % {"names": ", ".join(using)},
                details={"networks": using},
            )
        # Deleted networks keep no claim on it (the foreign key protects live ones).
        Network.objects.filter(cluster=locked, status=NetworkStatus.DELETED).update(cluster=None)
        platform.audit(tenant=tenant, actor=actor, action="cluster.delete", target=locked,
                       request=request, metadata={"name": locked.name, "server": locked.server})
        locked.delete()


def cluster_for_network(*, tenant: Any, cluster_id: Any, driver: str) -> Cluster | None:
    """The cluster a new network of ``tenant`` asks for, checked: only with the
    ``kubernetes`` driver, and only the tenant's own or a platform cluster (any other id
    answers like an unknown one)."""
    if cluster_id in (None, ""):
        return None
    if driver != "kubernetes":
        raise ValidationFailed(
            "cluster_driver_mismatch",
            _("A cluster can be chosen only for networks on the kubernetes driver."),
            details={"driver": driver},
        )
    try:
        cluster = selectors.cluster_get(tenant=tenant, cluster_id=cluster_id)
    except NotFound:
        raise ValidationFailed("cluster_unknown", _("No such cluster."),
                               details={"cluster": str(cluster_id)[:40]}) from None
    _require_usable(cluster)
    return cluster


def _require_usable(cluster: Cluster) -> None:
    if cluster.status == ClusterStatus.FAILING:
        raise ValidationFailed(
            "cluster_failing",
            _("This cluster failed its last check; check it again (or choose another) "
              "before creating a network on it."),
            details={"cluster": str(cluster.pk)})


def cluster_lock_for_network(*, cluster: Cluster) -> Cluster:
    """Inside the transaction that creates a network on ``cluster``: lock its row (so
    ``cluster_delete``, which takes the same lock, waits and then sees the network) and
    refuse it if it was removed or marked failing since ``cluster_for_network`` chose it."""
    locked = Cluster.objects.select_for_update().filter(pk=cluster.pk).first()
    if locked is None:
        raise ValidationFailed("cluster_unknown", _("No such cluster."),
                               details={"cluster": str(cluster.pk)})
    _require_usable(locked)
    return locked
