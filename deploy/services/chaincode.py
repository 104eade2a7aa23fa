"""Chaincode installs and upgrades on a network: governance, so only through here.

An admin of the network's owner, with the ``deploy`` scope on a token, asks; the service
checks the name, version and size, records a ``chaincode.install`` operation and an audit
record, and the workflow sends ``_lifecycle.install`` signed by the owner's governing
identity (``deploy.chain``). The gateway refuses the same call from anyone.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from baas.errors import Conflict, ValidationFailed
from baas.models import Operation
from baas.operations import enqueue_after_commit, operation_create
from deploy import platform, tasks
from deploy.choices import NETWORK_LIVE, OperationKind
from deploy.guards import no_active_validator_change, require_owner
from deploy.models import Network

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
VERSION_RE = re.compile(r"^[0-9]{1,6}\.[0-9]{1,6}\.[0-9]{1,6}$")
MAX_SOURCE_BYTES = 256 * 1024


def chaincode_install(
    *, tenant: Any, actor: Any, network: Network, name: Any, version: Any, source: Any,
    request: Any = None,
) -> Operation:
    platform.require_role(tenant=tenant, actor=actor, minimum="admin")
    require_owner(tenant, network)
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValidationFailed(
            "invalid_chaincode_name",
            _("A chaincode name is 1-64 lowercase letters, digits or underscores, starting "
              "with a letter (names starting with '_' are the system's)."),
            details={"name": str(name)[:80]})
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        raise ValidationFailed("invalid_version",
                               _("The version is MAJOR.MINOR.PATCH, for example 1.0.0."))
    if not isinstance(source, str) or not source.strip():
        raise ValidationFailed("invalid_source", _("The source is the contract's Python code."))
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise ValidationFailed(
            "source_too_large",
            _("The source is %(size)s bytes; at most %(max)s are accepted.")
            % {"size": size, "max": MAX_SOURCE_BYTES})
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed("invalid_source",
                               _("The source is not valid UTF-8 text.")) from None
    with transaction.atomic():
        locked = Network.objects.select_for_update().get(pk=network.pk)
        if locked.status not in NETWORK_LIVE:
            raise Conflict(
                "network_not_running",
                _("The network is %(status)s; it must run to install chaincode.")
                % {"status": locked.status}, details={"status": locked.status})
        no_active_validator_change(locked)
        code_hash = hashlib.sha256(source.encode()).hexdigest()
        op = operation_create(
            tenant=tenant, actor=actor, kind=OperationKind.CHAINCODE_INSTALL,
            target=("deploy.network", locked.pk), deadline=timedelta(minutes=5),
            params={"name": name, "version": version, "source": source,
                    "code_hash": code_hash},
        )
        platform.audit(tenant=tenant, actor=actor, action="chaincode.install", target=locked,
                       request=request,
                       metadata={"name": name, "version": version, "code_hash": code_hash})
        enqueue_after_commit(tasks.chaincode_install_task, str(locked.pk), op.pk)
    return op
