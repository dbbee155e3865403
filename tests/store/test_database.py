"""The database layer on both backends: settings of SQLite, migrations, reachability."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from watchkeeper.bus import models as bus_models
from watchkeeper.cooperation import message_models, state_models
from watchkeeper.cooperation import models as cooperation_models
from watchkeeper.detect import models as detect_models
from watchkeeper.errors import StorageError
from watchkeeper.evidence import disposal_models, package_models
from watchkeeper.evidence import models as evidence_models
from watchkeeper.federation import models as federation_models
from watchkeeper.intel import models as intel_models
from watchkeeper.node import Node
from watchkeeper.respond import models as respond_models
from watchkeeper.respond import playbook_models, run_models
from watchkeeper.security import models as security_models
from watchkeeper.store import Base, Database, current_revision, upgrade

assert bus_models and security_models and intel_models and federation_models and detect_models
assert respond_models and playbook_models and run_models
assert evidence_models
assert disposal_models
assert package_models
assert cooperation_models and message_models and state_models


def test_models_match_migrations(node: Node) -> None:
    """Every model change needs a migration: the migrated schema equals the models."""
    with node.database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent(node: Node) -> None:
    head = current_revision(node.database)
    assert head is not None
    upgrade(node.database)
    assert current_revision(node.database) == head


def test_transaction_rolls_back_on_error(node: Node) -> None:
    with pytest.raises(RuntimeError), node.database.transaction() as session:
        session.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (99, 1, 'x')"))
        raise RuntimeError("boom")
    with node.database.reader() as session:
        assert session.execute(text("SELECT count(*) FROM audit_head")).scalar() == 0


def test_sqlite_runs_in_wal_with_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    for engine in (database.engine, database.read_engine):
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    database.dispose()


def test_unreachable_database_names_url_without_password() -> None:
    database = Database("postgresql://watch:s3cret-pw@127.0.0.1:1/nowhere?connect_timeout=2")
    with pytest.raises(StorageError) as caught:
        database.check()
    assert "127.0.0.1:1" in caught.value.message
    assert "s3cret-pw" not in caught.value.message
    assert "watch:***@" in caught.value.message


def test_sqlite_directory_is_created(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'deep' / 'er' / 'x.db'}")
    database.check()
    assert (tmp_path / "deep" / "er").is_dir()
    database.dispose()
