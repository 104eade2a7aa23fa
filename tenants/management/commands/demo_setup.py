"""``manage.py demo_setup``: a demo organisation with a verified owner, printed to the console.

Idempotent: the organisation and user are created once. The password is random and
printed on every run (it is reset each time: it is never stored anywhere it could be read
back, so printing the old one is impossible).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from baas.audit import audit_record
from tenants.choices import Role
from tenants.models import Membership, Tenant, User
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create (idempotently) a demo organisation and owner and print the login."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--email", default="demo@example.com")
        parser.add_argument("--slug", default="demo")

    def handle(self, *args, email: str, slug: str, **options) -> None:  # type: ignore[override]
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                tenant = tenant_create(name="Demo Organisation", slug=slug)
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email=email, full_name="Demo Owner")
            user.email_verified_at = user.email_verified_at or timezone.now()
            user.set_password(password)
            user.save()
            Membership.objects.update_or_create(user=user, tenant=tenant,
                                                defaults={"role": Role.OWNER})
            audit_record(tenant=tenant, actor=None, action="demo.setup", target=user,
                         metadata={"email": email})
        self.stdout.write(self.style.SUCCESS("Demo organisation ready."))
        self.stdout.write(f"  URL:      {settings.BAAS_PUBLIC_URL}/login/")
        self.stdout.write(f"  Email:    {email}")
        self.stdout.write(f"  Password: {password}")
