"""The TAXII 2.1 server of the node, mounted at ``/taxii2/``.

A separate application under the node's app, so that every answer, errors included, is in
the TAXII media type with TAXII error messages, while authentication, roles and their audit
are the node's own (:mod:`watchkeeper.web.deps`). The work behind each endpoint is in
:mod:`watchkeeper.federation` (``taxii_access``, ``taxii_pages``, ``taxii_status``...).
"""

from __future__ import annotations

from fastapi import FastAPI

from watchkeeper.node import Node
from watchkeeper.web.taxii import objects, server
from watchkeeper.web.taxii.errors import UnexpectedErrors, install_error_handlers
from watchkeeper.web.taxii.media import TaxiiResponse
from watchkeeper.web.taxii.server import PREFIX


def taxii_app(node: Node) -> FastAPI:
    """The TAXII application of ``node`` (mount it at :data:`PREFIX`)."""
    app = FastAPI(
        title="Watchkeeper TAXII 2.1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=TaxiiResponse,
        # TAXII URLs end with "/"; a redirect would be the one answer not in the TAXII type.
        redirect_slashes=False,
    )
    app.state.node = node
    install_error_handlers(app)
    app.include_router(server.router)
    app.include_router(objects.router)
    app.add_middleware(UnexpectedErrors)
    return app


__all__ = ["PREFIX", "taxii_app"]
