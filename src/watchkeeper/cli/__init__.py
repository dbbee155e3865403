"""The ``watchkeeper`` command: one root with a group per area.

Exit codes: 0 ok; 1 failed or found a problem; 2 usage error or invalid input. Errors print
one line naming what and where; a traceback only with ``--debug``.
"""

from __future__ import annotations

import logging
import sys
import traceback

import click
from sqlalchemy.exc import DBAPIError

from watchkeeper import __version__
from watchkeeper.cli.accounts import token, user
from watchkeeper.cli.approvals import approvals, block, runs
from watchkeeper.cli.cases import case
from watchkeeper.cli.context import CliContext
from watchkeeper.cli.detect import detect, rules
from watchkeeper.cli.evidence import evidence
from watchkeeper.cli.federation import peer_set, taxii
from watchkeeper.cli.feeds import feeds
from watchkeeper.cli.intel import intel
from watchkeeper.cli.output import message
from watchkeeper.cli.parties import parties
from watchkeeper.cli.playbooks import playbook
from watchkeeper.cli.records import audit, events
from watchkeeper.cli.requests import request
from watchkeeper.cli.roster import roster
from watchkeeper.cli.server import demo, serve
from watchkeeper.cli.sync import sync
from watchkeeper.cli.system import config, db, node, peer
from watchkeeper.errors import InvalidInput, WatchkeeperError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.version_option(__version__, prog_name="watchkeeper")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Watchkeeper: the operations platform of a national cyber agency."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    state = CliContext(debug=debug)
    ctx.obj = state
    ctx.call_on_close(state.close)


peer.add_command(peer_set)
GROUPS = (config, db, events, user, token, audit, node, peer, intel, feeds, taxii, sync, detect,
          rules, case, serve, demo, playbook, approvals, runs, block, evidence, parties,
          roster, request)  # fmt: skip
for command in GROUPS:
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn every failure into one clear line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="watchkeeper", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        message("aborted")
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except WatchkeeperError as exc:
        if debug:
            traceback.print_exc()
        message(f"error: {exc.message}")
        sys.exit(2 if isinstance(exc, InvalidInput) else 1)
    except DBAPIError as exc:
        if debug:
            traceback.print_exc()
        reason = str(exc.orig or exc).strip().splitlines()[0]
        message(f"error: database failed: {reason}")
        sys.exit(1)
    except KeyboardInterrupt:
        message("interrupted")
        sys.exit(130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        message(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        sys.exit(1)
    sys.exit(0)
