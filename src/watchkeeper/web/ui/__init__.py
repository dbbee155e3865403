"""The server-rendered UI shell: login, navigation for every area, admin and audit pages."""

from fastapi import APIRouter

from watchkeeper.web.ui import (
    cases,
    collections,
    cooperation,
    detect,
    evidence,
    intel,
    peers,
    playbooks,
    routes,
)

router = APIRouter()
# Area pages first: the generic /ui/{slug} page of routes answers for areas not yet built.
router.include_router(intel.router)
router.include_router(detect.router)
router.include_router(cases.router)
router.include_router(playbooks.router)
router.include_router(evidence.router)
router.include_router(cooperation.router)
router.include_router(peers.router)
router.include_router(collections.router)
router.include_router(routes.router)

__all__ = ["router"]
