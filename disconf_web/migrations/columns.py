"""Column types and table options the migrations share (MariaDB/MySQL and SQLite).

Every migration that uses these helpers builds exactly the DDL it built when it spelled them out:
they are part of the migrations' history. Never change what one returns; add a new helper for a
new kind of column instead.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = ["TABLE_OPTIONS", "big_id", "long_text", "name"]

# Binary (case- and accent-sensitive) utf8mb4 on MariaDB/MySQL, for names and contents.
_BIN = {"charset": "utf8mb4", "collation": "utf8mb4_bin"}

# The options of every table: InnoDB, utf8mb4, binary collation (MariaDB/MySQL only).
TABLE_OPTIONS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def name(length: int) -> sa.types.TypeEngine[str]:
    """A name column's type: ``VARCHAR(length)`` with a binary utf8mb4 collation on MySQL."""
    return sa.String(length=length).with_variant(mysql.VARCHAR(length=length, **_BIN), "mysql")


def long_text() -> sa.types.TypeEngine[str]:
    """A content column's type: ``TEXT``, ``LONGTEXT`` with a binary utf8mb4 collation on MySQL."""
    return sa.Text().with_variant(mysql.LONGTEXT(**_BIN), "mysql")


def big_id() -> sa.Column[int]:
    """The ``id`` primary-key column of a table that grows without bound (BIGINT, INTEGER on SQLite
    so that it auto-increments there)."""
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )
