"""The share moment on the server: a person's own caption is kept, ``{link}`` stays where it was put,
X's length limit is checked before sharing, and kept captions are personal data."""

from __future__ import annotations

import io
import json
import re
import zipfile
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from app.content.models import CaptionDraft, Share
from app.content.sharing import x_length
from app.extensions import db
from tests.helpers import make_post, share

CAPTION = "{first_name} recommends: {title}"


def caption_box(html: str, post_id: int) -> str:
    """What the caption box of ``post_id``'s card holds (unescaped)."""
    match = re.search(rf'<textarea id="caption-{post_id}" name="caption"[^>]*>(.*?)</textarea>', html, re.DOTALL)
    assert match, html
    return match.group(1).replace("&#39;", "'").replace("&amp;", "&")


def keep(client, post_id, caption, original="Erin recommends: Q3 results"):
    response = client.post(
        f"/posts/{post_id}/caption", data={"caption": caption, "original": original},
        headers={"Accept": "application/json"},
    )  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_an_edited_caption_is_kept_and_offered_next_time(app, client, factory, auth):
    erin = factory.user("erin@example.com", "Erin Employee")
    post_id = make_post(app, "Q3 results", captions=[("generic", "A", CAPTION)])
    auth.login(erin)
    assert caption_box(client.get("/feed").get_data(as_text=True), post_id) == "Erin recommends: Q3 results"

    answer = keep(client, post_id, "My own words\r\non Q3")
    assert answer == {"kept": True, "message": "Your caption is kept for next time."}
    keep(client, post_id, "My own words on Q3, take two")
    for page in ("/feed", f"/posts/{post_id}", f"/posts/{post_id}/card"):
        assert caption_box(client.get(page).get_data(as_text=True), post_id) == "My own words on Q3, take two"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CaptionDraft)) == 1

    # Going back to the suggestion forgets the draft; so does emptying the box.
    assert keep(client, post_id, "Erin recommends: Q3 results")["kept"] is False
    assert caption_box(client.get("/feed").get_data(as_text=True), post_id) == "Erin recommends: Q3 results"
    keep(client, post_id, "Again mine")
    keep(client, post_id, "   ")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CaptionDraft)) == 0


def test_a_share_keeps_the_caption_it_was_shared_with(app, client, factory, auth):
    erin = factory.user("erin@example.com", "Erin Employee")
    other = factory.user("bo@example.com", "Bo Other")
    post_id = make_post(app, "Q3 results", captions=[("generic", "A", CAPTION)])
    auth.login(erin)
    share(client, post_id, "copy", caption="Shared in my words", original="Erin recommends: Q3 results")
    assert caption_box(client.get("/feed").get_data(as_text=True), post_id) == "Shared in my words"
    auth.login(other)  # a kept caption is one person's: Bo still gets the suggestion
    assert caption_box(client.get("/feed").get_data(as_text=True), post_id) == "Bo recommends: Q3 results"


def test_the_editor_shows_where_the_link_goes_and_it_goes_there(app, client, factory, auth):
    erin = factory.user("erin@example.com", "Erin Employee")
    post_id = make_post(app, "Q3 results", captions=[("generic", "A", "Read {link} by {first_name}")])
    auth.login(erin)
    html = client.get("/feed").get_data(as_text=True)
    assert caption_box(html, post_id) == "Read {link} by Erin"  # the placeholder stays visible
    assert "Your personal link goes where {link} is." in html

    kept = share(client, post_id, "copy")  # the suggestion as offered
    assert kept["text"] == f"Read {kept['link']} by Erin"
    mine = "Numbers {link} are in, have a look"
    for network in ("copy", "whatsapp", "email", "x", "native"):
        result = share(client, post_id, network, caption=mine, original="Read {link} by Erin")
        assert result["text"] == f"Numbers {result['link']} are in, have a look", network
    x = parse_qs(urlsplit(result_of(client, post_id, "x", mine)["intent_url"]).query)
    assert "url" not in x and x["text"][0].startswith("Numbers http") and x["text"][0].endswith("have a look")
    whatsapp = parse_qs(urlsplit(result_of(client, post_id, "whatsapp", mine)["intent_url"]).query)["text"][0]
    assert whatsapp.count("/r/") == 1  # not added again at the end


def result_of(client, post_id, network, caption):
    return share(client, post_id, network, caption=caption, original="x")


def test_x_counts_a_link_as_23_characters():
    link = "https://herald.example.com/r/abcdefghij"
    assert x_length("Hello", link) == 5 + 1 + 23
    assert x_length(f"Hello {link} there", link) == len("Hello  there") + 23
    assert x_length("", link) == 23


def test_a_caption_too_long_for_x_says_so_and_records_nothing(app, client, factory, auth):
    erin = factory.user("erin@example.com", "Erin Employee")
    post_id = make_post(app, "Q3 results")
    auth.login(erin)
    fits = share(client, post_id, "x", caption="a" * 256, original="x")  # 256 + space + 23 = 280
    assert fits["intent_url"].startswith("https://x.com/intent/post?")
    response = client.post(
        f"/posts/{post_id}/share", data={"network": "x", "caption": "b" * 257, "original": "x"},
        headers={"Accept": "application/json"},
    )  # fmt: skip
    assert response.status_code == 409
    assert response.get_json()["error"] == (
        "Too long for X: 281 of 280 characters (a link counts as 23). Shorten your caption, then share."
    )
    with app.app_context():
        assert db.session.scalar(select(Share.times).where(Share.network == "x")) == 1
    # Other networks have room: the same words go to LinkedIn.
    share(client, post_id, "linkedin", caption="b" * 257, original="x")


def test_kept_captions_are_in_the_export_and_go_with_erasure(app, client, factory, auth, users):
    erin = factory.user("erin@example.com", "Erin Employee")
    post_id = make_post(app, "Q3 results")
    auth.login(erin)
    keep(client, post_id, "Words only Erin typed")
    archive = zipfile.ZipFile(io.BytesIO(client.post("/me/data").get_data()))
    [row] = json.loads(archive.read("herald-data.json"))["caption_drafts"]
    assert (row["post_id"], row["post_title"], row["caption"]) == (post_id, "Q3 results", "Words only Erin typed")
    assert "Words only Erin typed" in archive.read("caption_drafts.csv").decode()

    auth.login(users["admin"])
    done = client.post(f"/admin/users/{erin}/erase", data={"confirm_email": "erin@example.com"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CaptionDraft)) == 0
