"""TLP:RED never leaves through TAXII: every collection of every API root, walked as every
peer and as staff, through objects, manifests, single objects and versions."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from taxii_http import call, envelope, get, ok, walk
from taxii_seed import GREEN, MEDIA, RED, Seeded, indicator

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
COMMUNITIES = ("national", "regional", "international")
CALLERS = ("qa", "ke", "admin", "analyst")


def _post_red(served: Seeded, who: str, alias: str) -> list[str]:
    """Add a TLP:RED object and one with a RED granular marking; their ids."""
    red = indicator(0, markings=[RED])
    red["id"] = f"indicator--{uuid.uuid4()}"
    partly = indicator(
        0,
        markings=[GREEN],
        description="partly red",
        granular_markings=[{"marking_ref": RED, "selectors": ["description"]}],
    )
    partly["id"] = f"indicator--{uuid.uuid4()}"
    response = call(
        served,
        "POST",
        served.collection(alias) + "objects/",
        who=who,
        headers={"Content-Type": MEDIA},
        content=envelope(red, partly),
    )
    status: dict[str, Any] = ok(response, 202)
    while status["status"] == "pending":
        time.sleep(0.2)
        status = ok(get(served, served.root() + f"status/{status['id']}/", who=who))
    assert status["success_count"] == 2, status
    return [red["id"], partly["id"]]


def test_no_tlp_red_id_is_served_to_anyone(served: Seeded) -> None:
    red_ids = {served.ids[name] for name in ("red", "red_granular", "red_labelled")}
    red_ids |= set(_post_red(served, "qa", "all"))
    red_ids |= set(_post_red(served, "analyst", "secret"))
    walked = 0
    for who in CALLERS:
        for community in COMMUNITIES:
            listing = ok(get(served, served.root(community) + "collections/", who=who))
            for collection in listing.get("collections", []):
                base = served.root(community) + f"collections/{collection['id']}/"
                if not collection["can_read"]:
                    continue
                objects, pages = walk(
                    served, base + "objects/", who=who, limit=1000, **{"match[version]": "all"}
                )
                manifest, _ = walk(served, base + "manifest/", who=who, limit=1000)
                for page in pages:
                    assert not any(red in page.text for red in red_ids), (who, base)
                for items in (objects, manifest):
                    assert not {item["id"] for item in items} & red_ids, (who, base)
                matched, _ = walk(
                    served, base + "objects/", who=who, **{"match[id]": ",".join(red_ids)}
                )
                assert matched == []
                for red in red_ids:
                    by_id = get(served, base + f"objects/{red}/", who=who)
                    assert by_id.status_code == 404, (who, base, red)
                    versions = get(served, base + f"objects/{red}/versions/", who=who)
                    assert versions.status_code == 404, (who, base, red)
                walked += 1
    assert walked >= 15  # every caller walked the collections it may read
