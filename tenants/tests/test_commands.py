import re

import pytest
from django.core.management import call_command

from baas.audit import audit_verify
from tenants.models import Membership, Tenant, User

pytestmark = pytest.mark.django_db


def _run(capsys) -> str:
    call_command("demo_setup")
    return capsys.readouterr().out


def test_demo_setup_is_idempotent_and_prints_a_working_login(capsys):
    first = _run(capsys)
    second = _run(capsys)
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert User.objects.filter(email="demo@example.com").count() == 1
    password = re.search(r"Password: (\S+)", second).group(1)
    assert password != re.search(r"Password: (\S+)", first).group(1)
    user = User.objects.get(email="demo@example.com")
    assert user.check_password(password) and user.email_verified
    assert Membership.objects.get(user=user).role == "owner"
    assert audit_verify() == (True, None)
