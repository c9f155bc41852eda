"""read cache: the read_generation table

One row (id 1, value 0) that every transaction writing a table the client hot query reads
(configs, apps, envs, app read credentials, gray releases) increases as its last statement, so
that each web process can keep the hot query's rows in memory and tell, with one primary-key read
that started after a request arrived, whether a kept row may be out of date
(``disconf_web.protocol.read_cache``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from disconf_web.migrations.columns import TABLE_OPTIONS

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    table = op.create_table(
        "read_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        **TABLE_OPTIONS,
    )
    op.bulk_insert(table, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("read_generation")
