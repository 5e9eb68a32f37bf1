"""The database layer: ``database`` (engines, sessions, migrations, the
insert-or-ignore helper), ``sqlite_inline`` (SQLite on the event loop) and the
alembic ``migrations``. The typed models live in bot.models."""

from bot.db.database import (
    MIGRATIONS_DIR,
    SCHEMA_REVISIONS,
    Database,
    _alembic_config,
    affected,
    ensure_schema,
    insert_ignore,
    is_sqlite,
    redact,
    schema_revisions,
    upgrade,
    upgrade_sync,
)

__all__ = [
    "MIGRATIONS_DIR",
    "SCHEMA_REVISIONS",
    "Database",
    "_alembic_config",
    "affected",
    "ensure_schema",
    "insert_ignore",
    "is_sqlite",
    "redact",
    "schema_revisions",
    "upgrade",
    "upgrade_sync",
]
