"""The serving node's cooperation pass: quiet on a node without keys, delivering otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from cooperation.pairs import Side, preservation_fields, staff
from watchkeeper.cooperation import (
    SCREEN_CHECKS,
    approve_request,
    new_request,
    outbox_status,
    parse_fields,
    screen_request,
    send_request,
    submit_request,
    validate_request,
)
from watchkeeper.cooperation.results import check_package_size
from watchkeeper.errors import InvalidInput
from watchkeeper.testing import make_node
from watchkeeper.workers import cooperation_pass


def test_a_node_without_keys_only_checks_deadlines(tmp_path: Path) -> None:
    node = make_node(tmp_path / "bare")
    try:
        assert cooperation_pass(node, deadlines=True) == 0
        assert not (node.data_dir / "cooperation").exists()
    finally:
        node.close()


def test_an_unreachable_partner_keeps_the_message_pending(pair: tuple[Side, Side]) -> None:
    node = pair[0].node
    with node.database.transaction() as session:
        ref = new_request(
            session, node=node, actor=staff("alice").actor, type="preservation", to_state="YY",
            fields=parse_fields(preservation_fields()),
        ).reference  # fmt: skip
        validate_request(session, node=node, principal=staff("alice"), ref=ref)
        submit_request(session, node=node, principal=staff("alice"), ref=ref)
        checks = dict.fromkeys(SCREEN_CHECKS, True)
        screen_request(session, node=node, principal=staff("lena"), ref=ref, checks=checks)
        approve_request(session, node=node, principal=staff("bob"), ref=ref)
        send_request(session, node=node, principal=staff("bob"), ref=ref)
    assert cooperation_pass(node, deadlines=False) == 0  # http://yy.test does not resolve
    with node.database.reader() as session:
        status = outbox_status(session)
    assert status["pending"] == 1
    assert status["peers"]["YY-POC"]["attempts"] == 1


def test_results_too_large_for_a_message_are_refused_before_sealing(
    pair: tuple[Side, Side],
) -> None:
    node = pair[1].node
    limit = node.settings.cooperation_max_message_bytes
    check_package_size(node, size=limit // 2, reference="IN-2026-000001")
    with pytest.raises(InvalidInput, match="evidence package") as refused:
        check_package_size(node, size=limit, reference="IN-2026-000001")
    assert refused.value.fields["reason"] == "too-large"
