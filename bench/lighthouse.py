"""Lighthouse mobile scores (performance, accessibility, best practices) of Herald's main pages.

    .venv/bin/python bench/lighthouse.py [--runs 1] [--pages /login,/feed,/rewards,/leaderboard] [--fail-under 100]

Starts gunicorn on a fresh SQLite instance filled with ``flask seed-demo`` (the
demo company: posts with images, rewards, 69 people with points), signs the demo
employee in through the real form (GET /login, CSRF token, POST) and runs
Lighthouse 12 (npm, installed into ``bench/.cache/lighthouse`` on first use) in
Debian's Chromium against each page, with the session cookie for every page but
``/login``. Prints each page's scores and what Lighthouse blames for any point
lost; the last line is ``lighthouse login=P/A/B feed=P/A/B rewards=P/A/B leaderboard=P/A/B``.
With ``--runs N`` each page is measured N times and the median of each score is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.common import log  # noqa: E402

LIGHTHOUSE_VERSION = "12.2.3"  # 13.x needs Node 22
LIGHTHOUSE_DIR = common.CACHE / "lighthouse"
LIGHTHOUSE = LIGHTHOUSE_DIR / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium")
CATEGORIES = ("performance", "accessibility", "best-practices")
PAGES = ("/login", "/feed", "/rewards", "/leaderboard")
EMAIL = "employee@northwind.example"
ATTEMPTS = 3
DIAGNOSTICS = (
    "largest-contentful-paint-element",
    "render-blocking-resources",
    "server-response-time",
    "total-byte-weight",
)


def ensure_lighthouse() -> None:
    """``npm i -E lighthouse@12.2.3`` into bench/.cache/lighthouse (gitignored) when it is missing."""
    if LIGHTHOUSE.exists():
        return
    if not shutil.which("npm"):
        sys.exit("npm is missing (Node 20 + npm are needed for Lighthouse)")
    log(f"installing lighthouse@{LIGHTHOUSE_VERSION} into {LIGHTHOUSE_DIR.relative_to(common.ROOT)} (npm)...")
    LIGHTHOUSE_DIR.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        ["npm", "i", "-E", f"lighthouse@{LIGHTHOUSE_VERSION}", "--no-audit", "--no-fund"],
        cwd=LIGHTHOUSE_DIR, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0 or not LIGHTHOUSE.exists():
        sys.exit("npm could not install lighthouse:\n" + out.stdout + out.stderr)


def seed_demo(instance: common.Instance) -> str:
    """``flask seed-demo`` on the instance; returns the demo employee's fresh password."""
    out = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "seed-demo"],
        cwd=common.ROOT, env=instance.env, capture_output=True, text=True,
    )  # fmt: skip
    match = re.search(rf"^\s*{re.escape(EMAIL)}\s+(\S+)\s*$", out.stdout, re.MULTILINE)
    if out.returncode != 0 or match is None:
        raise RuntimeError("flask seed-demo failed:\n" + out.stdout + out.stderr)
    return match.group(1)


def run_lighthouse(url: str, cookie: str | None, report: Path) -> dict:
    """One Lighthouse run (mobile form factor, simulated throttling); the parsed JSON report."""
    argv = [
        str(LIGHTHOUSE), url, "--form-factor=mobile", f"--only-categories={','.join(CATEGORIES)}",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu", "--output=json",
        f"--output-path={report}", "--quiet",
    ]  # fmt: skip
    if cookie:
        argv.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    for attempt in range(1, ATTEMPTS + 1):
        report.unlink(missing_ok=True)
        out = subprocess.run(argv, env={**os.environ, "CHROME_PATH": CHROMIUM}, capture_output=True, text=True)
        error = out.stderr[-3000:] if out.returncode != 0 or not report.exists() else None
        result = json.loads(report.read_text()) if error is None else {}
        error = error or (result.get("runtimeError") or {}).get("message")
        if error is None:
            return result
        # Seen on a loaded machine: NO_NAVSTART ("Please run Lighthouse again"); another run passes.
        log(f"    lighthouse {url}, attempt {attempt}: {error.strip().splitlines()[-1]}")
    raise RuntimeError(f"lighthouse {url} failed {ATTEMPTS} times")


def scores(result: dict) -> dict[str, int]:
    """Category scores, 0-100 (``None`` from Lighthouse, an error, counts as 0)."""
    return {c: round((result["categories"][c]["score"] or 0) * 100) for c in CATEGORIES}


def blamed(result: dict) -> list[str]:
    """The audits that cost points: weighted audits of each category that did not score 1."""
    lines, unscored = [], []
    audits = result["audits"]
    for category in CATEGORIES:
        for ref in result["categories"][category]["auditRefs"]:
            audit = audits[ref["id"]]
            if audit.get("scoreDisplayMode") == "error":
                # Left out of the score by Lighthouse: say so, or a 100 would hide an audit that never ran.
                if ref.get("weight", 0) > 0:
                    error = (audit.get("errorMessage") or "").splitlines()[0][:110]
                    lines.append(f"    {category}: {ref['id']} NOT MEASURED (weight {ref['weight']}): {error}")
                else:
                    unscored.append(ref["id"])
                continue
            if ref.get("weight", 0) <= 0 or audit.get("score") is None or audit["score"] >= 1:
                continue
            shown = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
            lines.append(f"    {category}: {ref['id']} score {audit['score']:.2f}{shown}: {audit['title']}")
            for item in (audit.get("details") or {}).get("items", [])[:3]:
                node = item.get("node") or {}
                where = node.get("selector") or item.get("url") or node.get("snippet")
                if where:
                    lines.append(f"        {str(where)[:140]}")
    if unscored:
        lines.append(f"    not measured (no weight, Lighthouse errors): {', '.join(unscored)}")
    if result["categories"]["performance"]["score"] < 1:
        # FCP/LCP carry no details of their own: say what was painted and what held the paint back.
        for audit_id in DIAGNOSTICS:
            audit = audits.get(audit_id) or {}
            if audit.get("scoreDisplayMode") == "error":
                continue
            found = list(dict.fromkeys(_places(audit.get("details"))))[:4]
            shown = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
            if found or shown:
                lines.append(f"    diagnostic: {audit_id}{shown}: {', '.join(found) or '-'}")
    return lines


def _places(details) -> list[str]:
    """URLs and element selectors anywhere in an audit's details (tables nest in LCP's)."""
    if isinstance(details, dict):
        found = [str(v)[:120] for k, v in details.items() if k in ("url", "selector") and v]
        return found + [x for v in details.values() for x in _places(v)]
    if isinstance(details, list):
        return [x for v in details for x in _places(v)]
    return []


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per page; the median of each score is kept")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated paths (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: cores)")
    parser.add_argument(
        "--fail-under", type=int, default=None, metavar="N",
        help="exit 1 when any score of any page is below N (accessibility and best practices do not depend on load)",
    )  # fmt: skip
    args = parser.parse_args()
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]

    ensure_lighthouse()
    for line in common.machine_lines():
        log(line)
    log(f"lighthouse {LIGHTHOUSE_VERSION}, {common.tool_version([CHROMIUM, '--version'])}")
    instance = common.Instance("sqlite", "lighthouse")
    server: common.Gunicorn | None = None
    final: dict[str, dict[str, int]] = {}
    try:
        t0 = time.monotonic()
        instance.migrate()
        password = seed_demo(instance)
        log(f"dataset: flask seed-demo in {time.monotonic() - t0:.1f} s")
        server = common.Gunicorn(instance, args.workers, 1)
        server.start()
        log(f"server: {' '.join(server.argv)}")
        cookie = common.sign_in(server.port, EMAIL, password, "/feed", "<article", at_least=1)
        log(f"signed in as {EMAIL} through POST /login")
        common.settle(limit=20)
        log(f"before: {load_line()}")
        for path in pages:
            runs = []
            for n in range(args.runs):
                report = instance.tmp / f"lighthouse-{path.strip('/').replace('/', '-') or 'root'}-{n}.json"
                result = run_lighthouse(server.base + path, None if path == "/login" else cookie, report)
                if result.get("finalDisplayedUrl", "").rstrip("/") != (server.base + path).rstrip("/"):
                    raise RuntimeError(f"{path} ended on {result.get('finalDisplayedUrl')} (not signed in?)")
                runs.append((scores(result), result))
            median = {c: round(statistics.median(s[c] for s, _ in runs)) for c in CATEGORIES}
            final[path] = median
            every = "; ".join("/".join(str(s[c]) for c in CATEGORIES) for s, _ in runs)
            log(f"{path}: " + " / ".join(f"{c} {median[c]}" for c in CATEGORIES) + f"  (runs: {every})")
            worst = min(runs, key=lambda run: sum(run[0].values()))[1]
            for line in blamed(worst):
                log(line)
        log(f"after: {load_line()}")
    finally:
        if server is not None:
            server.stop()
        instance.close()
    figures = (f"{p.strip('/') or 'root'}=" + "/".join(str(final[p][c]) for c in CATEGORIES) for p in pages)
    log("lighthouse " + " ".join(figures))
    if args.fail_under is not None:
        low = [f"{p} {c} {final[p][c]}" for p in pages for c in CATEGORIES if final[p][c] < args.fail_under]
        if low:
            sys.exit(f"below {args.fail_under}: {', '.join(low)}")


if __name__ == "__main__":
    main()
