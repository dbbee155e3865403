"""Alembic environment: runs on the connection handed over by ``store.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    # Two processes starting at once must not both migrate.
    connection.execute(text("SELECT pg_advisory_xact_lock(7470001)"))
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
