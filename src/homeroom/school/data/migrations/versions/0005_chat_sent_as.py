"""A chat message's author and client id, so a message resent after a failover is kept once.

A Redis failover can lose a room's last entries; the gateway then starts a new epoch and the
clients send their recent messages again (docs/live.md#epoch-regression). A message whose entry
survived comes back under the new epoch with a new sequence number: (session, epoch, seq) no
longer names it twice, (session, sent_as) does. NULL for rows written before this revision.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_message") as batch:
        batch.add_column(sa.Column("sent_as", sa.String(130), nullable=True))
        batch.create_unique_constraint(
            "uq_chat_message_session_id_sent_as", ["session_id", "sent_as"]
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_message") as batch:
        batch.drop_constraint("uq_chat_message_session_id_sent_as", type_="unique")
        batch.drop_column("sent_as")
