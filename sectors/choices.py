"""States of a deployment (a template on a network), and the kinds of its operations."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeploymentStatus(models.TextChoices):
    DEPLOYING = "deploying", _("Deploying")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    ACTIVE = "active", _("Active")
    FAILED = "failed", _("Failed")


# Moves a deployment may make (sectors.states): a failed first deploy may be retried, a
# failed upgrade leaves the active version in place (the row goes back to ACTIVE).
DEPLOYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    DeploymentStatus.DEPLOYING: frozenset({DeploymentStatus.ACTIVE, DeploymentStatus.FAILED}),
    DeploymentStatus.AWAITING_APPROVAL: frozenset({DeploymentStatus.DEPLOYING,
                                                   DeploymentStatus.ACTIVE}),
    DeploymentStatus.ACTIVE: frozenset({DeploymentStatus.DEPLOYING,
                                        DeploymentStatus.AWAITING_APPROVAL}),
    DeploymentStatus.FAILED: frozenset({DeploymentStatus.DEPLOYING}),
}
BUSY = frozenset({DeploymentStatus.DEPLOYING})


class ApprovalRule(models.TextChoices):
    OWNER = "owner", _("The owner alone")
    MAJORITY = "majority", _("A majority of the network's organisations")
    ALL = "all", _("Every organisation of the network")


TEMPLATE_DEPLOY = "template.deploy"

SECTORS = {
    "voting": _("Online voting"),
    "donation": _("Donation tracking"),
    "welfare": _("Welfare-benefit de-duplication"),
    "energy": _("Renewable-energy trading"),
    "local_currency": _("Local digital currency"),
    "real_estate": _("Real-estate records"),
    "postal": _("Postal customer management"),
    "other": _("Other"),
}
