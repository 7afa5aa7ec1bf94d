"""A parent invitation names its child in a column, not in the token's prefix.

The child's id used to travel in the link (`<child id>.<random>`); now the link is random only,
and deleting the pupil deletes the invitations made for them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_invitation_child_id_person"


def upgrade() -> None:
    with op.batch_alter_table("invitation") as batch:
        batch.add_column(sa.Column("child_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(FK, "person", ["child_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("invitation") as batch:
        batch.drop_constraint(FK, type_="foreignkey")
        batch.drop_column("child_id")
