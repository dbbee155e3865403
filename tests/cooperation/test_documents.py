"""The printable request document: four languages, right to left, escaping, markings, labels."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchkeeper.cooperation.documents import (
    LANGUAGES,
    document_hash,
    load_labels,
    pdf_available,
    render_request_html,
    render_request_pdf,
)
from watchkeeper.errors import InvalidInput

SPEC = [
    ("authority", "42(3)(a)", "Authority seeking preservation"),
    ("facts", "42(3)(b)", "Brief summary of the facts"),
    ("data", "42(3)(c)", "Stored data to be preserved"),
]
TITLES = {
    "en": "Request for expedited preservation of stored electronic data",
    "fr": "Demande de conservation rapide de données électroniques stockées",
    "es": "Solicitud de conservación rápida de datos electrónicos almacenados",
    "ar": "طلب الحفظ العاجل لبيانات إلكترونية مخزنة",
}


def request_document() -> dict[str, Any]:
    return {
        "id": "r-1",
        "reference": "OUT-2026-000001",
        "thread": "thread-9f1c",
        "direction": "out",
        "type": "preservation",
        "instrument": "un-cybercrime",
        "requesting_state": "QA",
        "requested_state": "FR",
        "channel": "poc-24-7",
        "language": "en",
        "urgent": True,
        "contents": {
            "authority": "National Cyber Agency, 24/7 desk",
            "facts": "Phishing kit <script>alert(1)</script> & more",
            "data": ["mailbox headers", "login logs"],
            "extra-note": "kept although the pack does not list it",
        },
        "offence": {"basis": "art-13", "max_penalty_years": 7, "summary": "Fraud <b>x</b>"},
        "data": [
            {
                "category": "traffic",
                "identifiers": [
                    {
                        "kind": "ip",
                        "value": "203.0.113.7",
                        "timestamp": "2026-11-30T08:15:00+03:00",
                        "timezone": "Asia/Qatar",
                    }
                ],
                "time_range": {"from": "2026-11-29T00:00:00Z", "until": "2026-12-01T00:00:00Z"},
            }
        ],
        "period": None,
        "confidential": True,
        "no_user_notice": True,
        "use_limits": ["Only for the investigation named"],
        "conditions": [],
        "case_id": "CASE-12",
        "evidence_ids": [{"id": "ev-1", "sha256": "ab" * 32}, "ev-2"],
        "indicator_ids": [],
        "author": "alice",
        "approver": "bob",
        "screen": {"by": "carol", "at": "2026-12-01T09:00:00Z", "notes": None, "checks": {}},
        "timeline": [{"at": "2026-12-01T09:00:00Z", "actor": "alice", "action": "created"}],
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_renders_its_title_and_direction(language: str) -> None:
    html = render_request_html(request_document(), language=language, contents_spec=SPEC)
    assert f"<h1>{TITLES[language]}</h1>" in html
    expected_dir = "rtl" if language == "ar" else "ltr"
    assert f'<html lang="{language}" dir="{expected_dir}">' in html
    # Values stay as given in every language.
    assert "203.0.113.7" in html and "2026-11-30T08:15:00+03:00" in html and "Asia/Qatar" in html


def test_arabic_is_right_to_left_with_arabic_labels() -> None:
    html = render_request_html(request_document(), language="ar", contents_spec=SPEC)
    assert '<html lang="ar" dir="rtl">' in html
    assert "السلطة الطالبة" in html  # requesting authority
    assert "المادة 42(3)(a)" in html
    assert "Requesting authority" not in html


def test_markings_articles_and_contents_in_order() -> None:
    html = render_request_html(request_document(), language="en", contents_spec=SPEC)
    assert "CONFIDENTIAL — Art. 40(20)" in html
    assert "Do not notify the user — Art. 42(3)(g)" in html
    assert "URGENT" in html
    positions = [html.index(label) for _, _, label in SPEC]
    assert positions == sorted(positions)
    assert "Art. 42(3)(b)" in html
    assert "extra-note" in html  # an item the pack does not list is not lost
    assert "Art. 42" in html and "United Nations Convention against Cybercrime" in html
    assert "ICT-related theft or fraud (Art. 13)" in html and "7 years" in html
    assert "ab" * 32 in html and "ev-2" in html
    assert "Data to be preserved" in html


def test_user_text_is_escaped() -> None:
    html = render_request_html(request_document(), language="fr", contents_spec=SPEC)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "<b>x</b>" not in html


def test_missing_keys_render_a_dash() -> None:
    html = render_request_html({"type": "mla"}, language="es")
    assert "Solicitud de asistencia judicial recíproca" in html
    assert '<tr><th>Referencia</th><td><bdi class="code">—</bdi></td></tr>' in html
    assert "<tr><th>Redactada por</th><td><bdi>—</bdi></td></tr>" in html
    assert "CONFIDENCIAL" not in html


def test_unknown_type_falls_back_to_the_general_title() -> None:
    html = render_request_html({"type": "jit"}, language="en")
    assert "<h1>Request for international cooperation</h1>" in html


def test_unknown_language_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        render_request_html(request_document(), language="de")
    assert caught.value.fields["field"] == "language"
    for language in LANGUAGES:
        assert language in str(caught.value)


def test_labels_override_a_wording() -> None:
    html = render_request_html(
        request_document(), language="en", labels={"heading.offence": "Criminal offence"}
    )
    assert "<h2>Criminal offence</h2>" in html


def test_footer_hash_ignores_the_timeline_only() -> None:
    document = request_document()
    html = render_request_html(document, language="en")
    digest = document_hash(document)
    assert len(digest) == 64 and digest in html
    assert "thread-9f1c" in html
    later = copy.deepcopy(document)
    later["timeline"].append({"at": "2026-12-02T00:00:00Z", "actor": "bob", "action": "sent"})
    assert document_hash(later) == digest
    later["requested_state"] = "ES"
    assert document_hash(later) != digest


def _shipped_labels() -> dict[str, Any]:
    text = (resources.files("watchkeeper") / "data" / "cooperation" / "labels.yaml").read_text(
        encoding="utf-8"
    )
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_shipped_labels_are_complete() -> None:
    labels = load_labels()
    keys = set(labels.texts["en"])
    assert all(set(labels.texts[language]) == keys for language in LANGUAGES)


def test_a_missing_label_names_language_and_key(tmp_path: Path) -> None:
    data = _shipped_labels()
    del data["languages"]["es"]["heading.offence"]
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_labels(path)
    assert caught.value.fields["field"] == "languages.es.heading.offence"
    assert "language es" in str(caught.value) and "heading.offence" in str(caught.value)


def test_a_missing_language_is_refused(tmp_path: Path) -> None:
    data = _shipped_labels()
    del data["languages"]["ar"]
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InvalidInput, match="language ar is missing"):
        load_labels(path)


def test_pdf_needs_the_optional_renderer() -> None:
    html = render_request_html(request_document(), language="en")
    if pdf_available():
        assert render_request_pdf(html).startswith(b"%PDF")
        return
    with pytest.raises(InvalidInput) as caught:
        render_request_pdf(html)
    assert caught.value.fields["field"] == "format"
    assert "pip install 'watchkeeper[pdf]'" in str(caught.value)


def test_pdf_is_reported_absent_here() -> None:
    try:
        import weasyprint  # noqa: F401
    except ImportError:
        assert pdf_available() is False
    else:
        assert pdf_available() is True
