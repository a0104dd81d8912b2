"""Uploaded images: type and size checked, re-encoded, stored under the media root."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
MAX_PIXELS = 40_000_000


class ImageError(ValueError):
    """A user-facing problem with an uploaded image."""


def media_root() -> Path:
    """The folder uploads are stored in."""
    return Path(current_app.config["MEDIA_ROOT"])


def _read_image(stream, max_bytes: int) -> Image.Image:
    """Read an upload of at most ``max_bytes``, check it is a JPEG, PNG or WebP of sane size; RGB, upright.

    Raises ImageError with a message for the person who uploaded it.
    """
    from io import BytesIO

    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageError(_("The image is larger than %(mb)d MB.", mb=max_bytes // (1024 * 1024)))
    try:
        with Image.open(BytesIO(data)) as probe:
            if probe.format not in ALLOWED_FORMATS:
                raise ImageError(_("Use a JPEG, PNG or WebP image."))
            if probe.width * probe.height > MAX_PIXELS:
                raise ImageError(_("The image has too many pixels."))
            probe.verify()
        with Image.open(BytesIO(data)) as img:
            return ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ImageError(_("This file is not an image we can read."))


def _store(img: Image.Image, relative: str, quality: int) -> str:
    """Save ``img`` as WebP under the media root; return ``relative``."""
    target = media_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    img.save(target, "WEBP", quality=quality)
    return relative


def save_square_image(stream, folder: str, size: int, max_bytes: int) -> str:
    """Validate an uploaded image, crop it square, resize, store as WebP; return its relative path.

    Re-encoding drops metadata (EXIF location) and anything that is not pixels.
    """
    img = ImageOps.fit(_read_image(stream, max_bytes), (size, size), Image.Resampling.LANCZOS)
    return _store(img, f"{folder}/{secrets.token_urlsafe(12)}.webp", 85)


def delete_media(relative: str | None) -> None:
    """Remove a stored file if it exists (missing files are fine)."""
    if relative:
        (media_root() / relative).unlink(missing_ok=True)


def save_resized_image(stream, folder: str, widths: dict[str, int], max_bytes: int) -> dict[str, str]:
    """Validate an uploaded image and store one WebP per named width (never upscaled).

    Returns ``{name: relative path}``, e.g. ``{"phone": ..., "preview": ...}``.
    """
    img = _read_image(stream, max_bytes)
    stem = secrets.token_urlsafe(12)
    out: dict[str, str] = {}
    for name, width in widths.items():
        copy = img.copy()
        if copy.width > width:
            copy = copy.resize((width, round(copy.height * width / copy.width)), Image.Resampling.LANCZOS)
        out[name] = _store(copy, f"{folder}/{stem}-{name}.webp", 82)
    return out
