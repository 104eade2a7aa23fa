"""The deploy workflow's decisions, with the chain calls faked (the real chain: tests/e2e):
what it skips when resumed, what it refuses, and that it never records over a newer
request."""

from __future__ import annotations

import hashlib

import pytest

from baas.runner import StepFailed, Superseded
from deploy.tests.factories import MembershipFactory, NetworkFactory
from sectors import services, workflows
from sectors.choices import DeploymentStatus
from sectors.models import Deployment
from sectors.tests.test_deploy_services import template

pytestmark = pytest.mark.django_db


class FakeRun:
    operation_id = None

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.done = ""

    def step(self, percent, code, message, **params) -> None:
        self.steps.append(code)

    def beat(self) -> None:
        pass

    def check(self) -> None:
        pass

    def succeed(self, code, message, **params) -> None:
        self.done = code


class FakeChain:
    def __init__(self, monkeypatch, *, running: str | None = None,
                 install_answer: dict | None = None) -> None:
        self.running = running  # the code hash the chain runs under the name
        self.installs: list[str] = []
        self.inits: list[dict] = []
        self.install_answer = install_answer
        monkeypatch.setattr(workflows, "_on_chain", self.inspect)
        monkeypatch.setattr(workflows.chain, "install_chaincode", self.install)
        monkeypatch.setattr(workflows.chain, "governance_tx", self.init)

    def inspect(self, deployment):
        return {"active": {"code_hash": self.running}} if self.running else None

    def install(self, network, *, name, version, source):
        self.installs.append(version)
        if self.install_answer is not None:
            return self.install_answer
        self.running = hashlib.sha256(source.encode()).hexdigest()
        return {"status": "active", "code_hash": self.running}

    def init(self, network, chaincode, function, args, *, already_done=""):
        self.inits.append(args)
        return {}


@pytest.fixture
def deployment():
    owner = MembershipFactory(role="owner")
    network = NetworkFactory(tenant=owner.tenant)
    deployment, _ = services.deployment_create(tenant=owner.tenant, actor=owner.user,
                                               network=network, template=template())
    return deployment


def code_of(deployment: Deployment) -> str:
    return hashlib.sha256(deployment.target.source.encode()).hexdigest()


def test_a_first_deploy_installs_calls_init_once_and_records_the_version(deployment,
                                                                        monkeypatch):
    fake = FakeChain(monkeypatch)
    run = FakeRun()
    workflows.deploy(run, str(deployment.pk))
    assert run.steps == ["template_checking", "template_installing", "template_initialising"]
    assert run.done == "template_deployed" and fake.installs == ["1.0.0"]
    assert fake.inits == [{"currency": "KRW", "roles": deployment.roles}]
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.ACTIVE and deployment.target is None


def test_a_resumed_deploy_skips_the_install_the_chain_already_has(deployment, monkeypatch):
    fake = FakeChain(monkeypatch, running=code_of(deployment))
    workflows.deploy(FakeRun(), str(deployment.pk))
    assert fake.installs == [] and len(fake.inits) == 1  # init refuses twice: counted done


def test_already_active_with_other_code_is_a_conflict_not_a_success(deployment, monkeypatch):
    # the install answers "already done" while the chain runs another 1.0.0
    FakeChain(monkeypatch, install_answer={}, running=None)
    monkeypatch.setattr(workflows, "_on_chain",
                        lambda d: {"active": {"code_hash": "f" * 64}})
    monkeypatch.setattr(workflows, "_ours", lambda d, active: True)
    with pytest.raises(StepFailed) as err:
        workflows.deploy(FakeRun(), str(deployment.pk))
    assert err.value.code == "chaincode_version_conflict"
    deployment.refresh_from_db()
    assert deployment.active is None


def test_a_chaincode_of_that_name_not_from_a_template_is_refused(deployment, monkeypatch):
    fake = FakeChain(monkeypatch, running="e" * 64)
    with pytest.raises(StepFailed) as err:
        workflows.deploy(FakeRun(), str(deployment.pk))
    assert err.value.code == "chaincode_name_taken" and fake.installs == []


def test_a_run_whose_deployment_moved_on_records_nothing(deployment, monkeypatch):
    FakeChain(monkeypatch)
    v1 = deployment.target
    real_init = workflows.chain.governance_tx

    def init_then_failed_elsewhere(*args, **kwargs):
        real_init(*args, **kwargs)
        workflows.failure_policy(str(deployment.pk))("stalled", "resumed elsewhere")
        return {}

    monkeypatch.setattr(workflows.chain, "governance_tx", init_then_failed_elsewhere)
    with pytest.raises(Superseded):
        workflows.deploy(FakeRun(), str(deployment.pk))
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.FAILED and deployment.active is None
    assert deployment.target == v1
