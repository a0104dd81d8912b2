"""Text answers go out compressed to browsers that accept it; redirects, downloads and old clients are left alone."""

from __future__ import annotations

import gzip
from pathlib import Path

import brotli

from tests.helpers import code_of, make_post, share, visit

STATIC = Path(__file__).resolve().parent.parent / "static"


def test_the_feed_arrives_gzipped_and_reads_the_same(app, client, auth, users):
    make_post(app, "Quarterly results are in")
    auth.login(users["employee"])
    plain = client.get("/feed")
    packed = client.get("/feed", headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers  # benchmarks and old clients get the page as it is
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    page = gzip.decompress(packed.get_data()).decode()
    assert "Quarterly results are in" in page
    assert len(packed.get_data()) * 3 < len(plain.get_data())


def test_the_stylesheet_arrives_in_brotli_and_revalidates(app, client):
    response = client.get("/static/css/app.css", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "br"
    assert brotli.decompress(response.get_data()) == (STATIC / "css" / "app.css").read_bytes()
    again = client.get(
        "/static/css/app.css", headers={"Accept-Encoding": "br", "If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304  # the phone's cached copy stays good: no second download


def test_a_tracked_redirect_is_not_compressed(app, client, auth, users):
    post_id = make_post(app)
    auth.login(users["employee"])
    code = code_of(share(client, post_id)["link"])
    response = visit(app, code, **{"Accept-Encoding": "gzip, br"})
    assert response.status_code == 302 and "Content-Encoding" not in response.headers
    assert response.headers["Location"].startswith("https://example.com/q3?utm_source=linkedin")
