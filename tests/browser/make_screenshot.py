"""Take a phone-sized screenshot of any Herald page with the demo company (a one-off look).

    .venv/bin/python tests/browser/make_screenshot.py /tmp/feed.png
    .venv/bin/python tests/browser/make_screenshot.py /tmp/admin.png \\
        --email admin@northwind.example --path /admin/

Runs the app on a throwaway SQLite instance seeded like ``flask seed-demo``,
signs in through the password form in Debian's Chromium and saves the page.
Nothing outside the temporary folder and the output file is touched. The README's
screenshots (``docs/screenshots/``) come from ``tests/browser/test_screenshots.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the PNG")
    parser.add_argument("--email", default="employee@northwind.example", help="demo account to sign in as")
    parser.add_argument("--path", default="/feed", help="page to capture (default /feed)")
    parser.add_argument("--scale", type=float, default=2, help="device pixel ratio (default 2)")
    parser.add_argument("--dark", action="store_true", help="use the dark colour scheme")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="herald-screenshot-"))
    # Read when the app package is imported (the task queue is built at import time).
    os.environ["HERALD_INSTANCE_PATH"] = str(tmp)
    os.environ["HERALD_TASKS_IMMEDIATE"] = "1"
    for name in ("HERALD_ENV", "HERALD_DATABASE_URL", "HERALD_REDIS_URL"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))
    try:
        return capture(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def capture(args, tmp: Path) -> int:
    from flask_migrate import upgrade
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from app import create_app
    from app.cli import seed_demo_data
    from app.database import write_intent
    from app.extensions import db
    from tests.browser.helpers import ARGS, CHROMIUM, PHONE

    app = create_app({"MAIL_BACKEND": "memory", "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        with write_intent():
            passwords = seed_demo_data(print_fn=lambda *_: None)
            db.session.commit()
        db.session.remove()
    if args.email not in passwords:
        print(f"unknown demo account {args.email}; pick one of {', '.join(passwords)}", file=sys.stderr)
        return 2

    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(
                **PHONE,
                device_scale_factor=args.scale,
                color_scheme="dark" if args.dark else "light",
                reduced_motion="reduce",
                service_workers="block",
            )
            page = context.new_page()
            page.goto(base + "/login")
            form = page.get_by_role("region", name="Use your password")
            form.get_by_label("E-mail").fill(args.email)
            form.get_by_label("Password").fill(passwords[args.email])
            form.get_by_role("button", name="Sign in").click()
            page.wait_for_url(base + "/feed")
            if args.path != "/feed":
                page.goto(base + args.path)
            page.wait_for_load_state("networkidle")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            browser.close()
    finally:
        server.shutdown()
        thread.join(5)
    print(f"saved {args.out} ({args.email} on {args.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
