"""The server-rendered UI: login with CSRF, sessions, navigation, admin pages, accessibility."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from watchkeeper.errors import NotFound, Unauthenticated
from watchkeeper.node import Node
from watchkeeper.security import (
    add_user,
    check_password,
    entry_document,
    get_user,
    list_entries,
)
from watchkeeper.security.models import AuditEntry
from watchkeeper.testing import make_node
from watchkeeper.web.app import create_app
from watchkeeper.web.ui.areas import AREAS

PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple grows on trees"
CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf" value="([^"]*)">')


def make_user(node: Node, name: str, roles: list[str], password: str = PASSWORD) -> None:
    with node.database.transaction() as session:
        add_user(session, clock=node.clock, actor="test", name=name, roles=roles, password=password)


def csrf_of(page: str) -> str:
    match = CSRF_FIELD.search(page)
    assert match, "no CSRF field in the page"
    return match.group(1)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers of a response by cookie name (whole header, lower-cased)."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        cookies[name] = header.lower()
    return cookies


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/ui/login")
    assert form.status_code == 200
    return client.post(
        "/ui/login",
        data={"name": name, "password": password, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )


def ledger(node: Node, action: str) -> list[dict[str, Any]]:
    with node.database.reader() as session:
        return [entry_document(e) for e in list_entries(session, action=action, limit=1000)]


def password_is(node: Node, name: str, password: str) -> bool:
    with node.database.reader() as session:
        try:
            check_password(session, name=name, password=password)
        except Unauthenticated:
            return False
        return True


@pytest.fixture
def admin_client(client: TestClient, node: Node) -> TestClient:
    """A client logged in as ``root``, an admin."""
    make_user(node, "root", ["admin"])
    assert log_in(client, "root").status_code == 303
    return client


@pytest.fixture
def analyst_client(client: TestClient, node: Node) -> TestClient:
    """A client logged in as ``ana``, an analyst."""
    make_user(node, "ana", ["analyst"])
    assert log_in(client, "ana").status_code == 303
    return client


# --- login ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/ui/", "/ui/intel", "/ui/users", "/ui/audit", "/ui/account", "/ui/nonsense"]
)
def test_pages_need_a_session(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"


def test_forms_need_a_session(client: TestClient, node: Node) -> None:
    for path, data in [
        ("/ui/users", {"csrf": "x", "name": "mallory", "roles": "admin"}),
        ("/ui/account/password", {"csrf": "x", "current": "a", "new": "b" * 12}),
        ("/ui/logout", {"csrf": "x"}),
    ]:
        response = client.post(path, data=data, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/ui/login"
    with node.database.reader() as session, pytest.raises(NotFound, match="mallory"):
        get_user(session, "mallory")


def test_root_redirects_to_the_ui(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/"


def test_login_page_sets_the_csrf_cookie(client: TestClient) -> None:
    response = client.get("/ui/login")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    cookie = set_cookies(response)["wk_login_csrf"]
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/ui/login" in cookie
    token = csrf_of(response.text)
    assert len(token) >= 32
    assert client.cookies.get("wk_login_csrf") == token
    assert 'name="password" type="password"' in response.text
    # A fresh form, a fresh token.
    assert csrf_of(client.get("/ui/login").text) != token


@pytest.mark.parametrize("name", ["alice", "nobody"])
def test_wrong_password_is_refused_and_audited(client: TestClient, node: Node, name: str) -> None:
    make_user(node, "alice", ["analyst"])
    response = log_in(client, name, password="not the password")
    assert response.status_code == 401
    assert "Wrong user name or password." in response.text
    assert "wk_session" not in set_cookies(response)
    assert client.get("/ui/", follow_redirects=False).status_code == 303
    [entry] = ledger(node, "ui.login")
    assert (entry["actor"], entry["subject"], entry["outcome"]) == (
        "anonymous",
        f"user:{name}",
        "denied",
    )
    assert "not the password" not in str(entry)
    # The re-rendered form still works with the same cookie.
    retry = client.post(
        "/ui/login",
        data={"name": "alice", "password": PASSWORD, "csrf": csrf_of(response.text)},
        follow_redirects=False,
    )
    assert retry.status_code == 303


@pytest.mark.parametrize(
    ("with_cookie", "form_csrf"),
    [
        (False, "forged"),  # no cookie: the form did not come from us
        (True, "forged"),  # cookie and field differ
        (True, ""),  # empty field
        (True, None),  # no field at all
    ],
)
def test_login_without_matching_csrf_is_refused(
    client: TestClient, node: Node, with_cookie: bool, form_csrf: str | None
) -> None:
    make_user(node, "alice", ["analyst"])
    if with_cookie:
        client.get("/ui/login")
    data = {"name": "alice", "password": PASSWORD}
    if form_csrf is not None:
        data["csrf"] = form_csrf
    response = client.post("/ui/login", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "wk_session" not in set_cookies(response)
    assert client.get("/ui/", follow_redirects=False).status_code == 303
    assert [e for e in ledger(node, "ui.login") if e["outcome"] == "ok"] == []


def test_login_form_refused_for_csrf_can_be_submitted_again(client: TestClient, node: Node) -> None:
    """A browser whose login cookie went missing (expired, cleared) gets a working form back."""
    make_user(node, "alice", ["analyst"])
    refused = client.post(
        "/ui/login",
        data={"name": "alice", "password": PASSWORD, "csrf": "from-an-old-page"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    retry = client.post(
        "/ui/login",
        data={"name": "alice", "password": PASSWORD, "csrf": csrf_of(refused.text)},
        follow_redirects=False,
    )
    assert retry.status_code == 303
    assert "wk_session" in set_cookies(retry)


def test_login_opens_a_strict_http_only_session(client: TestClient, node: Node) -> None:
    make_user(node, "alice", ["analyst", "auditor"])
    response = log_in(client, "alice")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/"
    cookies = set_cookies(response)
    session_cookie = cookies["wk_session"]
    assert "httponly" in session_cookie
    assert "samesite=strict" in session_cookie
    assert "path=/" in session_cookie
    assert f"max-age={node.settings.session_hours * 3600}" in session_cookie
    assert "secure" not in session_cookie.replace("samesite", "")  # cookie_secure is off
    assert "wk_login_csrf" in cookies  # the one-time login token is cleared
    assert client.cookies.get("wk_login_csrf") is None

    page = client.get("/ui/")
    assert page.status_code == 200
    assert "Signed in as <strong>alice</strong>" in page.text
    assert "analyst, auditor" in page.text
    [entry] = ledger(node, "ui.login")
    assert (entry["actor"], entry["outcome"]) == ("user:alice", "ok")


def test_session_cookie_is_secure_when_configured(tmp_path: Path, database_url: str) -> None:
    node = make_node(tmp_path / "secure", database_url=database_url, cookie_secure=True)
    try:
        make_user(node, "alice", ["analyst"])
        with TestClient(create_app(node=node)) as client:
            response = log_in(client, "alice")
        assert response.status_code == 303
        assert "; secure" in set_cookies(response)["wk_session"]
    finally:
        node.close()


def test_session_expires(analyst_client: TestClient, node: Node) -> None:
    assert analyst_client.get("/ui/").status_code == 200
    node.clock.advance(timedelta(hours=node.settings.session_hours))  # type: ignore[attr-defined]
    response = analyst_client.get("/ui/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"


def test_user_without_password_cannot_log_in(client: TestClient, node: Node) -> None:
    with node.database.transaction() as session:
        add_user(session, clock=node.clock, actor="test", name="bot", roles=["analyst"])
    assert log_in(client, "bot", password=PASSWORD).status_code == 401


# --- navigation and pages -------------------------------------------------------------------


def test_every_area_page_renders_and_is_in_the_nav(analyst_client: TestClient) -> None:
    dashboard = analyst_client.get("/ui/").text
    for area in AREAS:
        assert f'href="/ui/{area.slug}"' in dashboard, area.slug
        response = analyst_client.get(f"/ui/{area.slug}")
        assert response.status_code == 200, area.slug
        assert f"<h1>{html.escape(area.title)}</h1>" in response.text
        assert html.escape(area.purpose) in response.text
        assert f'href="/ui/{area.slug}" aria-current="page"' in response.text
        for other in AREAS:
            assert f'href="/ui/{other.slug}"' in response.text
    assert 'href="/ui/peers"' in dashboard
    assert 'href="/ui/" aria-current="page"' in dashboard


def test_unknown_page_is_a_404_page(analyst_client: TestClient) -> None:
    response = analyst_client.get("/ui/nonsense")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.text
    assert "nonsense" in response.text


def test_peers_page_lists_partner_nodes(analyst_client: TestClient) -> None:
    response = analyst_client.get("/ui/peers")
    assert response.status_code == 200
    assert "No partner node registered" in response.text


@pytest.mark.parametrize("path", ["/ui/users", "/ui/audit", "/ui/events"])
def test_admin_pages_are_forbidden_to_an_analyst(analyst_client: TestClient, path: str) -> None:
    response = analyst_client.get(path)
    assert response.status_code == 403
    assert "<h1>Forbidden</h1>" in response.text
    assert "user:ana lacks a role" in response.text
    nav = analyst_client.get("/ui/").text
    assert f'href="{path}"' not in nav


def test_auditor_reads_audit_and_events_but_not_users(client: TestClient, node: Node) -> None:
    make_user(node, "aud", ["auditor"])
    log_in(client, "aud")
    assert client.get("/ui/audit").status_code == 200
    assert client.get("/ui/events").status_code == 200
    assert client.get("/ui/users").status_code == 403
    nav = client.get("/ui/").text
    assert 'href="/ui/audit"' in nav
    assert 'href="/ui/users"' not in nav


def test_admin_sees_audit_events_and_users(admin_client: TestClient, node: Node) -> None:
    nav = admin_client.get("/ui/").text
    for path in ("/ui/users", "/ui/audit", "/ui/events"):
        assert f'href="{path}"' in nav
    audit_page = admin_client.get("/ui/audit")
    assert audit_page.status_code == 200
    assert "Hash chain intact" in audit_page.text
    assert "<td>ui.login</td>" in audit_page.text
    events_page = admin_client.get("/ui/events")
    assert events_page.status_code == 200
    assert "<td>user.add</td>" in events_page.text
    assert "<td>user:root</td>" in events_page.text
    users_page = admin_client.get("/ui/users")
    assert users_page.status_code == 200
    assert "<td>root</td>" in users_page.text
    for role in ("admin", "analyst", "partner-node"):
        assert f'name="roles" value="{role}"' in users_page.text


def test_audit_page_shows_a_broken_chain(admin_client: TestClient, node: Node) -> None:
    with node.database.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(actor="mallory"))
    page = admin_client.get("/ui/audit")
    assert page.status_code == 200
    assert "Hash chain broken at entry 1" in page.text
    assert 'role="alert"' in page.text


# --- forms ----------------------------------------------------------------------------------


def test_admin_adds_a_user_through_the_form(
    admin_client: TestClient, client: TestClient, node: Node
) -> None:
    token = csrf_of(admin_client.get("/ui/users").text)
    response = admin_client.post(
        "/ui/users",
        data={
            "csrf": token,
            "name": "bob",
            "display_name": "Bob <b>",
            "roles": ["auditor", "analyst"],
            "password": NEW_PASSWORD,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/users?message=added+bob"
    page = admin_client.get(response.headers["location"])
    assert "added bob" in page.text
    assert "<td>bob</td><td>Bob &lt;b&gt;</td><td>analyst, auditor</td>" in page.text
    with node.database.reader() as session:
        assert get_user(session, "bob").role_names == ["analyst", "auditor"]
    [entry] = [e for e in ledger(node, "user.add") if e["subject"] == "user:bob"]
    assert entry["actor"] == "user:root"
    assert password_is(node, "bob", NEW_PASSWORD)


@pytest.mark.parametrize("csrf", ["wrong", "x" * 43])
def test_adding_a_user_with_a_bad_csrf_token_fails(
    admin_client: TestClient, node: Node, csrf: str
) -> None:
    response = admin_client.post(
        "/ui/users",
        data={"csrf": csrf, "name": "mallory", "roles": ["admin"]},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "CSRF" in response.text
    with node.database.reader() as session, pytest.raises(NotFound, match="mallory"):
        get_user(session, "mallory")


def test_adding_a_user_as_non_admin_fails(analyst_client: TestClient, node: Node) -> None:
    token = csrf_of(analyst_client.get("/ui/").text)
    response = analyst_client.post(
        "/ui/users",
        data={"csrf": token, "name": "mallory", "roles": ["admin"]},
        follow_redirects=False,
    )
    assert response.status_code == 403
    with node.database.reader() as session, pytest.raises(NotFound, match="mallory"):
        get_user(session, "mallory")


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ({"name": "carl", "roles": ["wizard"]}, "valid roles"),
        ({"name": "carl"}, "at least one role"),
        ({"name": "Carl!", "roles": ["analyst"]}, "invalid user name"),
        ({"name": "carl", "roles": ["analyst"], "password": "short"}, "password too short"),
    ],
)
def test_adding_a_bad_user_shows_why(
    admin_client: TestClient, node: Node, data: dict[str, Any], shown: str
) -> None:
    token = csrf_of(admin_client.get("/ui/users").text)
    response = admin_client.post("/ui/users", data={"csrf": token, **data})
    assert response.status_code == 422
    assert shown in response.text
    with node.database.reader() as session, pytest.raises(NotFound):
        get_user(session, data["name"])


def test_user_names_and_display_names_are_escaped(admin_client: TestClient, node: Node) -> None:
    with node.database.transaction() as session:
        add_user(
            session,
            clock=node.clock,
            actor="test",
            name="x",
            roles=["analyst"],
            display_name="<script>alert(1)</script>",
        )
    page = admin_client.get("/ui/users").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_password_change(admin_client: TestClient, node: Node) -> None:
    page = admin_client.get("/ui/account")
    assert page.status_code == 200
    token = csrf_of(page.text)

    def change(csrf: str, current: str, new: str) -> httpx.Response:
        return admin_client.post(
            "/ui/account/password",
            data={"csrf": csrf, "current": current, "new": new},
            follow_redirects=False,
        )

    assert change("stale", PASSWORD, NEW_PASSWORD).status_code == 403
    assert change(token, "not my password", NEW_PASSWORD).status_code == 401
    assert change(token, PASSWORD, "short").status_code == 422
    assert password_is(node, "root", PASSWORD)
    assert ledger(node, "user.password") == []

    response = change(token, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/account?message=password+changed"
    assert "password changed" in admin_client.get(response.headers["location"]).text
    assert password_is(node, "root", NEW_PASSWORD)
    assert not password_is(node, "root", PASSWORD)
    [entry] = ledger(node, "user.password")
    assert (entry["actor"], entry["subject"]) == ("user:root", "user:root")


def test_logout_needs_csrf_and_ends_the_session(analyst_client: TestClient, node: Node) -> None:
    old_cookie = analyst_client.cookies.get("wk_session")
    assert old_cookie
    token = csrf_of(analyst_client.get("/ui/").text)

    refused = analyst_client.post("/ui/logout", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert analyst_client.get("/ui/").status_code == 200
    assert ledger(node, "ui.logout") == []

    response = analyst_client.post("/ui/logout", data={"csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    assert "wk_session" in set_cookies(response)
    assert analyst_client.cookies.get("wk_session") is None
    assert analyst_client.get("/ui/", follow_redirects=False).status_code == 303
    [entry] = ledger(node, "ui.logout")
    assert entry["actor"] == "user:ana"

    # The old cookie, replayed, no longer opens anything.
    analyst_client.cookies.set("wk_session", old_cookie)
    replayed = analyst_client.get("/ui/", follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"] == "/ui/login"


def test_each_session_has_its_own_csrf_token(client: TestClient, node: Node) -> None:
    make_user(node, "ana", ["analyst"])
    tokens = []
    for _ in range(2):
        with TestClient(client.app) as browser:
            log_in(browser, "ana")
            tokens.append(csrf_of(browser.get("/ui/").text))
    assert tokens[0] != tokens[1]


# --- accessibility --------------------------------------------------------------------------


def test_pages_have_basic_accessibility(admin_client: TestClient, client: TestClient) -> None:
    paths = ["/ui/", "/ui/account", "/ui/users", "/ui/audit", "/ui/events", "/ui/peers"]
    paths += [f"/ui/{area.slug}" for area in AREAS] + ["/ui/nonsense"]
    rendered = [(path, admin_client.get(path).text) for path in paths]
    with TestClient(client.app) as anonymous:
        rendered.append(("/ui/login", anonymous.get("/ui/login").text))
    for path, page in rendered:
        assert '<html lang="en">' in page, path
        assert '<a class="skip" href="#main">' in page, path
        assert page.count('<main id="main">') == 1, path
        assert "</main>" in page, path
        assert re.search(r"<title>[^<]+</title>", page), path
        assert page.count("<h1>") == 1, path
        for field_id in re.findall(r'<input id="([^"]+)"', page):
            assert f'<label for="{field_id}">' in page, (path, field_id)
    assert '<nav aria-label="Areas">' in rendered[0][1]
