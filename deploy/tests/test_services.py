from __future__ import annotations

import pytest

from baas.errors import (
    Conflict,
    InvalidTransition,
    PermissionDenied,
    QuotaExceeded,
    ValidationFailed,
)
from baas.models import Operation
from deploy import services, states
from deploy.choices import NetworkStatus
from deploy.models import Network
from deploy.services import NetworkSpec
from deploy.tests.factories import MembershipFactory, NetworkFactory
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """Record the tasks services queue instead of sending them to a broker."""
    sent: list[tuple[str, tuple]] = []
    for name in ("network_provision_task", "network_start_task", "network_stop_task",
                 "network_delete_task", "node_restart_task"):
        monkeypatch.setattr(f"deploy.tasks.{name}.delay",
                            lambda *a, _n=name: sent.append((_n, a)))
    return sent


def create(member, name="ledger-one", validators=4, driver="local", key=None):
    return services.network_create(
        tenant=member.tenant, actor=member.user,
        spec=NetworkSpec(name=name, validators=validators, driver=driver), idempotency_key=key,
    )


def test_create_records_network_operation_audit_and_queues_after_commit(
    owner, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        network, op = create(owner)
    assert queued == []  # nothing leaves before the transaction commits
    for callback in callbacks:
        callback()
    assert queued == [("network_provision_task", (str(network.pk), op.pk))]
    assert network.status == NetworkStatus.REQUESTED
    assert network.validator_count == 4 and network.tenant == owner.tenant
    assert op.kind == "network.create" and op.target_id == str(network.pk)
    assert AuditEvent.objects.filter(tenant=owner.tenant, action="network.create").count() == 1


def test_idempotency_key_returns_the_first_result(owner, queued):
    first, op1 = create(owner, key="abc")
    again, op2 = create(owner, key="abc")
    assert (first.pk, op1.pk) == (again.pk, op2.pk)
    assert Network.objects.filter(tenant=owner.tenant).count() == 1


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"name": "Bad Name"}, "invalid_name"),
        ({"name": "-x"}, "invalid_name"),
        ({"validators": 0}, "invalid_size"),
        ({"validators": 99}, "invalid_size"),
        ({"driver": "podman"}, "driver_unknown"),
        ({"driver": "nope"}, "driver_unknown"),
    ],
)
def test_bad_input_is_a_validation_error_with_a_code(owner, queued, kwargs, code):
    with pytest.raises(ValidationFailed) as err:
        create(owner, **kwargs)
    assert err.value.code == code
    assert not Network.objects.exists()


def test_duplicate_name_conflicts_but_is_free_after_delete(owner, queued):
    network, _ = create(owner, name="dup")
    with pytest.raises(Conflict) as err:
        create(owner, name="dup")
    assert err.value.code == "network_name_taken"
    Network.objects.filter(pk=network.pk).update(status=NetworkStatus.DELETED)
    again, _ = create(owner, name="dup")
    assert again.pk != network.pk


def test_same_name_in_another_tenant_is_fine(owner, queued):
    create(owner, name="shared")
    other = MembershipFactory(role="owner")
    network, _ = create(other, name="shared")
    assert network.tenant == other.tenant


def test_quotas_are_enforced(owner, queued):
    tenant = owner.tenant
    tenant.max_validators_per_network = 2
    tenant.max_networks = 1
    tenant.save()
    with pytest.raises(QuotaExceeded) as err:
        create(owner, validators=3)
    assert err.value.details["quota"] == "max_validators_per_network"
    create(owner, name="first", validators=2)
    with pytest.raises(QuotaExceeded) as err:
        create(owner, name="second", validators=1)
    assert err.value.details["quota"] == "max_networks"


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_create_needs_admin(queued, role):
    member = MembershipFactory(role=role)
    with pytest.raises(PermissionDenied):
        create(member)


def test_outsider_cannot_act_on_a_tenant(queued, owner):
    outsider = MembershipFactory(role="owner")  # owner elsewhere, nobody here
    with pytest.raises(PermissionDenied):
        services.network_create(
            tenant=owner.tenant, actor=outsider.user, spec=NetworkSpec(name="x"),
        )


def test_stop_start_delete_follow_the_state_machine(
    owner, queued, django_capture_on_commit_callbacks
):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        op = services.network_stop(tenant=owner.tenant, actor=owner.user, network=network)
    network.refresh_from_db()
    assert network.status == NetworkStatus.STOPPING and op.kind == "network.stop"
    with pytest.raises(Conflict):  # already stopping
        services.network_stop(tenant=owner.tenant, actor=owner.user, network=network)
    with pytest.raises(Conflict):  # cannot start while stopping
        services.network_start(tenant=owner.tenant, actor=owner.user, network=network)
    states.network_transition(network_id=network.pk, to=NetworkStatus.STOPPED)
    with django_capture_on_commit_callbacks(execute=True):
        services.network_start(tenant=owner.tenant, actor=owner.user, network=network)
    network.refresh_from_db()
    assert network.status == NetworkStatus.STARTING
    with django_capture_on_commit_callbacks(execute=True):
        services.network_delete(tenant=owner.tenant, actor=owner.user, network=network)
    network.refresh_from_db()
    assert network.status == NetworkStatus.DELETING
    assert [n for n, _ in queued] == [
        "network_stop_task", "network_start_task", "network_delete_task"
    ]


def test_failed_network_is_deletable_but_deleted_one_is_not(owner, queued):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.FAILED)
    services.network_delete(tenant=owner.tenant, actor=owner.user, network=network)
    Network.objects.filter(pk=network.pk).update(status=NetworkStatus.DELETED)
    network.refresh_from_db()
    with pytest.raises(Conflict):
        services.network_delete(tenant=owner.tenant, actor=owner.user, network=network)


def test_transition_refuses_illegal_moves(owner):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.DELETED)
    with pytest.raises(InvalidTransition):
        states.network_transition(network_id=network.pk, to=NetworkStatus.RUNNING)
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.REQUESTED)
    with pytest.raises(InvalidTransition):
        states.network_transition(network_id=network.pk, to=NetworkStatus.STOPPED)


def test_failing_a_network_keeps_the_reason(owner):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.PROVISIONING)
    states.network_fail(network_id=network.pk, code="ports_exhausted", message="no ports")
    network.refresh_from_db()
    assert (network.status, network.error_code, network.error_message) == (
        NetworkStatus.FAILED, "ports_exhausted", "no ports"
    )


def test_operations_are_scoped_to_the_tenant(owner, queued):
    _, op = create(owner)
    assert Operation.objects.for_tenant(owner.tenant).filter(pk=op.pk).exists()
    other = MembershipFactory(role="owner")
    assert not Operation.objects.for_tenant(other.tenant).filter(pk=op.pk).exists()


def test_validator_add_guards(owner, queued):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.STOPPED,
                             validator_count=2)
    with pytest.raises(Conflict) as err:
        services.validator_add(tenant=owner.tenant, actor=owner.user, network=network)
    assert err.value.code == "invalid_transition"
    Network.objects.filter(pk=network.pk).update(status=NetworkStatus.RUNNING)
    op = services.validator_add(tenant=owner.tenant, actor=owner.user, network=network)
    assert op.kind == "network.validator_add"
    with pytest.raises(Conflict) as err:  # one validator change at a time
        services.validator_add(tenant=owner.tenant, actor=owner.user, network=network)
    assert err.value.code == "operation_in_progress"
    full = NetworkFactory(tenant=owner.tenant, validator_count=4)  # free plan: 4 max
    with pytest.raises(QuotaExceeded):
        services.validator_add(tenant=owner.tenant, actor=owner.user, network=full)


def test_validator_remove_keeps_the_last_one(owner, queued):
    from deploy.tests.factories import NodeFactory

    network = NetworkFactory(tenant=owner.tenant, validator_count=1)
    node = NodeFactory(network=network)
    with pytest.raises(Conflict) as err:
        services.validator_remove(tenant=owner.tenant, actor=owner.user, node=node)
    assert err.value.code == "last_validator"
    developer = MembershipFactory(tenant=owner.tenant, role="developer")
    with pytest.raises(PermissionDenied):
        services.validator_remove(tenant=owner.tenant, actor=developer.user, node=node)
