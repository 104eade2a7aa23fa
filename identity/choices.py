"""Choices of the identity app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Custody(models.TextChoices):
    # The platform holds the controller key, sealed (deploy.crypto), and signs for the owner.
    PLATFORM = "platform", _("Key held by the platform")
    # The person holds the controller key; the platform only relays operations they signed.
    HOLDER = "holder", _("Key held by you")


class DidStatus(models.TextChoices):
    PENDING = "pending", _("Being written")
    ACTIVE = "active", _("Active")
    FAILED = "failed", _("Failed")
    DEACTIVATED = "deactivated", _("Deactivated")


class Subject(models.TextChoices):
    # Whose DID it is. Stored, not inferred from ``user``: a person's DID stays a (former)
    # person's DID when their account is deleted, never the organisation's.
    ORGANISATION = "organisation", _("The organisation")
    PERSON = "person", _("A person")
