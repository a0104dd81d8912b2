"""An employee downloads everything Herald holds about them (from the Me tab)."""

from __future__ import annotations

from flask import Response
from flask_login import current_user

from app.extensions import db
from app.privacy import bp, services
from app.security import login_required

ZIP_MIMETYPE = "application/zip"


def zip_download(body: bytes, user_id: int) -> Response:
    """The archive as an attachment named after the account id (never after a name someone typed)."""
    return Response(body, mimetype=ZIP_MIMETYPE,
                    headers={"Content-Disposition": f"attachment; filename=herald-data-{user_id}.zip",
                             "Cache-Control": "no-store"})  # fmt: skip


@bp.route("/me/data", methods=["POST"])
@login_required
def my_data():
    """My data as a ZIP of JSON and CSV files (a POST: each export is audited)."""
    body = services.export_archive(current_user, current_user)
    db.session.commit()
    return zip_download(body, current_user.id)
