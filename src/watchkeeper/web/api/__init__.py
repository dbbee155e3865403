"""The JSON API under /api/v1: one router per area, each route authenticated and role-checked."""

from fastapi import APIRouter

from watchkeeper.web.api import (
    accounts,
    audit,
    cases,
    cooperation,
    cooperation_messages,
    cooperation_registry,
    detect,
    events,
    evidence,
    intel,
    peers,
    playbooks,
    system,
)

router = APIRouter(prefix="/api/v1")
for module in (
    system,
    accounts,
    audit,
    events,
    peers,
    intel,
    detect,
    cases,
    playbooks,
    evidence,
    cooperation,
    cooperation_messages,
    cooperation_registry,
):
    router.include_router(module.router)

__all__ = ["router"]
