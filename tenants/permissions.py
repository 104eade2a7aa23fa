"""API token scope checks, and the one rule that keeps tokens away from governance.

A request authenticated by an API token needs ``read`` for safe methods and ``write`` for
anything else; infrastructure endpoints add ``DeployScopeForWrites`` (``deploy`` for their
writes) and deployment-only endpoints ``HasScope("deploy")``. Session requests are not
limited by scopes (roles still apply).

**People are managed by people.** Whatever its scopes, an API token can never change the
organisation, its members and roles, its invitations or its tokens, accept an invitation,
or see the token list: those answer ``403 session_required``. The rule is enforced once, in
``check_token_allowed``, which ``ApiTokenAuthentication`` calls for every token-authenticated
request, so no view can forget it. A view is governed by the rule when the model it serves
is in ``GOVERNANCE_MODELS`` or it sets ``manages_people = True``.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from baas.errors import PermissionDenied


def _token_scopes(request: Any) -> set[str] | None:
    scopes = getattr(getattr(request, "auth", None), "scopes", None)
    return set(scopes) if scopes is not None else None


def _deny(scope: str) -> None:
    raise PermissionDenied(
        "insufficient_scope",
        f"This API token lacks the '{scope}' scope.",
        details={"required_scope": scope},
    )


class TokenScopePermission(BasePermission):
    """``read`` for GET/HEAD/OPTIONS, ``write`` for other methods, when token-authenticated."""

    def has_permission(self, request: Any, view: Any) -> bool:
        scopes = _token_scopes(request)
        if scopes is None:
            return True
        # A view that only reads, though it takes a POST body (a ledger query), says so.
        reads = request.method in SAFE_METHODS or getattr(view, "reads_only", False)
        needed = "read" if reads else "write"
        if needed not in scopes:
            _deny(needed)
        return True


class HasScope(BasePermission):
    """``permission_classes = [IsAuthenticated, TokenScopePermission, HasScope("deploy")]``."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def __call__(self) -> HasScope:
        # DRF instantiates each entry of permission_classes; an instance returns itself.
        return self

    def has_permission(self, request: Any, view: Any) -> bool:
        scopes = _token_scopes(request)
        if scopes is not None and self.scope not in scopes:
            _deny(self.scope)
        return True


class DeployScopeForWrites(BasePermission):
    """Infrastructure changes (create, start, stop, delete networks; add or remove
    validators; restart nodes; consortium invitations) need ``deploy`` on top of ``write``,
    so a token an application uses to send transactions cannot tear down its network.
    Reads need only ``read``."""

    def has_permission(self, request: Any, view: Any) -> bool:
        scopes = _token_scopes(request)
        if scopes is not None and request.method not in SAFE_METHODS and "deploy" not in scopes:
            _deny("deploy")
        return True


class SessionOnly(BasePermission):
    """Endpoints that manage credentials (tokens, members) refuse API tokens."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if _token_scopes(request) is not None:
            raise PermissionDenied(
                "session_required", "This endpoint needs a signed-in user, not an API token."
            )
        return True


# Models whose rows are people, their roles and credentials, or the organisation itself.
GOVERNANCE_MODELS = frozenset({"tenants.tenant", "tenants.membership", "tenants.invitation",
                               "tenants.apitoken"})
# Of those, the ones a token may not even read.
TOKEN_INVISIBLE_MODELS = frozenset({"tenants.apitoken"})


def _view_model_label(view: Any) -> str | None:
    queryset = getattr(view, "queryset", None)
    model = getattr(queryset, "model", None)
    if model is None:
        serializer = getattr(view, "serializer_class", None)
        model = getattr(getattr(serializer, "Meta", None), "model", None)
    return model._meta.label_lower if model is not None else None


def governs_people(view: Any) -> bool:
    """Whether ``view`` manages people, roles, invitations, tokens or the organisation."""
    return bool(getattr(view, "manages_people", False)) or \
        _view_model_label(view) in GOVERNANCE_MODELS


def check_token_allowed(request: Any, view: Any) -> None:
    """Raise 403 ``session_required`` when an API token reaches a governance endpoint with an
    unsafe method (or reads the token list). Called for every token-authenticated request."""
    if view is None or not governs_people(view):
        return
    if request.method in SAFE_METHODS and not getattr(view, "manages_people", False) and \
            _view_model_label(view) not in TOKEN_INVISIBLE_MODELS:
        return
    raise PermissionDenied(
        "session_required",
        "Members, roles, invitations, API tokens and the organisation are managed by a "
        "signed-in person, not an API token.",
    )


# Permission classes of infrastructure viewsets (networks, nodes, consortium invitations).
INFRASTRUCTURE_PERMISSIONS = [TokenScopePermission, DeployScopeForWrites]
