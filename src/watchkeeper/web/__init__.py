"""Web entry point: the FastAPI app (API under /api/v1, UI under /ui), built by ``create_app``."""

from watchkeeper.web.app import create_app

__all__ = ["create_app"]
