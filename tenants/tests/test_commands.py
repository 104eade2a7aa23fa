import re
import stat

import pytest
from django.core.management import call_command

from baas.audit import audit_verify
from tenants.models import Membership, Tenant, User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    """The password file goes to a private directory, never the developer's var/."""
    settings.VAR_DIR = tmp_path
    return tmp_path


def _run(capsys, *args) -> str:
    call_command("demo_setup", *args)
    return capsys.readouterr().out


def _password(out: str) -> str:
    return re.search(r"Password: (\S+)", out).group(1)


def test_demo_setup_is_idempotent_and_prints_a_working_login(capsys):
    first = _run(capsys)
    second = _run(capsys)
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert User.objects.filter(email="demo@example.com").count() == 1
    password = _password(second)
    user = User.objects.get(email="demo@example.com")
    assert user.check_password(password) and user.email_verified
    assert Membership.objects.get(user=user).role == "owner"
    assert audit_verify() == (True, None)
    assert _password(first) == password  # a second make run prints the same login


def test_the_password_is_kept_in_a_private_file_not_in_the_repository(capsys, var_dir):
    password = _password(_run(capsys))
    path = var_dir / "demo-password"
    assert path.read_text().strip() == password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _password(_run(capsys)) == password
    assert User.objects.get(email="demo@example.com").check_password(password)


def test_reset_password_makes_a_new_one(capsys):
    first = _password(_run(capsys))
    second = _password(_run(capsys, "--reset-password"))
    assert second != first
    assert User.objects.get(email="demo@example.com").check_password(second)
    assert _password(_run(capsys)) == second


def test_a_password_changed_in_the_portal_is_left_alone(capsys):
    _run(capsys)
    user = User.objects.get(email="demo@example.com")
    user.set_password("my own passphrase 42")
    user.save()
    out = _run(capsys)
    assert "the one you set" in out
    assert User.objects.get(pk=user.pk).check_password("my own passphrase 42")


def test_a_lost_password_file_gives_a_new_password_that_works(capsys, var_dir):
    _run(capsys)
    (var_dir / "demo-password").unlink()
    password = _password(_run(capsys))
    assert User.objects.get(email="demo@example.com").check_password(password)


def test_a_fresh_database_reuses_the_stored_password(capsys):
    password = _password(_run(capsys))
    User.objects.filter(email="demo@example.com").delete()
    assert _password(_run(capsys)) == password
    assert User.objects.get(email="demo@example.com").check_password(password)
