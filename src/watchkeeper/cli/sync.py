"""``sync`` commands: links with partners' TAXII collections (pull, push), run now, and state.

``watchkeeper serve`` runs due links on its own; these commands register links, run them at
once (backoff does not hold a person back) and show where each link stands. Secrets are
read from a file (``-`` for standard input) or an environment variable, never from the
command line, where they would stay in the shell history and the process list.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import click
from sqlalchemy.orm import Session

from watchkeeper.cli.context import CliContext, audit_failures, json_option, pass_cli
from watchkeeper.cli.output import err, message, print_json, show_record, show_rows
from watchkeeper.errors import InvalidInput, NotFound
from watchkeeper.federation import (
    Credentials,
    SyncLink,
    SyncPolicy,
    SyncRun,
    TaxiiClient,
    add_link,
    get_link,
    link_document,
    list_links,
    remove_link,
    request_signer,
    run_link,
    set_link,
)
from watchkeeper.node import Node
from watchkeeper.security import Peer, SecretBox

STATUS_COLUMNS = ["link", "peer", "direction", "state", "failures", "next", "lag", "last_error"]
PULL_COLUMNS = ["link", "peer", "ok", "pages", "objects", "created", "updated", "unchanged",
                "rejected", "error"]  # fmt: skip
PUSH_COLUMNS = ["link", "peer", "ok", "pages", "objects", "succeeded", "failed", "pending",
                "error"]  # fmt: skip

STDIN = "-"
user_option = click.option("--user", help="User name for HTTP Basic (omit for a bearer token).")
token_file_option = click.option(
    "--token-file",
    help="File holding the token or password the partner gave this node ('-': standard input).",
)
token_env_option = click.option(
    "--token-env", help="Environment variable holding the token or password."
)


@click.group()
def sync() -> None:
    """Sync with partners' TAXII 2.1 collections: scheduled pulls and pushes, and their state."""


def read_credentials(
    user: str | None, token_file: str | None, token_env: str | None
) -> Credentials | None:
    """Credentials from the options: HTTP Basic with ``user``, else a bearer token."""
    if token_file and token_env:
        raise click.UsageError("give --token-file or --token-env, not both")
    secret: str | None = None
    if token_file == STDIN:
        secret = sys.stdin.read()
    elif token_file:
        try:
            secret = Path(token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"--token-file: cannot read {token_file} ({type(exc).__name__})", field="token"
            ) from None
    elif token_env:
        secret = os.environ.get(token_env)
        if secret is None:
            raise InvalidInput(f"--token-env: {token_env} is not set", field="token")
    if secret is None:
        if user:
            raise click.UsageError("--user needs the password: give --token-file or --token-env")
        return None
    secret = secret.strip()
    return Credentials(scheme="basic" if user else "bearer", secret=secret, user=user)


def _box(node: Node) -> SecretBox:
    return SecretBox(node.data_dir)


def _status_row(document: dict[str, Any]) -> dict[str, Any]:
    lag = document["lag"]
    parts = []
    if lag["objects"] is not None:
        parts.append(f"{lag['objects']}{'+' if lag['objects_capped'] else ''} objects")
    if lag["seconds"] is not None:
        parts.append(f"{lag['seconds']} s")
    upcoming = document["next_attempt_at"]
    return {
        **document,
        "link": document["id"][:8],
        "direction": f"{document['direction']} {document['collection'] or ''}".strip(),
        "next": upcoming[:19].replace("T", " ") if upcoming and document["enabled"] else "",
        "lag": ", ".join(parts),
    }


@sync.command("add")
@click.argument("peer")
@click.option("--pull", "pull_url", help="URL of the partner collection to pull from.")
@click.option("--push", "push_url", help="URL of the partner collection to push to.")
@click.option("--collection", help="For --push: the local collection (id or alias) that is sent.")
@user_option
@token_file_option
@token_env_option
@click.option("--disabled", is_flag=True, help="Register it without running it yet.")
@json_option
@pass_cli
@audit_failures("sync.add")
def sync_add(
    cli: CliContext,
    peer: str,
    pull_url: str | None,
    push_url: str | None,
    collection: str | None,
    user: str | None,
    token_file: str | None,
    token_env: str | None,
    disabled: bool,
    as_json: bool,
) -> None:
    """Link PEER's collection: pull from it (--pull URL), or push a local collection to it
    (--push URL --collection LOCAL). The first run is due at once."""
    if bool(pull_url) == bool(push_url):
        raise click.UsageError("give exactly one of --pull URL or --push URL")
    credentials = read_credentials(user, token_file, token_env)
    node = cli.node()
    with node.database.transaction() as session:
        link = add_link(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            peer=peer,
            direction="pull" if pull_url else "push",
            url=pull_url or push_url or "",
            collection=collection,
            credentials=credentials,
            box=_box(node),
            enabled=not disabled,
        )
        document = link_document(session, link, now=node.clock.now())
    message(f"sync link {link.id} added ({link.direction} {link.collection_url})")
    if as_json:
        print_json(document)


@sync.command("set")
@click.argument("link")
@click.option("--enable/--disable", "enabled", default=None, help="Run it, or stop running it.")
@user_option
@token_file_option
@token_env_option
@click.option("--no-auth", is_flag=True, help="Forget its credentials.")
@click.option(
    "--reset", is_flag=True, help="Start again from the beginning (its cursor is forgotten)."
)
@json_option
@pass_cli
@audit_failures("sync.set")
def sync_set(
    cli: CliContext,
    link: str,
    enabled: bool | None,
    user: str | None,
    token_file: str | None,
    token_env: str | None,
    no_auth: bool,
    reset: bool,
    as_json: bool,
) -> None:
    """Change LINK (id or its first 8 characters): enable, disable, credentials, reset."""
    credentials = read_credentials(user, token_file, token_env)
    node = cli.node()
    with node.database.transaction() as session:
        row = set_link(
            session,
            clock=node.clock,
            actor=cli.principal.actor,
            link=link,
            enabled=enabled,
            credentials=credentials,
            clear_auth=no_auth,
            reset=reset,
            box=_box(node),
        )
        document = link_document(session, row, now=node.clock.now())
    if as_json:
        print_json(document)
    else:
        show_record(_status_row(document), as_json=False)


@sync.command("remove")
@click.argument("link")
@pass_cli
@audit_failures("sync.remove")
def sync_remove(cli: CliContext, link: str) -> None:
    """Forget LINK; what it pulled stays in the store, with its receipts."""
    node = cli.node()
    with node.database.transaction() as session:
        row = remove_link(session, clock=node.clock, actor=cli.principal.actor, link=link)
    message(f"sync link {row.id} removed")


@sync.command("status")
@click.option("--peer", help="Only the links of one peer.")
@json_option
@pass_cli
def sync_status(cli: CliContext, peer: str | None, as_json: bool) -> None:
    """Each link with its state: last success, failures, next attempt, last error, lag."""
    node = cli.node()
    now = node.clock.now()
    with node.database.reader() as session:
        rows = [link_document(session, link, now=now) for link in list_links(session, peer=peer)]
    if as_json:
        print_json(rows)
        return
    show_rows([_status_row(r) for r in rows], STATUS_COLUMNS, as_json=False, title="sync links")


def _targets(session: Session, targets: tuple[str, ...], direction: str) -> list[SyncLink]:
    """The links named (ids, id prefixes, or peer codes for all their links of ``direction``);
    every enabled link of ``direction`` when none is named."""
    if not targets:
        return [link for link in list_links(session, direction=direction) if link.enabled]
    found: dict[str, SyncLink] = {}
    for target in targets:
        link = _link_or_none(session, target)
        if link is None:
            links = _peer_links(session, target, direction)
            found.update((link.id, link) for link in links)
            continue
        if link.direction != direction:
            raise InvalidInput(
                f"sync link {link.id} is a {link.direction} link; use: watchkeeper sync "
                f"{link.direction} {link.id[:8]}",
                field="link",
            )
        found[link.id] = link
    return list(found.values())


def _link_or_none(session: Session, key: str) -> SyncLink | None:
    try:
        return get_link(session, key)
    except NotFound:
        return None


def _peer_links(session: Session, code: str, direction: str) -> list[SyncLink]:
    if session.get(Peer, code) is None:
        raise NotFound(f"no sync link or peer {code!r}; see: watchkeeper sync status", link=code)
    links = list_links(session, peer=code, direction=direction)
    if not links:
        raise NotFound(f"peer {code} has no {direction} link", peer=code)
    return links


def _run(cli: CliContext, targets: tuple[str, ...], direction: str, as_json: bool) -> None:
    node = cli.node()
    with node.database.reader() as session:
        links = [(link.id, link.collection_url) for link in _targets(session, targets, direction)]
    if not links:
        message(f"no enabled {direction} link; add one: watchkeeper sync add PEER --{direction}")
    policy = SyncPolicy.from_settings(node.settings)
    box = _box(node)
    signer = request_signer(node.data_dir, clock=node.clock)
    runs: list[SyncRun] = []
    for link_id, url in links:
        shown = err.is_terminal and not as_json
        with err.status(f"{direction} {url}") if shown else contextlib.nullcontext():
            run = run_link(
                node.database, clock=node.clock, actor=cli.principal.actor, link=link_id,
                box=box, policy=policy, signer=signer,
            )  # fmt: skip
        assert run is not None  # a person's run is never skipped
        runs.append(run)
    documents = [run.document() for run in runs]
    if as_json:
        print_json(documents)
    else:
        rows = [
            {**d, "link": d["link"][:8], "ok": "yes" if d["ok"] else "FAILED"} for d in documents
        ]
        if rows:
            show_rows(rows, PULL_COLUMNS if direction == "pull" else PUSH_COLUMNS,
                      as_json=False, title=f"{direction} runs")  # fmt: skip
        for run in runs:
            if run.more:
                message(f"{run.link[:8]}: more to {direction}; it goes on at the next run")
            if not run.ok and run.next_attempt_at is not None:
                message(
                    f"{run.link[:8]}: failed ({run.error}); next scheduled attempt "
                    f"{run.next_attempt_at.isoformat()}"
                )
    if any(not run.ok for run in runs):
        sys.exit(1)


@sync.command("pull")
@click.argument("targets", nargs=-1)
@json_option
@pass_cli
@audit_failures("sync.pull")
def sync_pull(cli: CliContext, targets: tuple[str, ...], as_json: bool) -> None:
    """Pull now: the links named (ids or peer codes), or every enabled pull link.

    Exit 1 if a run failed (the failure is recorded on its link and retried with back-off
    by `watchkeeper serve`).
    """
    _run(cli, targets, "pull", as_json)


@sync.command("push")
@click.argument("targets", nargs=-1)
@json_option
@pass_cli
@audit_failures("sync.push")
def sync_push(cli: CliContext, targets: tuple[str, ...], as_json: bool) -> None:
    """Push now: the links named (ids or peer codes), or every enabled push link.

    Only what the sharing policy lets each peer have is sent (never TLP:RED); exit 1 if a run
    failed.
    """
    _run(cli, targets, "push", as_json)


@sync.command("discover")
@click.argument("url")
@user_option
@token_file_option
@token_env_option
@json_option
@pass_cli
def sync_discover(
    cli: CliContext,
    url: str,
    user: str | None,
    token_file: str | None,
    token_env: str | None,
    as_json: bool,
) -> None:
    """List the API roots and collections a TAXII 2.1 server shows us (URL: its /taxii2/),
    with the collection URLs that `sync add` takes."""
    credentials = read_credentials(user, token_file, token_env)
    timeout = cli.settings.sync_timeout_seconds
    rows: list[dict[str, Any]] = []
    with TaxiiClient(credentials=credentials, timeout=timeout) as client:
        discovery = client.discover(url)
        roots = [r for r in discovery.get("api_roots") or () if isinstance(r, str)]
        for root in roots:
            base = urljoin(url, root)  # API roots may be given relative to the server
            for found in client.collections(base):
                rows.append(
                    {
                        "api_root": base,
                        "id": found.get("id"),
                        "title": found.get("title"),
                        "can_read": found.get("can_read"),
                        "can_write": found.get("can_write"),
                        "url": f"{base.rstrip('/')}/collections/{found.get('id')}/",
                    }
                )
    if as_json:
        print_json({"title": discovery.get("title"), "api_roots": roots, "collections": rows})
        return
    message(f"{discovery.get('title') or url}: {len(roots)} API root(s)")
    show_rows(rows, ["title", "can_read", "can_write", "url"], as_json=False, title="collections")
