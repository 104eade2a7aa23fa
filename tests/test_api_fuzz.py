"""Schema-driven fuzz of the whole API: no request may produce a 500 (issue 8).

Every operation of the OpenAPI schema the project serves (``/api/v1/schema/``) gets
``FUZZ_EXAMPLES`` positive requests aimed at objects that exist (a network with a node, a
member, an invitation, a token, an operation...), ``FUZZ_EXAMPLES`` positive requests with
any ids and ``FUZZ_EXAMPLES`` negative (schema-violating) ones from schemathesis, sent
through Django's test client as a tenant owner who is also platform staff, in a session (so
CSRF is not what answers and staff endpoints are reached). Each request runs in a savepoint
that is rolled back, so the known objects survive and one database error cannot hide the
next. Query strings are encoded with ``surrogatepass``, so malformed UTF-8 reaches
the server as a real client could send it. Set ``BAAS_FUZZ_EXAMPLES`` to fuzz harder locally.
"""

from __future__ import annotations

import json
import os
import time
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from baas.audit import audit_record
from baas.testing import api_client_for
from deploy.tests.factories import ConsortiumInvitationFactory, NetworkFactory, NodeFactory
from tenants import services
from tenants.tests.factories import (
    InvitationFactory,
    MembershipFactory,
    OperationFactory,
    TenantFactory,
)

FUZZ_EXAMPLES = int(os.environ.get("BAAS_FUZZ_EXAMPLES", "20"))
# Long-polling endpoints wait for the ledger; they are fuzzed on their parameters elsewhere.
SKIP = {"GET /api/v1/networks/{network_pk}/gateway/events/",
        "GET /api/v1/operations/{id}/events/"}


def _schema():
    from drf_spectacular.generators import SchemaGenerator

    raw = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(json.dumps(raw, default=str)))


def _query_string(query) -> str:
    parts = []
    for key, value in (query or {}).items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            text = item if isinstance(item, str) else json.dumps(item)
            k = quote(str(key), safe="", errors="surrogatepass")
            v = quote(text, safe="", errors="surrogatepass")
            parts.append(f"{k}={v}")
    return "&".join(parts)


# 5xx answers that are documented outcomes, not faults: the test network's only node is
# unreachable on purpose.
EXPECTED_5XX = {"gateway_unavailable", "node_unreachable"}


def _server_error(response) -> bool:
    if response.status_code < 500:
        return False
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return True
    return response.status_code == 500 or code not in EXPECTED_5XX


class _Rollback(Exception):
    pass


def _prober(client, label, stats):
    def probe(case):
        from django.db import transaction

        try:
            with transaction.atomic():
                response = _send(client, case)
                raise _Rollback
        except _Rollback:
            pass
        stats["requests"] += 1
        if _server_error(response):
            stats["server_errors"].append((label, case.formatted_path, case.query, case.body,
                                           response.status_code, response.content[:300]))

    return probe


def _known_objects(owner):
    """Objects of the owner's tenant, by the URL segment that names their kind."""
    tenant = owner.tenant
    network = NetworkFactory(tenant=tenant)
    node = NodeFactory(network=network, rpc_url="http://127.0.0.1:9")  # discard: refused
    member = MembershipFactory(tenant=tenant, role="developer")
    token, _ = services.token_create(tenant=tenant, actor=owner.user, membership=owner,
                                     name="fuzz", scopes=["read"])
    other = TenantFactory()
    return {
        "networks": network.pk, "nodes": node.pk, "members": member.pk,
        "invitations": InvitationFactory(tenant=tenant).pk, "tokens": token.pk,
        "operations": OperationFactory(tenant=tenant).pk,
        "audit-events": audit_record(tenant=tenant, actor=owner.user, action="fuzz",
                                     target=tenant).pk,
        "consortium-invitations": ConsortiumInvitationFactory(invited_tenant=tenant).pk,
        "tenants": tenant.slug, "members-slug": other.slug,
    }


def _path_parameters(path: str, known) -> dict:
    """``/networks/{network_pk}/nodes/{id}/`` -> the known network and node."""
    values = {}
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts):
        if part.startswith("{") and i > 0:
            name, kind = part[1:-1], parts[i - 1]
            if name == "slug" and kind == "members":
                kind = "members-slug"
            if "invitations" == kind and "networks" in parts:
                kind = "consortium-invitations"
            if name == "height":
                values[name] = 1
            elif name == "tx_hash":
                values[name] = "ab" * 32
            elif kind in known:
                values[name] = known[kind]
    return values


def _send(client, case):
    body = b""
    content_type = "application/json"
    if case.body is not None and not isinstance(case.body, type(schemathesis.core.NOT_SET)):
        if case.media_type and "json" not in case.media_type:
            content_type = case.media_type
        if isinstance(case.body, bytes):
            body = case.body
        else:
            body = json.dumps(case.body, ensure_ascii=True,
                              default=lambda o: o.decode("latin-1")).encode()
    headers = {f"HTTP_{k.upper().replace('-', '_')}": v
               for k, v in (case.headers or {}).items()
               if isinstance(v, str) and v.isascii() and "\n" not in v and "\r" not in v}
    headers.pop("HTTP_AUTHORIZATION", None)
    qs = _query_string(case.query).encode("utf-8", "surrogatepass").decode("latin-1")
    path = quote(case.formatted_path, safe="/", errors="surrogatepass")
    return client.generic(case.method.upper(), path, body, content_type=content_type,
                          QUERY_STRING=qs, **headers)


@pytest.mark.django_db
def test_no_request_produces_a_500(monkeypatch):
    # Rate limits would turn most requests into 429s; they are tested on their own.
    monkeypatch.setattr("rest_framework.views.APIView.check_throttles", lambda self, r: None)
    owner = MembershipFactory(role="owner")
    owner.user.is_staff = True
    owner.user.save()
    MembershipFactory(tenant=owner.tenant, role="developer")
    InvitationFactory(tenant=owner.tenant)
    known = _known_objects(owner)
    client = api_client_for(owner.user, owner.tenant)
    client.raise_request_exception = False
    schema = _schema()
    stats = {"operations": 0, "requests": 0, "server_errors": []}
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in SKIP:
            continue
        stats["operations"] += 1
        aimed = _path_parameters(operation.path, known)
        strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE,
                                            path_parameters=aimed)] if aimed else []
        strategies += [operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                       operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)]
        for strategy in strategies:
            probe = _prober(client, label, stats)
            run = given(case=strategy)(fuzz_settings(
                max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), derandomize=True)(probe))
            try:
                run()
            except Unsatisfiable:
                pass

    elapsed = time.monotonic() - started
    report = (f"{stats['operations']} operations, {stats['requests']} requests, "
              f"{len(stats['server_errors'])} server errors in {elapsed:.0f}s")
    print(report)
    with open(os.environ.get("BAAS_FUZZ_REPORT", os.devnull), "w") as fh:
        fh.write(report + "\n" + "\n".join(map(repr, stats["server_errors"])))
    assert stats["operations"] >= 50, report
    assert not stats["server_errors"], report + "\n" + "\n".join(
        map(repr, stats["server_errors"][:20]))
