"""CASE/UCO export: the graph of a small vault validates with case-utils' ``case_validate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.errors import Forbidden, InvalidInput, NotFound
from watchkeeper.evidence.case_export import export_case, export_case_bundle
from watchkeeper.evidence.custody import checkin, checkout, custody_timeline
from watchkeeper.evidence.intake import add_evidence
from watchkeeper.node import Node
from watchkeeper.security import Principal

case_validate = pytest.importorskip(
    "case_utils.case_validate", reason="case-utils (test extra) is not installed"
)
rdflib = pytest.importorskip("rdflib", reason="rdflib comes with case-utils")

OFFICER = Principal(name="eve", roles=frozenset({"evidence-officer"}), via="cli")
INVESTIGATION = "https://ontology.caseontology.org/case/investigation/"
UCO_TYPES = "https://ontology.unifiedcyberontology.org/uco/types/"


def _vault(node: Node, tmp_path: Path, sample: Path) -> list[dict[str, Any]]:
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"alpha\n")
    (folder / "b.bin").write_bytes(bytes(range(256)))
    items = add_evidence(
        node=node, actor="cli:eve", role="evidence-officer", paths=[sample], case_ref="C-1",
        authority="W-2026-17", location="HQ room 2",
    )  # fmt: skip
    items += add_evidence(
        node=node, actor="cli:eve", role="evidence-officer", paths=[folder], case_ref="C-1",
        kind="media", authority="MLA-2026-3",
    )  # fmt: skip
    checkout(node=node, principal=OFFICER, item=items[0]["id"], purpose="timeline", location="lab")
    checkin(node=node, principal=OFFICER, item=items[0]["id"])
    return items


def _validate(path: Path) -> Any:
    return case_validate.validate(str(path), allow_warnings=False, inference="none")


def test_export_validates_and_carries_hashes_and_exhibits(
    keyed: Node, tmp_path: Path, sample: Path
) -> None:
    items = _vault(keyed, tmp_path, sample)
    document = export_case_bundle(
        node=keyed, principal=OFFICER, purpose="request from QB-CERT", case_ref="C-1"
    )
    path = tmp_path / "case.jsonld"
    path.write_text(json.dumps(document))
    result = _validate(path)
    assert result.conforms, result.text

    graph = rdflib.Graph().parse(path, format="json-ld")
    hashes = {str(v).upper() for v in graph.objects(None, rdflib.URIRef(UCO_TYPES + "hashValue"))}
    for item in items:
        if item["sha256"]:
            assert {item["md5"].upper(), item["sha1"].upper(), item["sha256"].upper()} <= hashes
    exhibits = {str(v) for v in graph.objects(None, rdflib.URIRef(INVESTIGATION + "exhibitNumber"))}
    assert exhibits == {"E-2026-0001", "E-2026-0002", "E-2026-0002/1", "E-2026-0002/2"}
    roots = set(graph.objects(None, rdflib.URIRef(INVESTIGATION + "rootExhibitNumber")))
    assert {str(r) for r in roots} == {"E-2026-0001", "E-2026-0002"}
    nodes = {n["@id"]: n for n in document["@graph"]}
    actions = [n for n in nodes.values() if n["@type"] == "case-investigation:InvestigativeAction"]
    # collect, check-out, check-in, export on the file; collect and export on the other three
    assert sorted(a["uco-core:name"] for a in actions).count("export") == 4
    assert len(actions) == 4 + 2 * 3
    relations = [n for n in nodes.values() if n["@type"] == "uco-core:Relationship"]
    assert len(relations) == 2
    investigation = document["@graph"][0]
    assert len(investigation["case-investigation:relevantAuthorization"]) == 2
    assert len(investigation["uco-core:object"]) < len(document["@graph"]) - 1
    with keyed.database.reader() as session:
        timeline = custody_timeline(session, item=items[0]["id"])
        again = export_case(session, case_ref="C-1")
    assert timeline["custody"][-1]["action"] == "export"
    assert timeline["custody"][-1]["purpose"] == "request from QB-CERT"
    assert again == document  # stable ids: the same vault exports the same graph


def test_a_broken_graph_does_not_validate(keyed: Node, tmp_path: Path, sample: Path) -> None:
    """The validator check can fail: a hash value that is not hex is refused."""
    _vault(keyed, tmp_path, sample)
    with keyed.database.reader() as session:
        document = export_case(session, item_ids=["E-2026-0001"])
    for node in document["@graph"]:
        if node["@type"] == "uco-types:Hash":
            node["uco-types:hashValue"]["@value"] = "not-hex"
    path = tmp_path / "bad.jsonld"
    path.write_text(json.dumps(document))
    assert not _validate(path).conforms


def test_selection_and_refusals(keyed: Node, tmp_path: Path, sample: Path) -> None:
    _vault(keyed, tmp_path, sample)
    with keyed.database.reader() as session:
        parent = export_case(session, item_ids=["E-2026-0002"])
        with pytest.raises(NotFound, match="E-9"):
            export_case(session, item_ids=["E-9"])
        with pytest.raises(InvalidInput):
            export_case(session, case_ref="C-404")
    exhibits = {
        n["case-investigation:exhibitNumber"]
        for n in parent["@graph"]
        if n["@type"] == "case-investigation:ProvenanceRecord"
    }
    assert exhibits == {"E-2026-0002", "E-2026-0002/1", "E-2026-0002/2"}
    with pytest.raises(InvalidInput, match="purpose"):
        export_case_bundle(node=keyed, principal=OFFICER, purpose=" ", case_ref="C-1")
    auditor = Principal(name="aud", roles=frozenset({"auditor"}), via="cli")
    with pytest.raises(Forbidden):
        export_case_bundle(node=keyed, principal=auditor, purpose="look", case_ref="C-1")
