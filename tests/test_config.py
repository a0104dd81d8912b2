"""Configuration: instance folder, generated secrets, production refusals."""

from __future__ import annotations

import os
import stat

import pytest

from app import InsecureConfiguration, create_app
from app.config import load_config, production_problems

SAFE_PRODUCTION = {
    "HERALD_ENV": "production",
    "SECRET_KEY": "x" * 48,
    "BASE_URL": "https://herald.example.com",
    "MAIL_BACKEND": "smtp",
    "SESSION_COOKIE_SECURE": True,
}


def test_secret_key_is_generated_once_with_mode_0600(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.delenv("HERALD_SECRET_KEY", raising=False)
    first = load_config()
    second = load_config()
    key_file = tmp_path / "inst" / "secret_key"
    assert first["SECRET_KEY"] == second["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first["SECRET_KEY"]) >= 40
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_environment_variables_configure_herald(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("HERALD_DATABASE_URL", "postgresql://u@db.internal/herald")
    monkeypatch.setenv("HERALD_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("HERALD_SECRET_KEY", "s" * 40)
    cfg = load_config()
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.internal/herald"
    assert cfg["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"
    assert cfg["SECRET_KEY"] == "s" * 40
    assert not (tmp_path / "secret_key").exists()


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("HERALD_DATABASE_URL", raising=False)
    assert load_config()["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'herald.db'}"


def test_production_refuses_insecure_settings_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("HERALD_ENV", "production")
    monkeypatch.setenv("HERALD_BASE_URL", "http://herald.example.com")
    monkeypatch.setenv("HERALD_MAIL_BACKEND", "console")
    monkeypatch.setenv("HERALD_SECRET_KEY", "short")
    with pytest.raises(InsecureConfiguration) as exc:
        create_app()
    message = str(exc.value)
    assert "refuses to start in production mode" in message
    assert "HERALD_SECRET_KEY must be at least 32 characters" in message
    assert "HERALD_BASE_URL must be an https:// address" in message
    assert "HERALD_MAIL_BACKEND must be smtp" in message


def test_production_refuses_a_world_readable_secret_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("HERALD_SECRET_KEY", raising=False)
    cfg = load_config({k: v for k, v in SAFE_PRODUCTION.items() if k != "SECRET_KEY"} | {"SECRET_KEY": None})
    assert production_problems(cfg) == []
    os.chmod(tmp_path / "secret_key", 0o644)
    assert any("readable by other users" in p for p in production_problems(cfg))


def test_production_with_safe_settings_starts_with_secure_cookies(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("HERALD_ENV", "production")
    monkeypatch.setenv("HERALD_BASE_URL", "https://herald.example.com")
    monkeypatch.setenv("HERALD_SECRET_KEY", "k" * 48)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}"})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    response = app.test_client().get("/login")
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


@pytest.mark.parametrize("value", ["Production", "prod", "staging", "PRODUCTION "])
def test_an_unknown_mode_refuses_to_start_instead_of_running_as_development(tmp_path, monkeypatch, value):
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("HERALD_ENV", value)
    with pytest.raises(InsecureConfiguration, match="HERALD_ENV must be one of development, production"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})


def test_instance_files_are_created_private(tmp_path, monkeypatch):
    """The database (and its WAL), the rate-limit counters and the gift-card key: mode 0600 from the start."""
    from sqlalchemy import text

    from app.extensions import db
    from app.ratelimit import sign_in_limits
    from rewards import services as reward_services

    folder = tmp_path / "inst"
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(folder))
    monkeypatch.delenv("HERALD_SECRET_KEY", raising=False)
    monkeypatch.delenv("HERALD_GIFTCARD_KEY", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'herald.db'}", "RATELIMIT_ENABLED": True})
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        reward_services.code_hash("ANY-CODE")  # creates instance/giftcard_key on first use
        sign_in_limits(app).hit("1 per minute", "probe", "test")  # creates instance/ratelimits.db
        names = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir() if p.is_file()}
        db.engine.dispose()
    for name in ("herald.db", "herald.db-wal", "secret_key", "giftcard_key", "ratelimits.db"):
        assert names.get(name) == 0o600, (name, names)


@pytest.mark.parametrize("name", ["giftcard_key", "herald.db", "vapid_private_key.pem"])
def test_production_refuses_any_instance_file_others_can_read(tmp_path, monkeypatch, name):
    monkeypatch.setenv("HERALD_INSTANCE_PATH", str(tmp_path))
    for env_name, value in SAFE_PRODUCTION.items():
        monkeypatch.setenv(f"HERALD_{env_name}" if env_name != "HERALD_ENV" else env_name, str(value))
    monkeypatch.delenv("HERALD_SESSION_COOKIE_SECURE", raising=False)
    database = f"sqlite:///{tmp_path / 'herald.db'}"
    create_app({"SQLALCHEMY_DATABASE_URI": database})  # starts: everything it created is private
    path = tmp_path / name
    path.touch()
    os.chmod(path, 0o644)
    with pytest.raises(InsecureConfiguration, match=f"{name} is readable by other users; chmod 600 it"):
        create_app({"SQLALCHEMY_DATABASE_URI": database})
    os.chmod(path, 0o600)
    create_app({"SQLALCHEMY_DATABASE_URI": database})
