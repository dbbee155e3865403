"""The server-rendered UI shell: login, navigation for every area, admin and audit pages."""

from watchkeeper.web.ui.routes import router

__all__ = ["router"]
