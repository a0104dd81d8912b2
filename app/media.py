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


def save_square_image(stream, folder: str, size: int, max_bytes: int) -> str:
    """Validate an uploaded image, crop it square, resize, store as WebP; return its relative path.

    Re-encoding drops metadata (EXIF location) and anything that is not pixels.
    """
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageError(_("The image is larger than %(mb)d MB.", mb=max_bytes // (1024 * 1024)))
    from io import BytesIO

    try:
        with Image.open(BytesIO(data)) as probe:
            if probe.format not in ALLOWED_FORMATS:
                raise ImageError(_("Use a JPEG, PNG or WebP image."))
            if probe.width * probe.height > MAX_PIXELS:
                raise ImageError(_("The image has too many pixels."))
            probe.verify()
        with Image.open(BytesIO(data)) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            img = ImageOps.fit(img, (size, size), Image.Resampling.LANCZOS)
            name = f"{folder}/{secrets.token_urlsafe(12)}.webp"
            target = media_root() / name
            target.parent.mkdir(parents=True, exist_ok=True)
            img.save(target, "WEBP", quality=85)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ImageError(_("This file is not an image we can read."))
    return name


def delete_media(relative: str | None) -> None:
    """Remove a stored file if it exists (missing files are fine)."""
    if relative:
        (media_root() / relative).unlink(missing_ok=True)


def save_resized_image(stream, folder: str, widths: dict[str, int], max_bytes: int) -> dict[str, str]:
    """Validate an uploaded image and store one WebP per named width (never upscaled).

    Returns ``{name: relative path}``, e.g. ``{"phone": ..., "preview": ...}``.
    """
    from io import BytesIO

    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageError(_("The image is larger than %(mb)d MB.", mb=max_bytes // (1024 * 1024)))
    out: dict[str, str] = {}
    try:
        with Image.open(BytesIO(data)) as probe:
            if probe.format not in ALLOWED_FORMATS:
                raise ImageError(_("Use a JPEG, PNG or WebP image."))
            if probe.width * probe.height > MAX_PIXELS:
                raise ImageError(_("The image has too many pixels."))
            probe.verify()
        with Image.open(BytesIO(data)) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            stem = secrets.token_urlsafe(12)
            for name, width in widths.items():
                copy = img.copy()
                if copy.width > width:
                    copy = copy.resize((width, round(copy.height * width / copy.width)), Image.Resampling.LANCZOS)
                relative = f"{folder}/{stem}-{name}.webp"
                target = media_root() / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                copy.save(target, "WEBP", quality=82)
                out[name] = relative
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ImageError(_("This file is not an image we can read."))
    return out
