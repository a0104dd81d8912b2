"""phone ux: a person's own caption per post (caption_draft)

Revision ID: 0011_phone_ux
Revises: 0010_analytics
Create Date: 2026-12-04 16:30:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011_phone_ux"
down_revision = "0010_analytics"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "caption_draft",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["post.id"], name=op.f("fk_caption_draft_post_id_post"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_caption_draft_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "post_id", name=op.f("pk_caption_draft")),
    )
    with op.batch_alter_table("caption_draft", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_caption_draft_post_id"), ["post_id"], unique=False)


def downgrade():
    with op.batch_alter_table("caption_draft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_caption_draft_post_id"))

    op.drop_table("caption_draft")
