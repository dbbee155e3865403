"""Running the Alembic migrations from code (``watchkeeper db upgrade``, serve, demo)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import DBAPIError

from watchkeeper.errors import StorageError
from watchkeeper.store.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(database: Database, *, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call on every start."""
    config = _alembic_config()
    try:
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except DBAPIError as exc:
        raise StorageError(
            f"migration failed on {database.masked_url}: {str(exc.orig or exc).splitlines()[0]}",
            url=database.masked_url,
        ) from None


def current_revision(database: Database) -> str | None:
    """The revision the database is at, or None before the first upgrade."""
    with database.read_engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
