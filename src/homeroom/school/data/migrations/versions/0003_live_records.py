"""What a live class leaves behind: its chat messages and its polls' results.

Written by the live gateway in batches (live/records.py; docs/live.md#records), read by
`GET /api/v1/sessions/{id}/chat` and `/polls`. Both go with their session; a chat message also
goes with its author (erasure).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Enums are plain VARCHARs holding the member's name (native_enum=False), as in 0001.
LIVE_ROLE = sa.Enum("TEACHER", "PUPIL", "GUEST", name="role", native_enum=False, length=16)
AUDIENCE = sa.Enum("ALL", "TEACHER", "GROUP", name="chataudience", native_enum=False, length=16)
UTC_DATETIME = sa.DateTime(timezone=True)  # models.UTCDateTime: aware, in UTC


def _session_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["session_id"],
        ["class_session.id"],
        name=f"fk_{table}_session_id_class_session",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "chat_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("display_name", sa.String(120), nullable=False),
        sa.Column("role", LIVE_ROLE, nullable=False),
        sa.Column("audience", AUDIENCE, nullable=False),
        sa.Column("breakout_group", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chat_message"),
        _session_fk("chat_message"),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name="fk_chat_message_person_id_person",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "session_id", "epoch", "seq", name="uq_chat_message_session_id_epoch_seq"
        ),
    )
    op.create_index("ix_chat_message_person_id", "chat_message", ["person_id"])
    op.create_table(
        "poll_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.String(64), nullable=False),
        sa.Column("poll", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("multiple", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("voters", sa.Integer(), nullable=False),
        sa.Column("shown", sa.Boolean(), nullable=False),
        sa.Column("closed_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_poll_result"),
        _session_fk("poll_result"),
        sa.UniqueConstraint(
            "session_id", "epoch", "poll", name="uq_poll_result_session_id_epoch_poll"
        ),
    )


def downgrade() -> None:
    op.drop_table("poll_result")
    op.drop_index("ix_chat_message_person_id", "chat_message")
    op.drop_table("chat_message")
