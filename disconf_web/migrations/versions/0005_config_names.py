"""configs: the config_nodes table, one unique ZooKeeper node name per app x env x version

``<app>_<version>_<env>`` is the node name and ``_`` may appear inside each part, so two
triples can spell the same node. The unique ``node_name`` makes the database refuse the second
triple, race-free. Existing triples are claimed oldest config first; a triple whose node name an
older one already holds stays unclaimed: its configs stay readable and deletable, but publishing
to it answers 409 naming the other triple.
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from alembic import op

from disconf_web.migrations.columns import TABLE_OPTIONS, name

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    nodes = op.create_table(
        "config_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_name", name(200), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("version", name(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"]),
        sa.ForeignKeyConstraint(["env_id"], ["envs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("node_name"),
        sa.UniqueConstraint("app_id", "env_id", "version", name="uq_config_node_triple"),
        **TABLE_OPTIONS,
    )
    assert nodes is not None
    apps = sa.table("apps", sa.column("id"), sa.column("name"))
    envs = sa.table("envs", sa.column("id"), sa.column("name"))
    configs = sa.table(
        "configs", sa.column("id"), sa.column("app_id"), sa.column("env_id"), sa.column("version")
    )
    triples = op.get_bind().execute(
        sa.select(configs.c.app_id, configs.c.env_id, configs.c.version, apps.c.name, envs.c.name)
        .join(apps, apps.c.id == configs.c.app_id)
        .join(envs, envs.c.id == configs.c.env_id)
        .group_by(configs.c.app_id, configs.c.env_id, configs.c.version, apps.c.name, envs.c.name)
        .order_by(sa.func.min(configs.c.id))
    )
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    claimed: set[str] = set()
    rows = []
    for app_id, env_id, version, app, env in triples:
        node_name = f"{app}_{version}_{env}"
        if node_name not in claimed:
            claimed.add(node_name)
            rows.append(
                {
                    "node_name": node_name,
                    "app_id": app_id,
                    "env_id": env_id,
                    "version": version,
                    "created_at": now,
                }
            )
    if rows:
        op.bulk_insert(nodes, rows)


def downgrade() -> None:
    op.drop_table("config_nodes")
