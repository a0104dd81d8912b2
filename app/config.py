"""Configuration from ``HERALD_*`` environment variables.

Every setting has a safe default for the embedded mode (SQLite in the instance
folder, tasks in SQLite, mail to the console). Secrets that are not given are
generated once into the instance folder with mode 0600, so a restart keeps the
same session key and a second web host can be given the same file or variable.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path

ENV_PREFIX = "HERALD_"
# The only modes: anything else (a typo, "Production") refuses to start rather than run as development.
KNOWN_ENVS = ("development", "production")


def env(name: str, default: str | None = None) -> str | None:
    """Return ``HERALD_<name>`` from the environment, or ``default``."""
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean ``HERALD_<name>`` (1/true/yes/on)."""
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """Read an integer ``HERALD_<name>``."""
    value = env(name)
    return int(value) if value is not None else default


def instance_path() -> Path:
    """The instance folder: ``HERALD_INSTANCE_PATH`` or ``./instance``."""
    return Path(env("INSTANCE_PATH", str(Path.cwd() / "instance"))).resolve()


def read_or_create_secret(folder: Path, name: str, nbytes: int = 32) -> str:
    """Return the secret stored in ``folder/name``, creating it (mode 0600) if missing.

    Created with ``O_EXCL`` so two processes starting at once agree on one value.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


def secret_file_is_private(path: Path) -> bool:
    """True when a secret file is readable by its owner only."""
    return not (path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (a database SQLite then opens, keeping the mode).

    SQLite creates a new database with the process umask (usually 0644) and gives its
    -wal and -shm files the database's mode, so creating the file first keeps all three private.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` database URL (None for PostgreSQL or an in-memory database)."""
    if not uri.startswith("sqlite:///") or uri in ("sqlite:///", "sqlite:///:memory:"):
        return None
    return Path(uri[len("sqlite:///") :].split("?", 1)[0])


def exposed_files(cfg: dict) -> list[Path]:
    """Files other users can read that must be private: everything directly in the instance folder.

    The instance folder holds the secrets (session key, gift-card key and any key added
    later), the SQLite database with its WAL, the task queue and the rate-limit counters;
    the rule covers them all by place rather than by a list that a new key could miss.
    A SQLite database configured outside the instance folder is checked too.
    """
    folder = Path(cfg["INSTANCE_PATH"])
    candidates = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    database = sqlite_path(cfg.get("SQLALCHEMY_DATABASE_URI", ""))
    if database is not None and database.parent != folder:
        candidates += [p for p in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if p.is_file()]
    return sorted(p for p in candidates if not secret_file_is_private(p))


def load_config(overrides: dict | None = None) -> dict:
    """Build the Flask config dict from the environment, then apply ``overrides``."""
    folder = instance_path()
    mode = env("ENV", "development")
    production = mode == "production"
    cfg: dict = {
        "HERALD_ENV": mode,
        "INSTANCE_PATH": str(folder),
        "SECRET_KEY": env("SECRET_KEY"),
        "BASE_URL": env("BASE_URL", "http://127.0.0.1:5000"),
        "SQLALCHEMY_DATABASE_URI": env("DATABASE_URL", f"sqlite:///{folder / 'herald.db'}"),
        "REDIS_URL": env("REDIS_URL"),
        "MEDIA_ROOT": env("MEDIA_ROOT", str(folder / "uploads")),
        "MAX_CONTENT_LENGTH": env_int("MAX_UPLOAD_MB", 8) * 1024 * 1024,
        "AVATAR_MAX_BYTES": 2 * 1024 * 1024,
        "MAIL_BACKEND": env("MAIL_BACKEND", "smtp" if production else "console"),
        "MAIL_FROM": env("MAIL_FROM", "Herald <herald@localhost>"),
        "SMTP_HOST": env("SMTP_HOST", "localhost"),
        "SMTP_PORT": env_int("SMTP_PORT", 587),
        "SMTP_USER": env("SMTP_USER"),
        "SMTP_PASSWORD": env("SMTP_PASSWORD"),
        "SMTP_STARTTLS": env_bool("SMTP_STARTTLS", True),
        "LOGIN_RATE_LIMIT": env("LOGIN_RATE_LIMIT", "10 per minute;50 per hour"),
        # Per client address: the company's server reporting conversions, and visitors' browsers loading the pixel.
        "CONVERSION_RATE_LIMIT": env("CONVERSION_RATE_LIMIT", "600 per minute"),
        "PIXEL_RATE_LIMIT": env("PIXEL_RATE_LIMIT", "30 per minute;300 per hour"),
        "MAGIC_LINK_TTL": timedelta(minutes=env_int("MAGIC_LINK_MINUTES", 15)),
        "PASSWORD_RESET_TTL": timedelta(hours=1),
        "INVITE_TTL": timedelta(days=env_int("INVITE_DAYS", 14)),
        "DEFAULT_TIMEZONE": env("DEFAULT_TIMEZONE", "UTC"),
        "BABEL_DEFAULT_LOCALE": "en",
        "LANGUAGES": ["en", "pl"],
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_DURATION": timedelta(days=60),
        "PERMANENT_SESSION_LIFETIME": timedelta(days=14),
        "WTF_CSRF_TIME_LIMIT": None,
        # Text answers are compressed (zstd, brotli or gzip, as the browser accepts): the feed's
        # HTML is 40 KB raw, 4 KB compressed. Redirects and file downloads are left alone. A
        # compression side channel (BREACH) needs a secret that stays the same across many
        # answers: a CSRF token's signature covers a timestamp, so it changes every second, and
        # its fixed part is useless without a signature only the server can make.
        "COMPRESS_MIMETYPES": [
            "text/html",
            "text/css",
            "text/javascript",
            "text/plain",
            "application/javascript",
            "application/json",
            "application/manifest+json",
            "image/svg+xml",
        ],
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "TASKS_IMMEDIATE": env_bool("TASKS_IMMEDIATE", False),
        "GIFTCARD_KEY": env("GIFTCARD_KEY"),
        "TRUST_PROXY": env_int("TRUST_PROXY", 0),
        # Point-earning visitors one network address (IPv4, or an IPv6 /64) can produce per link
        # and day: rotating user agents from one machine must not farm clicks; an office behind
        # NAT still counts a few colleagues. 0 turns the cap off.
        "CLICK_VISITORS_PER_NETWORK": env_int("CLICK_VISITORS_PER_NETWORK", 5),
        # Outgoing fetches (link previews, RSS): private addresses are refused unless listed here
        # (comma-separated hosts, host:port or CIDR networks).
        "FETCH_ALLOW_HOSTS": [h.strip() for h in (env("FETCH_ALLOW_HOSTS", "") or "").split(",") if h.strip()],
        "FETCH_TIMEOUT": float(env("FETCH_TIMEOUT", "5")),
        "FETCH_MAX_BYTES": env_int("FETCH_MAX_BYTES", 2 * 1024 * 1024),
        "FEED_POLL_MINUTES": env_int("FEED_POLL_MINUTES", 30),
        # Web Push: the VAPID key (PEM; default: generated once into instance/vapid_private.pem) and the
        # contact push services see (a real mailto: or https: address; Apple refuses anything else).
        "VAPID_PRIVATE_KEY": env("VAPID_PRIVATE_KEY"),
        "VAPID_SUBJECT": env("VAPID_SUBJECT"),
        "PUSH_DAILY_CAP": env_int("PUSH_DAILY_CAP", 5),
        "COMPANY_NAME": env("COMPANY_NAME", ""),
    }
    if overrides:
        cfg.update(overrides)
    if not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = read_or_create_secret(Path(cfg["INSTANCE_PATH"]), "secret_key")
        cfg["SECRET_KEY_FILE"] = str(Path(cfg["INSTANCE_PATH"]) / "secret_key")
    uri = cfg["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgresql://"):
        # psycopg 3 is the driver we ship in the [postgres] extra.
        cfg["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri[len("postgresql://") :]
    # A server connection can go away (restart, failover): app/database.py tests one that sat idle
    # in the pool before use, not every checkout (that was a round trip per request).
    # Counters every worker sees: Redis (every host) or a SQLite file in the instance (every
    # process on this host; app/ratelimit.py). Per-process memory would multiply the limits.
    cfg.setdefault(
        "RATELIMIT_STORAGE_URI", cfg["REDIS_URL"] or f"herald-sqlite://{Path(cfg['INSTANCE_PATH']) / 'ratelimits.db'}"
    )
    cfg.setdefault("RATELIMIT_ENABLED", True)
    if not cfg.get("VAPID_SUBJECT"):
        address = parseaddr(cfg["MAIL_FROM"] or "")[1] or "herald@localhost"
        cfg["VAPID_SUBJECT"] = f"mailto:{address}"
    return cfg


def production_problems(cfg: dict) -> list[str]:
    """Return every reason the configuration is unsafe for production (empty when fine)."""
    problems = []
    if cfg.get("DEBUG"):
        problems.append("debug mode is on; unset FLASK_DEBUG")
    if len(cfg.get("SECRET_KEY") or "") < 32:
        problems.append("HERALD_SECRET_KEY must be at least 32 characters")
    problems += [f"{path} is readable by other users; chmod 600 it" for path in exposed_files(cfg)]
    if not str(cfg.get("BASE_URL", "")).startswith("https://"):
        problems.append("HERALD_BASE_URL must be an https:// address (links in e-mails, secure cookies)")
    if cfg.get("MAIL_BACKEND") not in {"smtp"}:
        problems.append("HERALD_MAIL_BACKEND must be smtp; sign-in links would never reach people")
    if not cfg.get("SESSION_COOKIE_SECURE"):
        problems.append("session cookies must be Secure in production")
    return problems
