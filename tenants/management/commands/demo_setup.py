"""``manage.py demo_setup``: a demo organisation with a verified owner, printed to the console.

Idempotent: the organisation and user are created once, and so is the password. It is
random, generated on the first run and kept in ``var/demo-password`` (mode 0600, never in the
repository), so every later ``make run`` prints the same login instead of changing it.
A password changed in the portal since is left alone (the command says so);
``--reset-password`` makes and prints a new one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from baas.audit import audit_record
from tenants.choices import Role
from tenants.models import Membership, Tenant, User
from tenants.services import tenant_create

PASSWORD_FILE = "demo-password"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def _store(path: Path, password: str) -> None:
    """Write the password readable by this user only (0600 from the start, no window)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class Command(BaseCommand):
    help = "Create (idempotently) a demo organisation and owner and print the login."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--email", default="demo@example.com")
        parser.add_argument("--slug", default="demo")
        parser.add_argument("--reset-password", action="store_true",
                            help="Make a new demo password (and print it).")

    def handle(self, *args, email: str, slug: str, reset_password: bool = False,
               **options) -> None:  # type: ignore[override]
        path = Path(settings.VAR_DIR) / PASSWORD_FILE
        stored = "" if reset_password else _read(path)
        with transaction.atomic():
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                tenant = tenant_create(name="Demo Organisation", slug=slug)
            user = User.objects.filter(email=email).first()
            created = user is None
            if user is None:
                user = User.objects.create_user(email=email, full_name="Demo Owner")
            user.email_verified_at = user.email_verified_at or timezone.now()
            changed_since = False
            if stored and user.check_password(stored):
                password = stored  # the one printed before: keep it
            elif stored and not created and user.has_usable_password():
                password, changed_since = "", True  # changed in the portal: not ours to undo
            elif stored:  # a fresh database, the same checkout: the same login again
                password = stored
                user.set_password(password)
            else:
                password = secrets.token_urlsafe(12)
                user.set_password(password)
                _store(path, password)
            user.save()
            _membership, joined = Membership.objects.update_or_create(
                user=user, tenant=tenant, defaults={"role": Role.OWNER})
            if created or joined or password != stored:
                audit_record(tenant=tenant, actor=None, action="demo.setup", target=user,
                             metadata={"email": email})
        self.stdout.write(self.style.SUCCESS("Demo organisation ready."))
        self.stdout.write(f"  URL:      {settings.BAAS_PUBLIC_URL}/login/")
        self.stdout.write(f"  Email:    {email}")
        if changed_since:
            self.stdout.write("  Password: the one you set (it was changed since the demo "
                              "password was made; `manage.py demo_setup --reset-password` "
                              "makes a new one)")
        else:
            self.stdout.write(f"  Password: {password}")
            self.stdout.write(f"  (kept in {path}; printed again on every run)")
