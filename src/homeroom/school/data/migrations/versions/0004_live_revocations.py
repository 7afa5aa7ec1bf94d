"""Join tokens revoked before they expire: sign-out, password reset, erasure, a deleted session.

Written by the school (school/links/revocations.py), read by every live gateway process every few
seconds (live/revocations.py; docs/live.md#join).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_revocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("person", sa.String(64), nullable=False),
        sa.Column("grant_tag", sa.String(64), nullable=False),
        sa.Column("before_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_live_revocation"),
    )
    op.create_index("ix_live_revocation_before_ms", "live_revocation", ["before_ms"])
    op.create_index("ix_live_revocation_room", "live_revocation", ["room"])


def downgrade() -> None:
    op.drop_index("ix_live_revocation_room", "live_revocation")
    op.drop_index("ix_live_revocation_before_ms", "live_revocation")
    op.drop_table("live_revocation")
