"""notifications: delivery state per row (failed / pending), so one poisoned row never blocks others

Adds ``notifications.failed_at`` (set when ZooKeeper refused a row for good; delivery skips it
until an admin retries it) and an index on ``(config_id, id)`` (delivery looks up the latest row
of a config). Rows still pending whose node path ZooKeeper can never hold (a name from before
names were checked, e.g. an emoji) are marked failed here, so a poisoned database drains after
the upgrade; the deliverer repeats the same check on every row (start-up repair).
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from disconf_web.zookeeper import node_path_problem

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_notifications_config", ["config_id", "id"], unique=False)
    table = sa.table(
        "notifications",
        sa.column("id", sa.Integer()),
        sa.column("path", sa.String()),
        sa.column("delivered_at", sa.DateTime()),
        sa.column("failed_at", sa.DateTime()),
        sa.column("last_error", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(table.c.id, table.c.path).where(table.c.delivered_at.is_(None))
    ).all()
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, like models.utcnow
    for row_id, path in rows:
        problem = node_path_problem(path)
        if problem is not None:
            bind.execute(
                sa.update(table)
                .where(table.c.id == row_id)
                .values(failed_at=now, last_error=f"refused before delivery: {problem}"[:1000])
            )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_config")
        batch_op.drop_column("failed_at")
