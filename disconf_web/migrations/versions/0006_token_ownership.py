"""tokens and console sessions: api_tokens.created_by_token_id and the console_sessions table

``created_by_token_id`` records which token created a token through the API, so that revoking a
token revokes every token created through it. ``console_sessions`` holds one row per signed-in
console session (the SHA-256 of its CSRF secret): logging out deletes the row, so a copied
session cookie stops working. Sessions signed in before this migration have no row and must
sign in again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from disconf_web.migrations.columns import TABLE_OPTIONS

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by_token_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_api_tokens_created_by_token_id"), ["created_by_token_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_api_tokens_created_by_token_id", "api_tokens", ["created_by_token_id"], ["id"]
        )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        **TABLE_OPTIONS,
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sessions_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_console_sessions_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sessions_created_at"))
        batch_op.drop_index(batch_op.f("ix_console_sessions_user_id"))
    op.drop_table("console_sessions")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_api_tokens_created_by_token_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_tokens_created_by_token_id"))
        batch_op.drop_column("created_by_token_id")
