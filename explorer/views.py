"""Portal pages of the explorer. Thin: every read is one ``explorer.selectors`` call; a
chain that cannot be read (stopped network, no node answering, a bad search) is said on
the page with the API's message, never a server error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

from baas.errors import AppError, NotFound
from deploy.views import network_for_page
from explorer import selectors
from tenants.forms import app_error_text
from tenants.views import page, tenant_required


class _Failed(str):
    """An error's text that remembers its status: bad input makes the page a 400, a chain
    that cannot be read (stopped, unreachable) leaves it a 200 that says so."""

    status: int = 200


def _read(fn: Callable[[], Any]) -> tuple[Any, str]:
    """``fn()`` and no error, or None and the error's text; a missing block or tx is a 404."""
    try:
        return fn(), ""
    except NotFound as exc:
        if exc.code in ("block_not_found", "tx_not_found"):
            raise Http404 from None
        error = _Failed(app_error_text(exc))
    except AppError as exc:
        error = _Failed(app_error_text(exc))
        error.status = 400 if exc.status == 400 else 200
    return None, error


def _status(error: str) -> int:
    return getattr(error, "status", 200)


def _api(request: HttpRequest, name: str, network: Any, **kwargs: Any) -> str:
    """An API URL the page's script calls with the session, naming the organisation."""
    url = reverse(name, kwargs={"network_pk": network.pk, **kwargs})
    return f"{url}?tenant={request.portal.tenant.slug}"


def _context(request: HttpRequest, network: Any, **extra: Any) -> dict[str, Any]:
    return {"network": network, "blocks_api": _api(request, "explorer-blocks", network),
            **extra}


@tenant_required
def explorer_home(request: HttpRequest, network_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    blocks, error = _read(lambda: selectors.block_list(network=network, limit=10))
    vals, _ = _read(lambda: selectors.validators(network=network)) if not error else (None, "")
    codes, _ = _read(lambda: selectors.chaincodes(network=network)) if not error else (None, "")
    return page(request, "explorer/home.html", _context(
        request, network, blocks=blocks, error=error, validators=vals, chaincodes=codes,
        connection=selectors.connection(network)))


@tenant_required
def explorer_blocks(request: HttpRequest, network_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    raw = request.GET.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 19 else None
    blocks, error = _read(lambda: selectors.block_list(network=network, before=before,
                                                       limit=20))
    return page(request, "explorer/blocks.html",
                _context(request, network, blocks=blocks, error=error))


@tenant_required
def explorer_block(request: HttpRequest, network_id: Any, height: int) -> HttpResponse:
    network = network_for_page(request, network_id)
    if not 1 <= height < 2**63:
        raise Http404
    block, error = _read(lambda: selectors.block_detail(
        network=network, tenant=request.portal.tenant, height=height))
    return page(request, "explorer/block.html", _context(request, network, info=block,
                                                         error=error))


@tenant_required
def explorer_tx(request: HttpRequest, network_id: Any, tx_hash: str) -> HttpResponse:
    network = network_for_page(request, network_id)
    tx, error = _read(lambda: selectors.tx_detail(
        network=network, tenant=request.portal.tenant, tx_hash=tx_hash))
    return page(request, "explorer/tx.html", _context(request, network, tx=tx, error=error),
                status=_status(error))


@tenant_required
def explorer_search(request: HttpRequest, network_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    q = request.GET.get("q", "")
    kind = request.GET.get("kind", "")
    found, error = _read(lambda: selectors.search(network=network, tenant=request.portal.tenant,
                                                  q=q, kind=kind))
    return page(request, "explorer/search.html", _context(
        request, network, q=q, kind=kind, found=found, error=error,
        kinds=selectors.SEARCH_KINDS), status=_status(error))


@tenant_required
def explorer_state(request: HttpRequest, network_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    chaincode = request.GET.get("chaincode", "")
    prefix = request.GET.get("prefix", "")
    after = request.GET.get("after", "")
    state, error = None, ""
    proof_api = ""
    if chaincode:
        state, error = _read(lambda: selectors.state_keys(
            network=network, chaincode=chaincode, prefix=prefix, after=after))
        if state is not None:
            proof_api = _api(request, "explorer-proof", network, chaincode=chaincode)
    codes, codes_error = _read(lambda: selectors.chaincodes(network=network))
    error = error or codes_error
    return page(request, "explorer/state.html", _context(
        request, network, chaincode=chaincode, prefix=prefix, state=state, error=error,
        proof_api=proof_api, chaincodes=codes), status=_status(error))
