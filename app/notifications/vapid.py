"""The VAPID key pair that signs every push: generated once into the instance folder, or given by environment.

Push services tie each subscription to the public key it was made with. A changed key silently
kills every subscription, so the key is never rotated by accident: it is created only when
absent (mode 0600, ``O_EXCL`` so two processes agree), and production refuses to start when the
key file has vanished while subscriptions exist (``production_problem``).
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from py_vapid import Vapid02

KEY_FILE = "vapid_private.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_path(instance: str) -> Path:
    return Path(instance) / KEY_FILE


def _create(path: Path) -> None:
    """Write a new P-256 private key to ``path`` unless one is there (mode 0600).

    Written to a private temporary file first and then hard-linked into place: ``link`` fails
    when the name exists, so of several processes starting at once exactly one key wins, and
    nobody reads a file that is created but not yet written (``O_EXCL`` on the final name
    would let a second process read it empty).
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    draft = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: its key is the key
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def pem_of(cfg: dict) -> bytes:
    """The private key in PEM: ``HERALD_VAPID_PRIVATE_KEY`` (PEM text) or the instance file, made on first use."""
    given = cfg.get("VAPID_PRIVATE_KEY")
    if given:
        return given.replace("\\n", "\n").encode()
    path = key_path(cfg["INSTANCE_PATH"])
    _create(path)
    return path.read_bytes()


@lru_cache(maxsize=4)
def _vapid(pem: bytes) -> Vapid02:
    return Vapid02.from_pem(pem)


def vapid() -> Vapid02:
    """The signing key for pywebpush: read and parsed once per app and process, not at every push.

    A process also keeps signing with the key it started with should the file change under it.
    """
    found = current_app.extensions.get("herald_vapid")
    if found is None:
        found = current_app.extensions["herald_vapid"] = _vapid(pem_of(current_app.config))
    return found


def public_key() -> str:
    """The application server key the browser subscribes with (uncompressed point, base64url)."""
    point = vapid().public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(point)


def production_problem(cfg: dict, subscriptions: int) -> str | None:
    """Why production must not start: the key file vanished while devices are subscribed with the old key."""
    if cfg.get("VAPID_PRIVATE_KEY") or not subscriptions:
        return None
    if not key_path(cfg["INSTANCE_PATH"]).exists():
        return (
            f"{key_path(cfg['INSTANCE_PATH'])} is missing but {subscriptions} push subscriptions exist: restore the "
            "key from a backup (a new key would silently stop every push), or delete the subscriptions"
        )
    return None
