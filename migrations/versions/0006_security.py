"""security: revealed gift codes stay spent; per-network cap on point-earning visitors

Revision ID: 0006_security
Revises: 0005_feed_index
Create Date: 2026-12-04 05:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_security'
down_revision = '0005_feed_index'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('gift_code', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revealed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'network_visit',
        sa.Column('link_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('network_hash', sa.String(length=64), nullable=False),
        sa.Column('visitors', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['link_id'], ['tracked_link.id'], name=op.f('fk_network_visit_link_id_tracked_link'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('link_id', 'day', 'network_hash', name=op.f('pk_network_visit')),
    )


def downgrade():
    op.drop_table('network_visit')
    with op.batch_alter_table('gift_code', schema=None) as batch_op:
        batch_op.drop_column('revealed_at')
