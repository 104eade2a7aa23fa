"""The defects the seams review found (issue 7), each as a test that failed on the old code:
background actors that overwrote what the user asked for, a reconciler that one bad node
stopped, cancels that stranded a network, locks held across slow calls, stop errors
swallowed, and governance reachable through the gateway."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from baas.errors import Conflict
from baas.models import Operation
from baas.operations import operation_cancel
from baas.runner import Run, claim, run_operation
from deploy import chain, homes, reconcile, services, states, tasks
from deploy.choices import DesiredState, NetworkStatus, NodeStatus
from deploy.drivers import DriverError
from deploy.models import Network, Node
from deploy.services import NetworkSpec

pytestmark = pytest.mark.django_db


@pytest.fixture
def created(owner, fake_driver, cometbft, monkeypatch):
    for name in ("network_provision_task", "network_delete_task", "network_stop_task",
                 "node_restart_task"):
        monkeypatch.setattr(f"deploy.tasks.{name}.delay", lambda *a: None)
    return services.network_create(
        tenant=owner.tenant, actor=owner.user, spec=NetworkSpec(name="seams", validators=2))


def _running(created):
    network, op = created
    tasks.network_provision_task(str(network.pk), op.pk)
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING, network.error_message
    return network


# --- the reconciler never stops a pass on one bad network or node --------------------------


def test_a_node_left_stopped_in_a_live_network_is_brought_back_and_the_pass_goes_on(
        created, fake_driver, owner):
    network = _running(created)
    first = network.nodes.order_by("index").first()
    # a user's restart stopped the node, then failed to start it again
    fake_driver.stop_node(network_id=str(network.pk), node_id=str(first.pk))
    states.node_transition(node_id=first.pk, to=NodeStatus.STOPPED)
    counts = reconcile.reconcile()  # old code: InvalidTransition stopped -> crashed, pass over
    first.refresh_from_db()
    assert first.status == NodeStatus.STARTING and counts["nodes_restarted"] == 1
    assert Operation.objects.filter(kind="node.recover", target_id=str(first.pk)).exists()


def test_an_unexpected_error_on_one_network_does_not_stop_the_pass(
        created, fake_driver, monkeypatch, owner):
    network = _running(created)
    other = Network.objects.create(tenant=owner.tenant, name="other", chain_id="other-1",
                                   validator_count=1,
                                   status=NetworkStatus.STOPPED, driver="local")
    seen = []
    real_inspect = fake_driver.inspect_node

    def inspect(*, network_id, node_id):
        seen.append(network_id)
        if network_id == str(network.pk):
            raise RuntimeError("a bug in one network's handling")
        return real_inspect(network_id=network_id, node_id=node_id)

    monkeypatch.setattr(fake_driver, "inspect_node", inspect)
    Node.objects.create(network=other, tenant=owner.tenant, index=0, moniker="other-0",
                        status=NodeStatus.STOPPED)
    calls = []
    monkeypatch.setattr(reconcile, "resume_stalled", lambda: calls.append("resume") or 0)
    counts = reconcile.reconcile()
    assert counts["errors"] >= 1
    assert str(other.pk) in seen and calls == ["resume"]  # the rest of the pass ran


# --- a background failure never overwrites what the user asked for -------------------------


def test_a_delete_asked_during_provisioning_is_not_turned_into_failed(
        created, fake_driver, monkeypatch, owner):
    network, op = created
    real_apply = fake_driver.apply_node

    def apply_then_user_deletes(spec):
        real_apply(spec)
        # the user deletes the network while the first node starts; then the engine fails
        services.network_delete(tenant=owner.tenant, actor=owner.user,
                                network=Network.objects.get(pk=network.pk))
        raise DriverError("driver_timeout", "the engine stopped answering")

    monkeypatch.setattr(fake_driver, "apply_node", apply_then_user_deletes)
    tasks.network_provision_task(str(network.pk), op.pk)
    network.refresh_from_db()
    op.refresh_from_db()
    assert network.status == NetworkStatus.DELETING  # old code: failed, nodes stopped
    assert (op.state, op.error_code) == ("failed", "superseded")
    delete = Operation.objects.filter(kind="network.delete").get()
    tasks.network_delete_task(str(network.pk), delete.pk)
    network.refresh_from_db()
    delete.refresh_from_db()
    assert (network.status, delete.state) == (NetworkStatus.DELETED, "succeeded")


def test_a_failure_of_the_work_the_user_still_wants_fails_the_network(created, fake_driver):
    network, op = created
    fake_driver.unavailable = True
    tasks.network_provision_task(str(network.pk), op.pk)
    network.refresh_from_db()
    op.refresh_from_db()
    assert (network.status, network.error_code) == (NetworkStatus.FAILED, "driver_unavailable")
    assert (op.state, op.error_code) == ("failed", "driver_unavailable")


def test_a_second_delivery_while_the_first_runs_exits_quietly(created):
    _network, op = created
    first = claim(op.pk)
    assert first is not None
    ran = []
    assert run_operation(op.pk, lambda run: ran.append(run)) is None
    assert ran == []
    op.refresh_from_db()
    assert op.state == "running" and op.claim == first.claim


def test_a_resumed_run_takes_over_and_the_stale_one_stops_without_harm(created, fake_driver):
    """The old code re-queued a still-running task; the overlap hit running -> running,
    failed the network and stopped its nodes while the operation said succeeded."""
    network, op = created
    stale = claim(op.pk)
    Operation.objects.filter(pk=op.pk).update(
        heartbeat_at=timezone.now() - timedelta(hours=1))
    tasks.network_provision_task(str(network.pk), op.pk)  # the resumed delivery
    network.refresh_from_db()
    op.refresh_from_db()
    assert (network.status, op.state) == (NetworkStatus.RUNNING, "succeeded")
    # the original run wakes up: its next step finds its claim gone and it stops quietly
    from baas.runner import ClaimLost

    with pytest.raises(ClaimLost):
        stale.step(80, "late", "late step")
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING
    assert all(n.status == NodeStatus.RUNNING for n in network.nodes.all())


def test_a_stalled_operation_is_resumed_by_kind(created, fake_driver, monkeypatch, settings):
    network, op = created
    sent = []
    monkeypatch.setattr("deploy.tasks.network_provision_task.delay", lambda *a: sent.append(a))
    settings.DEPLOY_STALL_S = 1
    Operation.objects.filter(pk=op.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert reconcile.resume_stalled() == 1
    assert sent == [(str(network.pk), op.pk)]
    # a create waiting for platform approval is never resumed
    Network.objects.filter(pk=network.pk).update(status=NetworkStatus.PENDING_APPROVAL)
    Operation.objects.filter(pk=op.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert reconcile.resume_stalled() == 0


# --- cancelling --------------------------------------------------------------------------


def test_a_queued_delete_cannot_be_cancelled_and_still_deletes(created, fake_driver, owner):
    network = _running(created)
    delete = services.network_delete(tenant=owner.tenant, actor=owner.user, network=network)
    with pytest.raises(Conflict) as refused:  # old code: cancelled, network deleting forever
        operation_cancel(operation_id=delete.pk, actor=owner.user)
    assert refused.value.code == "operation_not_cancellable"
    tasks.network_delete_task(str(network.pk), delete.pk)
    network.refresh_from_db()
    assert network.status == NetworkStatus.DELETED


def test_a_cancel_is_seen_between_steps(created, fake_driver, owner):
    network = _running(created)
    node = network.nodes.first()
    op = services.node_restart(tenant=owner.tenant, actor=owner.user, node=node)
    run = claim(op.pk)
    operation_cancel(operation_id=op.pk, actor=owner.user)
    from baas.runner import Cancelled

    with pytest.raises(Cancelled):
        run.step(50, "next", "next step")


def test_the_cancel_api_answers_409_for_kinds_that_cannot_be_cancelled(
        created, fake_driver, owner):
    from baas.testing import api_client_for

    network = _running(created)
    delete = services.network_delete(tenant=owner.tenant, actor=owner.user, network=network)
    res = api_client_for(owner.user, owner.tenant).post(
        f"/api/v1/operations/{delete.pk}/cancel/")
    assert res.status_code == 409 and res.json()["error"]["code"] == "operation_not_cancellable"


# --- no lock across slow calls -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_validator_count_is_synced_without_holding_a_lock_over_rpc(created, fake_driver,
                                                                   monkeypatch):
    network = _running(created)
    during = []

    def validator_keys(url, timeout=2.0):
        during.append(connection.in_atomic_block)
        return {"a", "b", "c"}

    monkeypatch.setattr("deploy.rpc.validator_keys", validator_keys)
    chain.sync_validator_count(str(network.pk), 0)
    network.refresh_from_db()
    assert network.validator_count == 3 and during == [False]


@pytest.mark.django_db(transaction=True)
def test_homes_are_generated_outside_any_transaction(owner, fake_driver, cometbft, monkeypatch):
    import ledger.network

    real = ledger.network.generate_network
    during = []

    def generate(**kwargs):
        during.append(connection.in_atomic_block)
        return real(**kwargs)

    monkeypatch.setattr(ledger.network, "generate_network", generate)
    monkeypatch.setattr("deploy.tasks.network_provision_task.delay", lambda *a: None)
    network, op = services.network_create(tenant=owner.tenant, actor=owner.user,
                                          spec=NetworkSpec(name="homes", validators=1))
    tasks.network_provision_task(str(network.pk), op.pk)
    assert during == [False]
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING
    assert homes.homes_stored(list(network.nodes.all()))


# --- stop errors are not swallowed ---------------------------------------------------------


def test_a_node_that_did_not_stop_is_not_marked_failed_and_the_reconciler_stops_it(
        created, fake_driver, monkeypatch):
    network = _running(created)
    real_stop = fake_driver.stop_node
    broken = {"on": True}

    def stop_node(*, network_id, node_id):
        if broken["on"]:
            raise DriverError("driver_timeout", "the engine did not answer")
        real_stop(network_id=network_id, node_id=node_id)

    monkeypatch.setattr(fake_driver, "stop_node", stop_node)
    from deploy.workflows.common import stop_everything

    Network.objects.filter(pk=network.pk).update(status=NetworkStatus.FAILED)
    not_stopped = stop_everything(str(network.pk))
    assert len(not_stopped) == 2
    for node in network.nodes.all():  # old code: failed, though still running
        assert node.status == NodeStatus.RUNNING and "stop failed" in node.detail
    broken["on"] = False
    counts = reconcile.reconcile()
    assert counts["stopped_strays"] == 2
    assert not any(e["running"] for e in fake_driver.nodes.values())


# --- a restart at a time -------------------------------------------------------------------


def test_a_second_restart_of_a_node_is_refused_while_one_runs(created, fake_driver, owner):
    network = _running(created)
    node = network.nodes.first()
    services.node_restart(tenant=owner.tenant, actor=owner.user, node=node)
    with pytest.raises(Conflict) as refused:
        services.node_restart(tenant=owner.tenant, actor=owner.user, node=node)
    assert refused.value.code == "operation_in_progress"


# --- governance never through the gateway --------------------------------------------------


@pytest.mark.parametrize("chaincode", ["_lifecycle", "_identity", "_anything"])
def test_the_gateway_refuses_system_chaincode_calls(created, fake_driver, owner, chaincode):
    from baas.testing import api_client_for

    network = _running(created)
    client = api_client_for(owner.user, owner.tenant)
    res = client.post(f"/api/v1/networks/{network.pk}/gateway/tx/",
                      {"chaincode": chaincode, "function": "install",
                       "args": {"name": "x", "version": "2.0.0", "source": ""}}, format="json")
    assert res.status_code == 403 and res.json()["error"]["code"] == "system_chaincode_refused"


def test_the_gateway_refuses_a_pre_signed_system_chaincode_tx(created, fake_driver, owner):
    import base64

    from baas.testing import api_client_for
    from ledger.tx import Signer, build_tx

    network = _running(created)
    raw = build_tx(signer=Signer.generate(), chain_id=network.chain_id, chaincode="_identity",
                   function="remove_org", args={"id": owner.tenant.slug})
    res = api_client_for(owner.user, owner.tenant).post(
        f"/api/v1/networks/{network.pk}/gateway/tx/",
        {"tx": base64.b64encode(raw).decode()}, format="json")
    assert res.status_code == 403 and res.json()["error"]["code"] == "system_chaincode_refused"


def test_run_without_an_operation_still_runs(created):
    ran = []
    run_operation(None, lambda run: ran.append(isinstance(run, Run)))
    assert ran == [True]


def test_desired_state_is_what_the_failure_policy_compares(created, fake_driver):
    network, _op = created
    Network.objects.filter(pk=network.pk).update(status=NetworkStatus.PROVISIONING,
                                                 desired_state=DesiredState.STOPPED)
    assert not states.network_fail(network_id=network.pk, code="x", message="y",
                                   expected=frozenset({NetworkStatus.PROVISIONING}),
                                   desired=DesiredState.RUNNING)
    assert states.network_fail(network_id=network.pk, code="x", message="y")


# --- chaincode installs are a governed operation ------------------------------------------


SOURCE = "from ledger.contract import Contract\ncontract = Contract('token')\n"


def test_an_admin_installs_chaincode_through_an_audited_operation(
        created, fake_driver, owner, monkeypatch, django_capture_on_commit_callbacks):
    from baas.testing import api_client_for
    from tenants.models import AuditEvent

    network = _running(created)
    sent = []
    monkeypatch.setattr("deploy.tasks.chaincode_install_task.delay", lambda *a: sent.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        res = api_client_for(owner.user, owner.tenant).post(
            f"/api/v1/networks/{network.pk}/chaincodes/",
            {"name": "token", "version": "1.0.0", "source": SOURCE}, format="json")
    assert res.status_code == 202, res.content
    op = Operation.objects.get(pk=res.json()["id"])
    assert op.kind == "chaincode.install" and op.params["name"] == "token"
    assert AuditEvent.objects.filter(action="chaincode.install").exists()
    calls = []

    def governance_tx(net, chaincode, function, args, **kw):
        calls.append((chaincode, function, args["name"], args["version"]))
        return {"data": {"status": "active"}}

    monkeypatch.setattr("deploy.chain.governance_tx", governance_tx)
    tasks.chaincode_install_task(*sent[0])
    op.refresh_from_db()
    assert op.state == "succeeded", op.error_message
    assert calls == [("_lifecycle", "install", "token", "1.0.0")]


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_only_admins_install_chaincode(created, fake_driver, owner, role):
    from baas.testing import api_client_for
    from tenants.tests.factories import MembershipFactory

    network = _running(created)
    member = MembershipFactory(tenant=owner.tenant, role=role)
    res = api_client_for(member.user, owner.tenant).post(
        f"/api/v1/networks/{network.pk}/chaincodes/",
        {"name": "token", "version": "1.0.0", "source": SOURCE}, format="json")
    assert res.status_code == 403, res.content


def test_a_token_without_deploy_cannot_install_chaincode(created, fake_driver, owner):
    from baas.testing import token_client
    from tenants.services import token_create

    network = _running(created)
    _token, raw = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                               name="app", scopes=["read", "write"])
    res = token_client(raw).post(f"/api/v1/networks/{network.pk}/chaincodes/",
                                 {"name": "token", "version": "1.0.0", "source": SOURCE},
                                 format="json")
    assert res.status_code == 403 and res.json()["error"]["code"] == "insufficient_scope"


@pytest.mark.parametrize("body,code", [
    ({"name": "_lifecycle", "version": "1.0.0", "source": SOURCE}, "invalid_chaincode_name"),
    ({"name": "token", "version": "1", "source": SOURCE}, "invalid_version"),
    ({"name": "token", "version": "1.0.0", "source": ""}, "invalid_source"),
    ({"name": "token", "version": "1.0.0", "source": "x" * (256 * 1024 + 1)},
     "source_too_large"),
])
def test_bad_chaincode_installs_are_refused_with_a_code(created, fake_driver, owner, body,
                                                        code):
    from baas.testing import api_client_for

    network = _running(created)
    res = api_client_for(owner.user, owner.tenant).post(
        f"/api/v1/networks/{network.pk}/chaincodes/", body, format="json")
    assert res.status_code == 400 and res.json()["error"]["code"] == code
    assert not Operation.objects.filter(kind="chaincode.install").exists()


def test_a_read_token_and_a_viewer_may_query_but_not_transact(created, fake_driver, owner,
                                                              monkeypatch):
    from baas.testing import api_client_for, token_client
    from tenants.services import token_create
    from tenants.tests.factories import MembershipFactory

    network = _running(created)
    signers = []
    monkeypatch.setattr("deploy.gateway.query", lambda network, body, signer=None:
                        signers.append(signer) or {"result": "ok"})
    monkeypatch.setattr("deploy.chain.add_member_key",
                        lambda *a, **k: pytest.fail("a query must not register a key"))
    _token, raw = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                               name="reader", scopes=["read"])
    viewer = MembershipFactory(tenant=owner.tenant, role="viewer")
    base = f"/api/v1/networks/{network.pk}/gateway/"
    query = {"chaincode": "_identity", "function": "list_orgs", "args": {}}
    for client in (token_client(raw), api_client_for(viewer.user, owner.tenant)):
        res = client.post(base + "query/", query, format="json")
        assert res.status_code == 200 and res.json() == {"result": "ok"}, res.content
        res = client.post(base + "tx/", {"chaincode": "kv", "function": "put",
                                         "args": ["k", 1]}, format="json")
        assert res.status_code == 403, res.content
    # a query never registers a key (a read writes nothing on chain): with no key of
    # their own yet, both queries ran unsigned, with no caller
    from deploy.models import SigningKey

    assert signers == [None, None]
    assert not SigningKey.objects.filter(network=network).exists()


# --- a signing key per person and per token -----------------------------------------------


@pytest.fixture
def chain_calls(monkeypatch):
    """The gateway's broadcasts and the organisation admin's member calls, recorded."""
    calls = {"add": [], "remove": [], "signed_by": []}
    monkeypatch.setattr("deploy.chain.add_member_key", lambda net, tenant, *, member_id,
                        signer: calls["add"].append((tenant.pk, member_id, signer.public_key_hex)))
    monkeypatch.setattr("deploy.chain.remove_member_key", lambda net, tenant, *, public_key:
                        calls["remove"].append(public_key))

    def submit_tx(*, network, body, signer=None):
        calls["signed_by"].append(signer.public_key_hex if signer else None)
        return {"hash": "ab" * 32, "code": 0, "log": "", "height": 5, "data": None}

    monkeypatch.setattr("deploy.gateway.submit_tx", submit_tx)
    return calls


def _tx(client, network):
    return client.post(f"/api/v1/networks/{network.pk}/gateway/tx/",
                       {"chaincode": "kv", "function": "put", "args": ["k", 1]}, format="json")


def test_each_person_and_each_token_signs_with_its_own_key(created, fake_driver, owner,
                                                            chain_calls):
    from baas.testing import api_client_for, token_client
    from deploy.models import NetworkIdentity, SigningKey
    from tenants.services import token_create
    from tenants.tests.factories import MembershipFactory

    network = _running(created)
    dev = MembershipFactory(tenant=owner.tenant, role="developer")
    _token, raw = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                               name="ci", scopes=["read", "write"])
    for client in (api_client_for(owner.user, owner.tenant), api_client_for(owner.user,
                   owner.tenant), api_client_for(dev.user, owner.tenant), token_client(raw)):
        assert _tx(client, network).status_code == 200
    keys = {k.member_id: k.public_key for k in SigningKey.objects.filter(network=network)}
    assert set(keys) == {f"user-{owner.user.pk}", f"user-{dev.user.pk}",
                         f"token-{_token.prefix}"}
    # each key registered once, under its organisation; the owner's twice-used key once
    assert sorted(m for _t, m, _k in chain_calls["add"]) == sorted(keys)
    owner_key, dev_key, token_key = (keys[f"user-{owner.user.pk}"], keys[f"user-{dev.user.pk}"],
                                     keys[f"token-{_token.prefix}"])
    assert chain_calls["signed_by"] == [owner_key, owner_key, dev_key, token_key]
    admin = NetworkIdentity.objects.get(network=network, tenant=owner.tenant).public_key
    assert admin not in chain_calls["signed_by"]  # the organisation's admin key only governs
    from tenants.models import AuditEvent

    assert AuditEvent.objects.filter(action="network.signing_key_registered").count() == 3


def test_keys_end_with_the_membership_and_the_token(created, fake_driver, owner, chain_calls,
                                                    django_capture_on_commit_callbacks,
                                                    monkeypatch):
    from baas.testing import api_client_for, token_client
    from deploy.models import SigningKey
    from tenants.services import membership_remove, token_create, token_revoke
    from tenants.tests.factories import MembershipFactory

    network = _running(created)
    dev = MembershipFactory(tenant=owner.tenant, role="developer")
    token, raw = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                              name="ci", scopes=["read", "write"])
    assert _tx(api_client_for(dev.user, owner.tenant), network).status_code == 200
    assert _tx(token_client(raw), network).status_code == 200
    queued = []
    monkeypatch.setattr("deploy.tasks.signing_key_revoke_task.delay",
                        lambda *a: queued.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        membership_remove(target=dev, actor=owner.user, membership=owner)
        token_revoke(token=token, actor=owner.user, membership=owner)
    revoked = list(SigningKey.objects.filter(network=network, revoked_at__isnull=False))
    assert len(revoked) == 2 and all(bytes(k.sealed_private_key) == b"" for k in revoked)
    assert len(queued) == 2
    for args in queued:
        tasks.signing_key_revoke_task(*args)
    assert sorted(chain_calls["remove"]) == sorted(k.public_key for k in revoked)
    assert all(op.state == "succeeded"
               for op in Operation.objects.filter(kind="key.revoke"))


def test_a_planned_stop_and_start_is_not_counted_as_a_restart(created, fake_driver, owner,
                                                              monkeypatch):
    network = _running(created)
    real_apply = fake_driver.apply_node

    def apply_counting_starts(spec):  # a runtime that counts every start of a container
        real_apply(spec)
        entry = fake_driver.nodes[(spec.network_id, spec.node_id)]
        entry["restarts"] += 1
        return fake_driver.inspect_node(network_id=spec.network_id, node_id=spec.node_id)

    monkeypatch.setattr(fake_driver, "apply_node", apply_counting_starts)
    stop = services.network_stop(tenant=owner.tenant, actor=owner.user, network=network)
    tasks.network_stop_task(str(network.pk), stop.pk)
    start = services.network_start(tenant=owner.tenant, actor=owner.user,
                                   network=Network.objects.get(pk=network.pk))
    fake_driver.height = 9  # the chain goes on after the start
    tasks.network_start_task(str(network.pk), start.pk)
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING, network.error_message
    assert [n.restart_count for n in network.nodes.all()] == [0, 0]


def test_a_query_is_signed_once_the_asker_has_a_key(created, fake_driver, owner, chain_calls,
                                                    monkeypatch):
    from baas.testing import api_client_for
    from deploy.models import SigningKey

    network = _running(created)
    signers = []
    monkeypatch.setattr("deploy.gateway.query", lambda network, body, signer=None:
                        signers.append(signer) or {"result": "ok"})
    client = api_client_for(owner.user, owner.tenant)
    assert _tx(client, network).status_code == 200
    res = client.post(f"/api/v1/networks/{network.pk}/gateway/query/",
                      {"chaincode": "kv", "function": "get", "args": ["k"]}, format="json")
    assert res.status_code == 200
    key = SigningKey.objects.get(network=network)
    assert [s.public_key_hex for s in signers] == [key.public_key]


def test_a_key_revoked_while_it_registers_is_taken_off_again(created, fake_driver, owner,
                                                             monkeypatch):
    from baas.errors import PermissionDenied
    from deploy.services import keys
    from tenants.tests.factories import MembershipFactory

    network = _running(created)
    dev = MembershipFactory(tenant=owner.tenant, role="developer")

    def add_while_the_person_leaves(net, tenant, *, member_id, signer):
        keys.signing_keys_revoke(tenant=tenant, user=dev.user)

    monkeypatch.setattr("deploy.chain.add_member_key", add_while_the_person_leaves)
    monkeypatch.setattr("deploy.tasks.signing_key_revoke_task.delay", lambda *a: None)
    with pytest.raises(PermissionDenied):
        keys.signer_for(network=network, tenant=owner.tenant, user=dev.user)
    # queued at revocation and again once the registration turned out to have committed
    assert Operation.objects.filter(kind="key.revoke").count() == 2


def test_a_person_who_comes_back_gets_a_fresh_key(created, fake_driver, owner, chain_calls):
    from deploy.models import SigningKey
    from deploy.services import keys

    network = _running(created)
    first = keys.signer_for(network=network, tenant=owner.tenant, user=owner.user)
    keys.signing_keys_revoke(tenant=owner.tenant, user=owner.user)
    second = keys.signer_for(network=network, tenant=owner.tenant, user=owner.user)
    assert first.public_key_hex != second.public_key_hex
    assert SigningKey.objects.filter(network=network, revoked_at__isnull=True).count() == 1


def test_a_stale_run_that_fails_leaves_the_network_to_the_run_that_took_over(
        created, fake_driver, monkeypatch):
    network, op = created
    real_apply = fake_driver.apply_node

    def taken_over_then_failing(spec):
        real_apply(spec)
        # meanwhile the reconciler resumed the work and another run claimed it
        Operation.objects.filter(pk=op.pk).update(claim="another-run")
        raise DriverError("driver_timeout", "the engine stopped answering")

    monkeypatch.setattr(fake_driver, "apply_node", taken_over_then_failing)
    tasks.network_provision_task(str(network.pk), op.pk)
    network.refresh_from_db()
    op.refresh_from_db()
    assert network.status == NetworkStatus.PROVISIONING  # not failed, nodes not stopped
    assert (op.state, op.claim) == ("running", "another-run")


def test_a_stop_during_the_start_wait_leaves_no_node_marked_running(created, fake_driver, owner,
                                                                   monkeypatch):
    from deploy.workflows import provision

    network = _running(created)
    stop = services.network_stop(tenant=owner.tenant, actor=owner.user, network=network)
    tasks.network_stop_task(str(network.pk), stop.pk)
    start = services.network_start(tenant=owner.tenant, actor=owner.user,
                                   network=Network.objects.get(pk=network.pk))
    real_wait = provision.wait_for_blocks

    def wait_while_the_user_stops(network_id, **kw):
        heights = real_wait(network_id, **kw)
        services.network_stop(tenant=owner.tenant, actor=owner.user,
                              network=Network.objects.get(pk=network_id))
        return heights

    monkeypatch.setattr(provision, "wait_for_blocks", wait_while_the_user_stops)
    fake_driver.height = 9
    tasks.network_start_task(str(network.pk), start.pk)
    network.refresh_from_db()
    start.refresh_from_db()
    assert network.status == NetworkStatus.STOPPING
    assert start.state == "failed"
    assert not network.nodes.filter(status=NodeStatus.RUNNING).exists()


def test_a_node_spec_keeps_private_keys_apart_from_its_config(created, fake_driver):
    network = _running(created)
    spec = homes.node_spec(network.nodes.first())
    assert "cometbft/config/priv_validator_key.json" in spec.secret_files
    assert "cometbft/config/node_key.json" in spec.secret_files
    assert "cometbft/config/genesis.json" in spec.home_files
    assert not set(spec.home_files) & set(spec.secret_files)
    assert not any(homes.is_secret(path) for path in spec.home_files)
    assert "priv" not in repr(spec)  # keys never printed with the spec
