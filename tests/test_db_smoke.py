"""The database layer works the same on SQLite and PostgreSQL."""

from sqlalchemy import select

from bot.db import Database
from bot.models import Township


async def test_a_row_written_in_a_transaction_is_read_back(db: Database) -> None:
    async with db.transaction() as session:
        session.add(Township(name="莲峰镇"))
    async with db.reading() as session:
        names = (await session.scalars(select(Township.name))).all()
    assert names == ["莲峰镇"]
