"""API token scope checks.

A request authenticated by an API token needs ``read`` for safe methods and ``write`` for
anything else; infrastructure endpoints add ``DeployScopeForWrites`` (``deploy`` for their
writes) and deployment-only endpoints ``HasScope("deploy")``. Session requests are not
limited by scopes (roles still apply).
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
        needed = "read" if request.method in SAFE_METHODS else "write"
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


# Permission classes of infrastructure viewsets (networks, nodes, consortium invitations).
INFRASTRUCTURE_PERMISSIONS = [TokenScopePermission, DeployScopeForWrites]
