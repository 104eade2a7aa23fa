"""Portal pages of the explorer. Thin: every read is one ``explorer.selectors`` call; a
chain that cannot be read (stopped network, no node answering) is said on the page with the
API's message and a 200, bad input (a search that names nothing) with a 400, never a
server error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

from baas.errors import AppError, NotFound
from deploy.views import network_for_page
from explorer import selectors
from tenants.forms import app_error_text
from tenants.views import page, tenant_required


@dataclass(frozen=True)
class Read:
    value: Any = None
    error: str = ""
    status: int = 200


def _read(fn: Callable[[], Any]) -> Read:
    """``fn()``, or the error's text; a missing block or tx is the page's 404."""
    try:
        return Read(value=fn())
    except NotFound as exc:
        if exc.code in ("block_not_found", "tx_not_found"):
            raise Http404 from None
        return Read(error=app_error_text(exc))
    except AppError as exc:
        return Read(error=app_error_text(exc), status=400 if exc.status == 400 else 200)


def _api(request: HttpRequest, name: str, network: Any, **kwargs: Any) -> str:
    """An API URL the page's script calls with the session, naming the organisation."""
    url = reverse(name, kwargs={"network_pk": network.pk, **kwargs})
    return f"{url}?tenant={request.portal.tenant.slug}"


def _render(request: HttpRequest, template: str, network: Any, read: Read,
            **context: Any) -> HttpResponse:
    return page(request, template, {
        "network": network, "error": read.error,
        "blocks_api": _api(request, "explorer-blocks", network), **context,
    }, status=read.status)


@tenant_required
def explorer_home(request: HttpRequest, network_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    blocks = _read(lambda: selectors.block_list(network=network, limit=10))
    # A chain that did not answer the first read is not asked twice more.
    vals = _read(lambda: selectors.validators(network=network)) if not blocks.error else Read()
    codes = _read(lambda: selectors.chaincodes(network=network)) if not blocks.error else Read()
    return _render(request, "explorer/home.html", network, blocks, blocks=blocks.value,
                   validators=vals.value, chaincodes=codes.value,
                   connection=selectors.connection(network))


@tenant_required
def explorer_blocks(request: HttpRequest, network_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    raw = request.GET.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 19 else None
    blocks = _read(lambda: selectors.block_list(network=network, before=before, limit=20))
    return _render(request, "explorer/blocks.html", network, blocks, blocks=blocks.value)


@tenant_required
def explorer_block(request: HttpRequest, network_id: Any, height: int) -> HttpResponse:
    network = network_for_page(request, network_id)
    if not 1 <= height < 2**63:
        raise Http404
    # ``info``, not ``block``: inside a template's {% block %}, ``block`` is the block tag.
    info = _read(lambda: selectors.block_detail(network=network, tenant=request.portal.tenant,
                                                height=height))
    return _render(request, "explorer/block.html", network, info, info=info.value)


@tenant_required
def explorer_tx(request: HttpRequest, network_id: Any, tx_hash: str) -> HttpResponse:
    network = network_for_page(request, network_id)
    tx = _read(lambda: selectors.tx_detail(network=network, tenant=request.portal.tenant,
                                           tx_hash=tx_hash))
    return _render(request, "explorer/tx.html", network, tx, tx=tx.value)


@tenant_required
def explorer_search(request: HttpRequest, network_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    q = request.GET.get("q", "")
    found = _read(lambda: selectors.search(network=network, tenant=request.portal.tenant,
                                           q=q, kind=request.GET.get("kind", "")))
    return _render(request, "explorer/search.html", network, found, q=q, found=found.value)


@tenant_required
def explorer_state(request: HttpRequest, network_id: Any) -> HttpResponse:
    network = network_for_page(request, network_id)
    chaincode = request.GET.get("chaincode", "")
    prefix = request.GET.get("prefix", "")
    state, proof_api = Read(), ""
    if chaincode:
        state = _read(lambda: selectors.state_keys(
            network=network, chaincode=chaincode, prefix=prefix,
            after=request.GET.get("after", "")))
        if not state.error:
            proof_api = _api(request, "explorer-proof", network, chaincode=chaincode)
    codes = _read(lambda: selectors.chaincodes(network=network))
    return _render(request, "explorer/state.html", network, state if state.error else codes,
                   chaincode=chaincode, prefix=prefix, state=state.value,
                   proof_api=proof_api, chaincodes=codes.value)
