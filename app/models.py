"""Import every model so the metadata is complete (migrations and ``db check`` rely on it)."""

from app.accounts.models import AuthToken, User, UserRole  # noqa: F401
from app.audit import AuditEntry  # noqa: F401
from app.org.models import Department, Location  # noqa: F401
