"""The alembic migrations build exactly the schema the models describe, on
SQLite and PostgreSQL, and `init-db` can run twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db import upgrade
from bot.models import Base


async def schema_differences(url: str) -> list:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                              Base.metadata))
    finally:
        await engine.dispose()


async def test_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await upgrade(url)
    await upgrade(url)  # idempotent
    assert await schema_differences(url) == []


async def test_migrations_match_the_models_on_postgresql(pg_empty_url: str) -> None:
    await upgrade(pg_empty_url)
    await upgrade(pg_empty_url)
    assert await schema_differences(pg_empty_url) == []


def test_init_db_command_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[database]\nurl = "sqlite+aiosqlite:///x.db"\n', encoding="utf-8")
    for _ in range(2):
        result = subprocess.run([sys.executable, "-m", "bot", "init-db"], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "database ready" in result.stdout
    assert (tmp_path / "x.db").exists()


def test_the_recorded_schema_revisions_are_alembics_heads() -> None:
    from alembic.script import ScriptDirectory

    from bot.db import MIGRATIONS_DIR, SCHEMA_REVISIONS, _alembic_config

    heads = ScriptDirectory.from_config(_alembic_config("sqlite+aiosqlite:///unused.db")).get_heads()
    assert set(heads) == SCHEMA_REVISIONS
    assert MIGRATIONS_DIR.is_dir()


async def test_ensure_schema_upgrades_only_when_needed(tmp_path: Path) -> None:
    from bot.db import SCHEMA_REVISIONS, Database, ensure_schema, schema_revisions

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'e.db'}")
    try:
        assert await schema_revisions(db.engine) == frozenset()
        await ensure_schema(db)
        assert await schema_revisions(db.engine) == SCHEMA_REVISIONS
        await ensure_schema(db)
    finally:
        await db.dispose()
