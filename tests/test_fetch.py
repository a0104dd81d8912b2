"""Outgoing fetches: link previews from a real local web server, and every way to reach a private address."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import time

import pytest

from app import fetch as fetch_module
from app.fetch import FetchError, fetch, preview
from tests.helpers import Site

PRIVATE = "That address points to a private network, which Herald does not fetch."
SCHEME = "Enter a web address that starts with http:// or https://."
CREDENTIALS = "Herald does not fetch addresses that contain a user name or password."
TOO_SLOW = "The page took too long to answer."
NOT_A_PAGE = "That address does not answer with a web page."


OG_PAGE = """<!doctype html><html><head>
<meta charset="utf-8">
<title>The plain title | Example</title>
<meta name="description" content="The plain description">
<meta property="og:title" content="  Herald ships
   link previews  ">
<meta property="og:description" content="Open Graph wins &amp; is trimmed.">
<meta property="og:image" content="/images/cover.png">
<meta property="og:site_name" content="Example News">
<meta property="og:url" content="/articles/launch">
<meta name="twitter:title" content="The Twitter title">
</head><body><svg><title>an icon</title></svg><p>Hello</p></body></html>"""

TWITTER_PAGE = """<html><head>
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:title" content="Only Twitter tags">
<meta name="twitter:description" content="A card for X.">
<meta name="twitter:image" content="https://cdn.example.com/card.jpg">
</head><body></body></html>"""

TITLE_PAGE = "<html><head><title>\n  Just a   title \n</title></head><body><h1>Hi</h1></body></html>"


def _slow(seconds):
    def route(handler):
        time.sleep(seconds)
        Site.send(handler, 200, b"<title>late</title>")

    return route


def _trickle(handler):
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    for _ in range(100):
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(0.05)


def _chunked_big(handler):
    """A large body without Content-Length, so only streaming can stop it."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"y" * 65536
    for _ in range(40):  # 2.5 MB
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    handler.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def site(app):
    """A local web site serving every page these tests need; the app may reach it (allow-listed)."""
    server = Site()
    server.page("/og", OG_PAGE)
    server.page("/twitter", TWITTER_PAGE)
    server.page("/title", TITLE_PAGE)
    server.redirect("/hop/3", "/hop/2", 301)
    server.redirect("/hop/2", f"{server.url}/hop/1", 307)
    server.redirect("/hop/1", "/og", 303)
    server.redirect("/loop", "/loop")
    server.redirect("/to-metadata", "http://169.254.169.254/latest/meta-data/")
    server.redirect("/to-ten", "http://10.0.0.1/admin")
    server.redirect("/to-loopback-v6", f"http://[::1]:{server.port}/og")
    server.redirect("/to-ftp", "ftp://example.com/file")
    server.redirect("/to-file", "file:///etc/passwd")
    server.page("/big", "<html>" + "z" * (2 * 1024 * 1024 + 10))
    server.routes["/big-chunked"] = _chunked_big
    server.routes["/slow"] = _slow(2.0)
    server.routes["/trickle"] = _trickle
    server.page("/json", '{"title": "not html"}', content_type="application/json")
    server.page("/no-type", "<title>x</title>", content_type=None)
    server.page("/xhtml", "<html><head><title>XHTML</title></head></html>", content_type="application/xhtml+xml")
    server.page("/missing", "gone", status=404)
    server.page(
        "/latin",
        '<html><head><meta charset="windows-1252"><title>Caf\xe9 cr\xe8me</title></head></html>'.encode("cp1252"),
        content_type="text/html",
    )
    server.page(
        "/header-charset",
        "<html><head><title>Zażółć gęślą jaźń</title></head></html>".encode("iso-8859-2"),
        content_type="text/html; charset=ISO-8859-2",
    )
    server.page("/bad-bytes", b"<html><head><title>broken \xff\xfe bytes</title></head></html>")
    long_title = "T" * 500
    long_description = "word " * 400
    server.page(
        "/long",
        f'<html><head><meta property="og:title" content="{long_title}">'
        f'<meta property="og:description" content="{long_description}"></head></html>',
    )
    server.page(
        "/unsafe-image",
        '<html><head><meta property="og:image" content="javascript:alert(1)"><title>x</title></head></html>',
    )
    app.config["FETCH_ALLOW_HOSTS"] = ["127.0.0.1"]
    yield server
    server.stop()


# --- previews ---------------------------------------------------------------------------------


def test_open_graph_tags_win_and_are_trimmed(app_ctx, site):
    found = preview(f"{site.url}/og")
    assert found.title == "Herald ships link previews"
    assert found.description == "Open Graph wins & is trimmed."
    assert found.image_url == f"{site.url}/images/cover.png"  # relative, resolved against the page
    assert found.site_name == "Example News"
    assert found.url == f"{site.url}/articles/launch"


def test_twitter_card_tags_are_the_fallback(app_ctx, site):
    found = preview(f"{site.url}/twitter")
    assert found.title == "Only Twitter tags"
    assert found.description == "A card for X."
    assert found.image_url == "https://cdn.example.com/card.jpg"
    assert found.url == f"{site.url}/twitter"
    assert found.site_name == "127.0.0.1"  # no og:site_name: the host


def test_plain_title_is_the_last_fallback(app_ctx, site):
    found = preview(f"{site.url}/title")
    assert found.title == "Just a title"
    assert (found.description, found.image_url) == ("", "")


def test_lengths_are_capped(app_ctx, site):
    found = preview(f"{site.url}/long")
    assert len(found.title) == 200 and found.title.endswith("…")
    assert len(found.description) <= 1000 and found.description.endswith("…")


def test_only_web_images_are_kept(app_ctx, site):
    assert preview(f"{site.url}/unsafe-image").image_url == ""


def test_charset_from_meta_tag(app_ctx, site):
    assert preview(f"{site.url}/latin").title == "Café crème"


def test_charset_from_header(app_ctx, site):
    assert preview(f"{site.url}/header-charset").title == "Zażółć gęślą jaźń"


def test_undecodable_bytes_are_replaced(app_ctx, site):
    assert preview(f"{site.url}/bad-bytes").title == "broken \ufffd\ufffd bytes"


def test_xhtml_is_a_web_page(app_ctx, site):
    assert preview(f"{site.url}/xhtml").title == "XHTML"


def test_sends_herald_user_agent(app_ctx, site):
    preview(f"{site.url}/og")
    headers = site.requests[-1][1]
    assert headers["User-Agent"] == "HeraldBot/1.0 (+link preview)"
    assert headers["Accept"].startswith("text/html")


def test_redirect_chain_is_followed(app_ctx, site):
    found = preview(f"{site.url}/hop/3")
    assert found.title == "Herald ships link previews"
    assert site.paths() == ["/hop/3", "/hop/2", "/hop/1", "/og"]
    result = fetch(f"{site.url}/hop/3", accept=("text/html",))
    assert result.url == f"{site.url}/og"
    assert result.status == 200 and result.content_type == "text/html"


def test_redirect_loop_stops(app_ctx, site):
    with pytest.raises(FetchError, match="redirects too many times"):
        preview(f"{site.url}/loop")
    assert len(site.requests) == 6  # the first request and five redirects


def test_too_large_body_is_refused(app_ctx, site):
    with pytest.raises(FetchError) as err:
        preview(f"{site.url}/big")
    assert str(err.value) == "The page is larger than 2 MB."


def test_too_large_body_without_length_is_cut_while_streaming(app_ctx, site):
    with pytest.raises(FetchError) as err:
        preview(f"{site.url}/big-chunked")
    assert str(err.value) == "The page is larger than 2 MB."
    with pytest.raises(FetchError) as err:
        fetch(f"{site.url}/og", accept=("text/html",), max_bytes=100)
    assert str(err.value) == "The page is larger than 0.1 KB."


def test_slow_page_times_out(app, app_ctx, site):
    app.config["FETCH_TIMEOUT"] = 0.2
    started = time.monotonic()
    with pytest.raises(FetchError) as err:
        preview(f"{site.url}/slow")
    assert str(err.value) == TOO_SLOW
    assert time.monotonic() - started < 1.5  # the server answers after 2 s


def test_trickling_page_hits_the_total_deadline(app_ctx, site):
    started = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch(f"{site.url}/trickle", accept=("text/html",), timeout=0.2)
    assert str(err.value) == TOO_SLOW
    assert time.monotonic() - started < 3  # the whole body would take 5 s


def test_other_content_types_are_refused(app_ctx, site):
    for path in ("/json", "/no-type"):
        with pytest.raises(FetchError) as err:
            preview(f"{site.url}{path}")
        assert str(err.value) == NOT_A_PAGE
        assert err.value.code == "content_type"


def test_accept_is_a_prefix_match(app_ctx, site):
    assert fetch(f"{site.url}/json", accept=("application/json",)).body == b'{"title": "not html"}'


def test_http_errors_are_reported(app_ctx, site):
    with pytest.raises(FetchError) as err:
        preview(f"{site.url}/missing")
    assert str(err.value) == "The page answered with an error (HTTP 404)."


def test_unknown_host_is_reported(app_ctx):
    with pytest.raises(FetchError) as err:
        preview("http://no-such-host.invalid/")
    assert str(err.value) == "Herald could not find that address."


def test_closed_port_is_reported(app, app_ctx):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.config["FETCH_ALLOW_HOSTS"] = ["127.0.0.1"]
    with pytest.raises(FetchError) as err:
        preview(f"http://127.0.0.1:{port}/")
    assert str(err.value) == "Herald could not connect to that address."


# --- server-side request forgery ----------------------------------------------------------------


def test_local_server_is_refused_without_the_allow_list(app, app_ctx, site):
    app.config["FETCH_ALLOW_HOSTS"] = []
    with pytest.raises(FetchError) as err:
        preview(f"{site.url}/og")
    assert str(err.value) == PRIVATE
    assert site.requests == []  # refused before connecting


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://10.255.255.254:8080/admin",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://127.0.0.1/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://localhost/",
        "http://LOCALHOST./",
        "https://localhost/",
    ],
)
def test_private_addresses_are_refused(app, app_ctx, url):
    app.config["FETCH_ALLOW_HOSTS"] = []
    with pytest.raises(FetchError) as err:
        fetch(url, accept=("text/html",), timeout=0.5)
    assert str(err.value) == PRIVATE
    assert err.value.code == "private"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/file", SCHEME),
        ("file:///etc/passwd", SCHEME),
        ("gopher://example.com/", SCHEME),
        ("javascript:alert(1)", SCHEME),
        ("//example.com/", SCHEME),
        ("example.com", SCHEME),
        ("http://user:pass@example.com/", CREDENTIALS),
        ("http://user@example.com/", CREDENTIALS),
        ("https://:secret@example.com/", CREDENTIALS),
        ("http:///nohost", "Enter a valid web address."),
        ("http://example.com:99999/", "Enter a valid web address."),
    ],
)
def test_bad_addresses_are_refused(app_ctx, url, message):
    with pytest.raises(FetchError) as err:
        fetch(url, accept=("text/html",))
    assert str(err.value) == message


def test_credentials_are_refused_even_for_allowed_hosts(app_ctx, site):
    with pytest.raises(FetchError) as err:
        preview(f"http://admin:secret@127.0.0.1:{site.port}/og")
    assert str(err.value) == CREDENTIALS
    assert site.requests == []


@pytest.mark.parametrize("path", ["/to-metadata", "/to-ten", "/to-loopback-v6"])
def test_redirect_from_an_allowed_server_to_a_private_address_is_refused(app_ctx, site, path):
    with pytest.raises(FetchError) as err:
        preview(f"{site.url}{path}")
    assert str(err.value) == PRIVATE


@pytest.mark.parametrize("path", ["/to-ftp", "/to-file"])
def test_redirect_to_another_scheme_is_refused(app_ctx, site, path):
    with pytest.raises(FetchError) as err:
        preview(f"{site.url}{path}")
    assert str(err.value) == SCHEME


@pytest.mark.parametrize(
    ("allow", "reachable"),
    [
        (["127.0.0.1"], True),
        (["127.0.0.0/8"], True),
        (["127.0.0.1:{port}"], True),
        (["127.0.0.1:1"], False),
        (["10.0.0.0/8", "192.168.0.0/16"], False),
        (["127.0.0.2"], False),
        (["localhost"], False),  # a name allows that name, not the address it resolves to
    ],
)
def test_allow_list_forms(app, app_ctx, site, allow, reachable):
    app.config["FETCH_ALLOW_HOSTS"] = [entry.format(port=site.port) for entry in allow]
    if reachable:
        assert preview(f"{site.url}/og").title == "Herald ships link previews"
    else:
        with pytest.raises(FetchError, match="private network"):
            preview(f"{site.url}/og")


def test_allow_list_by_host_name(app, app_ctx, site):
    app.config["FETCH_ALLOW_HOSTS"] = [f"localhost:{site.port}"]
    assert preview(f"http://localhost:{site.port}/og").title == "Herald ships link previews"
    with pytest.raises(FetchError, match="private network"):
        preview(f"http://localhost:{site.port + 1 if site.port < 65535 else 1}/og")


def test_allow_list_as_comma_separated_text(app, app_ctx, site):
    app.config["FETCH_ALLOW_HOSTS"] = "10.0.0.0/8, 127.0.0.1"
    assert preview(f"{site.url}/og").title == "Herald ships link previews"


def _fake_dns(monkeypatch, answers):
    """Resolve ``*.test`` names from ``answers`` (a list per name, one answer per call); count the calls."""
    real = socket.getaddrinfo
    calls: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if isinstance(host, str) and host.endswith(".test"):
            calls.append(host)
            addresses = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port, 0, 0) if ":" in a else (a, port),
                )
                for a in addresses
            ]
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_a_name_resolving_to_any_private_address_is_refused(app, app_ctx, site, monkeypatch):
    _fake_dns(monkeypatch, {"mixed.test": [["93.184.215.14", "10.0.0.5"]], "inside.test": [["192.168.0.10"]]})
    app.config["FETCH_ALLOW_HOSTS"] = []
    for host in ("mixed.test", "inside.test"):
        with pytest.raises(FetchError) as err:
            preview(f"http://{host}/")
        assert str(err.value) == PRIVATE


def test_connects_to_the_address_it_checked(app, app_ctx, site, monkeypatch):
    """DNS rebinding: the host is resolved once per connection and that checked answer is dialled.

    The fake resolver answers 127.0.0.1 (allowed here) first and 10.0.0.1 (refused)
    afterwards; a fetch that resolved again after checking would land on 10.0.0.1.
    """
    calls = _fake_dns(monkeypatch, {"rebind.test": [["127.0.0.1"], ["10.0.0.1"]]})
    found = preview(f"http://rebind.test:{site.port}/og")
    assert found.title == "Herald ships link previews"
    assert calls == ["rebind.test"]
    assert site.requests[-1][1]["Host"] == f"rebind.test:{site.port}"
    with pytest.raises(FetchError, match="private network"):
        preview(f"http://rebind.test:{site.port}/og")  # a new connection resolves anew: 10.0.0.1 now


def test_address_classification():
    public = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:0808:0808::1"]
    private = ["100.100.1.1", "::ffff:10.0.0.1", "2002:7f00:0001::1", "64:ff9b::a00:1", "fec0::1", "255.255.255.255"]
    for address in public:
        assert fetch_module.is_public_address(ipaddress.ip_address(address)), address
    for address in private:
        assert not fetch_module.is_public_address(ipaddress.ip_address(address)), address


# --- https ------------------------------------------------------------------------------------


@pytest.fixture
def tls_site(app, tmp_path, monkeypatch):
    """An https site with a certificate for ``localhost`` that this test trusts."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = Site(context)
    server.page("/og", OG_PAGE)
    monkeypatch.setattr(fetch_module, "_VERIFY", str(cert_file))
    yield server
    server.stop()


def test_https_goes_through_the_same_guard(app, app_ctx, tls_site):
    url = f"https://localhost:{tls_site.port}/og"
    app.config["FETCH_ALLOW_HOSTS"] = []
    with pytest.raises(FetchError, match="private network"):
        preview(url)
    app.config["FETCH_ALLOW_HOSTS"] = ["127.0.0.1"]
    assert preview(url).title == "Herald ships link previews"  # certificate checked against "localhost"


def test_https_certificate_must_match_the_host(app, app_ctx, tls_site):
    app.config["FETCH_ALLOW_HOSTS"] = ["127.0.0.1"]
    with pytest.raises(FetchError) as err:
        preview(f"https://127.0.0.1:{tls_site.port}/og")  # the certificate names localhost only
    assert str(err.value) == "Herald could not make a secure connection to that address."
