"""The JSON API under /api/v1: one router per area, each route authenticated and role-checked."""

from fastapi import APIRouter

from watchkeeper.web.api import accounts, audit, detect, events, intel, peers, system

router = APIRouter(prefix="/api/v1")
for module in (system, accounts, audit, events, peers, intel, detect):
    router.include_router(module.router)

__all__ = ["router"]
