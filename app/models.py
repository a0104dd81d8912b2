"""Import every model so the metadata is complete (migrations and ``db check`` rely on it)."""

from app.accounts.models import AuthToken, User, UserRole  # noqa: F401
from app.audit import AuditEntry  # noqa: F401
from app.content.models import (  # noqa: F401
    Campaign,
    Caption,
    Comment,
    FeedItem,
    FeedSource,
    Post,
    PostDepartment,
    PostLike,
    PostLocation,
    Share,
    Suggestion,
)
from app.gamification.models import (  # noqa: F401
    BadgeDefinition,
    DailyCounter,
    DepartmentScore,
    PeriodScore,
    PointBalance,
    PointEntry,
    ProgramSetting,
    Streak,
    StreakPeriod,
    UserBadge,
    UserStats,
)
from app.org.models import Department, Location  # noqa: F401
from app.tracking.models import Click, NetworkVisit, TrackedLink, UniqueVisit, VisitorSalt  # noqa: F401
