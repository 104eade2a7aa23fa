"""Words for stored codes: operation kinds, operation steps and audit actions.

The database keeps codes (``network.create``, ``node_started`` with ``{"node": "acme-0"}``,
``consortium.invite``) and never sentences, so the portal and the API can say them in the
reader's language. Each catalogue maps a code to a lazily translated text; step texts have
``{param}`` placeholders filled from the step's ``params``.

A step is stored as ``{"time", "code", "params", "message"}`` (``message``: the English text,
for logs and for readers that know no code). Older rows have only ``time`` and ``message``:
the messages this code base wrote are recognised by their text (``started acme-0`` is
``node_started`` with ``node=acme-0``); any other message is shown as stored.

Unknown codes never fail: an unknown kind or action shows the code itself, an unknown step
its ``message``. Adding a code: add it here, run ``make messages``, translate it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# --- operation kinds (``Operation.kind``) ----------------------------------------------------

OPERATION_KINDS: dict[str, Promise] = {
    "network.create": _("Create network"),
    "network.start": _("Start network"),
    "network.stop": _("Stop network"),
    "network.delete": _("Delete network"),
    "node.restart": _("Restart node"),
    "node.recover": _("Recover crashed node"),
    "network.validator_add": _("Add validator"),
    "network.validator_remove": _("Remove validator"),
    "chaincode.install": _("Install chaincode"),
    "key.revoke": _("Take a revoked signing key off the chain"),
    "network.org_add": _("Register member organisation"),
    "network.member_remove": _("Remove consortium member"),
    "network.upgrade": _("Upgrade network ledger"),
    "invitation.send": _("Send invitation email"),
    "template.deploy": _("Deploy a template"),
    "network.export": _("Export network"),
    "network.backup": _("Back up network"),
    "network.restore": _("Restore network from a backup"),
}

# --- audit actions (``AuditEvent.action``) ---------------------------------------------------

AUDIT_ACTIONS: dict[str, Promise] = {
    # accounts
    "tenant.signup": _("Signed up and created the organisation"),
    "user.email_verified": _("Verified email address"),
    "user.login": _("Signed in"),
    "user.login_failed": _("Failed sign-in"),
    "user.login_locked": _("Sign-in locked after repeated failures"),
    "user.logout": _("Signed out"),
    "user.password_reset_requested": _("Requested a password reset"),
    "user.password_reset": _("Reset password"),
    # organisation
    "tenant.updated": _("Changed the organisation"),
    "tenant.quotas_changed": _("Changed the organisation's quotas"),
    "invitation.created": _("Invited a member"),
    "invitation.accepted": _("Accepted an invitation"),
    "invitation.revoked": _("Withdrew an invitation"),
    "membership.role_changed": _("Changed a member's role"),
    "membership.removed": _("Removed a member"),
    "token.created": _("Created an API token"),
    "token.revoked": _("Revoked an API token"),
    "operation.cancelled": _("Cancelled an operation"),
    "demo.setup": _("Set up the demo organisation"),
    # networks
    "network.create": _("Asked for a network"),
    "network.start": _("Started a network"),
    "network.stop": _("Stopped a network"),
    "network.delete": _("Deleted a network"),
    "network.approve": _("Approved a network"),
    "network.reject": _("Rejected a network"),
    "network.validator_add": _("Added a validator"),
    "network.validator_remove": _("Removed a validator"),
    "chaincode.install": _("Installed chaincode"),
    "network.signing_key_registered": _("Registered a personal signing key"),
    "network.upgrade": _("Asked for a network ledger upgrade"),
    "node.restart": _("Restarted a node"),
    "node.recover": _("Recovered a crashed node"),
    # clusters
    "cluster.register": _("Registered a Kubernetes cluster"),
    "cluster.check": _("Checked a Kubernetes cluster"),
    "cluster.delete": _("Removed a Kubernetes cluster"),
    # consortiums
    "consortium.invite": _("Invited an organisation to a network"),
    "consortium.revoke": _("Withdrew a network invitation"),
    "consortium.accept": _("Joined a network"),
    "consortium.decline": _("Declined a network invitation"),
    "consortium.member_remove": _("Removed a network member"),
    # templates
    "template.upload": _("Uploaded a template"),
    "template.deploy": _("Deployed a template"),
    "template.approve": _("Approved a template version"),
    # elections (elections/services.py): calls of a voting deployment
    "election.create": _("Created an election"),
    "election.voters_add": _("Added voters to an election's roll"),
    "election.open": _("Opened voting"),
    "election.close": _("Closed voting"),
    "election.publish": _("Published an election's result"),
    "election.trustee_key": _("Posted a trustee's key share"),
    "election.decryption": _("Posted a trustee's partial decryption"),
    # exports and backups (archives/)
    "network.export": _("Exported a network"),
    "network.backup": _("Backed up a network"),
    "network.restore": _("Restored a network from a backup"),
    "archive.download": _("Downloaded an export or backup"),
    "archive.delete": _("Deleted an export or backup"),
    "backup.schedule": _("Changed a network's backup schedule"),
}

# --- operation steps (``Operation.steps[i]["code"]`` and its ``params``) ---------------------
# code -> text. Where each is written: docs/portal.md#operation-steps (and the report of
# issue 7); the English ``message`` stored with a step is this text, filled in.

OPERATION_STEPS: dict[str, Promise] = {
    # every operation (baas/operations.py)
    "queued": _("Queued"),
    "running": _("Running"),
    "succeeded": _("Succeeded"),
    "failed": _("Failed"),
    "failed_with_error": _("Failed: {error}"),
    "cancelled": _("Cancelled"),
    "cancelled_by": _("Cancelled by {actor}"),
    "superseded": _("Stopped: a later request changed what is wanted"),
    "deadline_exceeded": _("The operation did not finish before its deadline"),
    "done": _("Done"),
    "resuming_stalled": _("No progress for {seconds} s: resuming"),
    "resumed": _("Resumed by a new run"),
    # network approval (deploy/services.py)
    "awaiting_approval": _("Waiting for platform approval"),
    "approved_by": _("Approved by {actor}"),
    "rejected_by_platform": _("Rejected by the platform"),
    "withdrawn_before_approval": _("Withdrawn before approval"),
    # provision, start, stop, delete (deploy/tasks.py)
    "driver_available": _("The {driver} driver is available"),
    "nodes_planned": _("Planned {count} validator addresses"),
    "keys_generated": _("Generated keys and genesis (keys stored encrypted)"),
    "node_started": _("Started {node}"),
    "waiting_first_block": _("Waiting for the first committed block"),
    "waiting_block_above": _("Waiting for a block above height {height}"),
    "network_running": _("Running: block {height} committed"),
    "already_running": _("Already running"),
    "node_stopped": _("Stopped {node}"),
    "network_stopped": _("Stopped"),
    "already_stopped": _("Already stopped"),
    "node_removed": _("Removed {node}"),
    "shared_resources_removed": _("Removed the network's shared resources"),
    "network_deleted": _("Deleted"),
    "already_deleted": _("Already deleted"),
    "cluster_leftovers_possible": _(
        "The organisation's cluster could not be cleaned up ({reason}); objects of this "
        "network may remain there (namespace baas-{network}) and are the organisation's "
        "to delete"),
    "network_deleted_with_leftovers": _(
        "Deleted; objects may remain on the organisation's cluster"),
    # node restart and recovery (deploy/tasks.py, deploy/recovery.py, deploy/reconcile.py)
    "node_back": _("{node} is back at height {height}"),
    "recovery_found_down": _("The reconciler found {node} not running: {reason}"),
    "recovery_retry": _("Still not running ({reason}); starting it again"),
    "recovery_restart_failed": _("Restart failed ({code}: {error}); the next pass tries again"),
    "recovery_restarted": _("Started {node} again (restart {count}); waiting for it to serve"),
    "recovery_serving": _("{node} serves again at height {height}"),
    "recovery_network_stopped": _("The network was stopped"),
    "recovery_network_deleted": _("The network was deleted"),
    # validators and consortium members (deploy/tasks.py)
    "org_registered": _("Organisation {org} is registered on chain"),
    "node_planned": _("Planned {node}"),
    "node_keys_generated": _("Generated keys for {node} (stored encrypted)"),
    "validator_add_requested": _("Started {node}; asking the chain to add it"),
    "validator_add_committed": _("Validator update committed; waiting for it to sign"),
    "validator_added": _("{node} is a validator"),
    "validator_remove_committed": _("Validator update for {node} committed"),
    "validator_left_set": _("{node} left the validator set"),
    "validator_removed": _("{node} removed"),
    "already_removed": _("Already removed"),
    "org_removed_from_chain": _("Organisation {org} and its keys are off the chain"),
    "member_removed": _("{member} is no longer a member"),
    # chaincode installs (deploy/workflows/chaincode.py)
    "chaincode_install_sent": _("Sending {name} {version} to the chain"),
    "chaincode_installed": _("{name} {version} is {status}"),
    # signing keys (deploy/workflows/keys.py)
    "key_destroyed": _("Key {member} destroyed; the network is not running"),
    "key_removed_from_chain": _("Key {member} is off the chain"),
    # network upgrades (deploy/workflows/upgrade.py)
    "upgrade_runtime_ready": _("Ledger {version} can run on the {driver} driver"),
    "upgrade_catching_up": _("{count} validator(s) stopped before height {height}: syncing them "
                             "on the old version first"),
    "upgrade_halted": _("Stopped every validator: the chain halted at height {height}"),
    "upgrade_switched": _("The network now runs ledger {version}"),
    "app_hashes_equal": _("Every node has app hash {app_hash} at height {height}"),
    "network_upgraded": _("Upgraded to ledger {version}; running at height {height}"),
    "already_upgraded": _("Already at ledger {version}"),
    # template deploys (sectors/workflows.py)
    "template_checking": _("Checking {name} on the chain"),
    "template_installing": _("Installing {name} {version}"),
    "template_initialising": _("Calling {name}.{function} with the organisation roles"),
    "template_deployed": _("{name} {version} is active"),
    # invitation emails (tenants/tasks.py)
    "invitation_picked_up": _("The worker picked up the invitation"),
    "email_composing": _("Composing the email"),
    "email_sending": _("Sending to {email}"),
    "email_send_failed": _("Sending failed: {error}; retrying"),
    "email_sent": _("Email sent"),
    # exports, backups and restores (archives/workflows.py)
    "export_ledger_copied": _("Copied ledger {version}"),
    "node_copied": _("Copied {node} at height {height}"),
    "archive_writing": _("Writing the archive"),
    "archive_ready": _("Archive ready: height {height}, {size} bytes"),
    "archive_verified": _("The backup is whole: height {height}"),
    "keys_restored": _("Stored the backup's keys (sealed) and genesis"),
    "network_restored": _("Restored: continues from height {height}, now at {now}"),
}

# The English text older rows stored for steps without parameters: recognised so that
# those rows read in the reader's language too.
_LEGACY_MESSAGES: dict[str, str] = {
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "done": "done",
    "already running": "already_running",
    "stopped": "network_stopped",
    "already stopped": "already_stopped",
    "deleted": "network_deleted",
    "already deleted": "already_deleted",
    "already removed": "already_removed",
    "waiting for platform approval": "awaiting_approval",
    "withdrawn before approval": "withdrawn_before_approval",
    "rejected by the platform": "rejected_by_platform",
    "generated keys and genesis (keys stored encrypted)": "keys_generated",
    "waiting for the first committed block": "waiting_first_block",
    "removed the network's shared resources": "shared_resources_removed",
    "validator update committed; waiting for it to sign": "validator_add_committed",
    "the network was stopped": "recovery_network_stopped",
    "the network was deleted": "recovery_network_deleted",
    "worker picked up the invitation": "invitation_picked_up",
    "composing email": "email_composing",
    "email sent": "email_sent",
}

# ... and the ones with values, as the workers wrote them before steps had codes.
_LEGACY_FORMATS: dict[str, str] = {
    "failed: {error}": "failed_with_error",
    "cancelled by {actor}": "cancelled_by",
    "approved by {actor}": "approved_by",
    "no progress for {seconds}s: resuming": "resuming_stalled",
    "{driver} driver is available": "driver_available",
    "planned {count} validator addresses": "nodes_planned",
    "started {node}": "node_started",
    "waiting for a block above height {height}": "waiting_block_above",
    "running: block {height} committed": "network_running",
    "stopped {node}": "node_stopped",
    "removed {node}": "node_removed",
    "{node} is back at height {height}": "node_back",
    "the reconciler found {node} not running: {reason}": "recovery_found_down",
    "still not running ({reason}); starting it again": "recovery_retry",
    "restart failed ({code}: {error}); the next pass tries again": "recovery_restart_failed",
    "started {node} again (restart {count}); waiting for it to serve": "recovery_restarted",
    "{node} serves again at height {height}": "recovery_serving",
    "organisation {org} is registered on chain": "org_registered",
    "organisation {org} registered on chain": "org_registered",
    "planned {node}": "node_planned",
    "generated keys for {node} (stored encrypted)": "node_keys_generated",
    "started {node}; asking the chain to add it": "validator_add_requested",
    "{node} is a validator": "validator_added",
    "validator update for {node} committed": "validator_remove_committed",
    "{node} left the validator set": "validator_left_set",
    "{node} removed": "validator_removed",
    "organisation {org} and its keys are off the chain": "org_removed_from_chain",
    "{member} is no longer a member": "member_removed",
    "sending to {email}": "email_sending",
    "send failed: {error}; retrying": "email_send_failed",
}
_FREE_TEXT = {"reason", "error"}  # may contain spaces; every other value is one word


def _legacy_regex(fmt: str) -> re.Pattern[str]:
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(fmt):
        out.append(re.escape(literal))
        if name:
            out.append(f"(?P<{name}>.+?)" if name in _FREE_TEXT else rf"(?P<{name}>\S+?)")
    return re.compile("".join(out))


# Longest literal text first, so "started {node}; asking..." wins over "started {node}".
_LEGACY_PATTERNS = sorted(
    ((_legacy_regex(fmt), code) for fmt, code in _LEGACY_FORMATS.items()),
    key=lambda item: -len(re.sub(r"\(\?P<\w+>[^)]*\)", "", item[0].pattern)),
)


def _legacy_step(message: str) -> tuple[str | None, dict[str, str]]:
    """A step stored as free English text -> its code and values, when it is one of ours."""
    code = _LEGACY_MESSAGES.get(message)
    if code:
        return code, {}
    for pattern, code in _LEGACY_PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            return code, match.groupdict()
    return None, {}


class _Params(dict):
    def __missing__(self, key: str) -> Any:
        raise KeyError(key)


def operation_kind_label(kind: str) -> str:
    """``network.create`` -> "Create network" in the active language; unknown: the code."""
    label = OPERATION_KINDS.get(kind)
    return str(label) if label is not None else kind


def audit_action_label(action: str) -> str:
    """``consortium.invite`` -> its words in the active language; unknown: the code."""
    label = AUDIT_ACTIONS.get(action)
    return str(label) if label is not None else action


def operation_step_text(step: Mapping[str, Any]) -> str:
    """One stored step in the active language: its ``code`` and ``params`` through the
    catalogue when the code is known (and every placeholder has a value), else the stored
    ``message`` (older rows, codes this version does not know)."""
    message = str(step.get("message") or "")
    code = step.get("code")
    params = step.get("params") or {}
    if not code:
        code, params = _legacy_step(message)
    template = OPERATION_STEPS.get(code or "")
    if template is None:
        return message or str(code or "")
    try:
        return str(template).format_map(_Params({k: v for k, v in params.items()}))
    except (KeyError, IndexError, ValueError, AttributeError):
        return message or str(template)


def step_message(code: str, **params: Any) -> dict[str, Any]:
    """The stored form of a step (without its time): code, params, and the English text.

    For writers of steps (``baas/operations.py``), so the English ``message`` is the
    catalogue's own text and never drifts from it."""
    from django.utils import translation

    with translation.override("en"):
        text = operation_step_text({"code": code, "params": params})
    return {"code": code, "params": params, "message": text}


def describe_operation(op: Any) -> Any:
    """Put the words on an ``Operation`` for a template: ``kind_label``, ``step_texts``
    (``(step, text)`` pairs) and ``last_step_text``. Returns ``op``."""
    op.kind_label = operation_kind_label(op.kind)
    steps = op.steps if isinstance(op.steps, list) else []
    op.step_texts = [(step, operation_step_text(step)) for step in steps
                     if isinstance(step, Mapping)]
    op.last_step_text = op.step_texts[-1][1] if op.step_texts else ""
    return op


def describe_operations(ops: Iterable[Any]) -> list[Any]:
    return [describe_operation(op) for op in ops]


def describe_audit_events(events: Iterable[Any]) -> list[Any]:
    """Put ``action_label`` on each audit event for a template."""
    out = []
    for event in events:
        event.action_label = audit_action_label(event.action)
        out.append(event)
    return out
