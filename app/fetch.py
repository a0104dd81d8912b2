"""Outgoing HTTP for link previews and feeds, guarded against server-side request forgery.

Every address a fetch touches (the first one and every redirect hop) must be
``http`` or ``https``, carry no user name or password, and resolve only to
public addresses, unless ``FETCH_ALLOW_HOSTS`` lists the host, the host:port,
or a network containing the address. The check happens inside the socket
connection itself: the connection resolves the host once, checks every address
it got, and connects to one of those very addresses, so a DNS answer that
changes between the check and the connect (DNS rebinding) cannot slip through.
This holds for https as well, because TLS is layered on the socket we connected
and still verifies the certificate against the host name. Environment proxies
are ignored on purpose: through a proxy we would check the proxy's address, not
the target's; the residual risk is a deployment that must fetch through one.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from flask import current_app
from flask_babel import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError
from urllib3.util.connection import allowed_gai_family

USER_AGENT = "HeraldBot/1.0 (+link preview)"
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")
# A whole fetch (every redirect and the body) may take this many timeouts in all, so a
# server that trickles one byte just inside each read timeout cannot hold a worker for long.
TOTAL_TIME_FACTOR = 3
CHUNK_BYTES = 64 * 1024

PREVIEW_TITLE_MAX = 200
PREVIEW_DESCRIPTION_MAX = 1000
PREVIEW_SITE_NAME_MAX = 120
URL_MAX = 2000

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Certificate authorities for https; a module attribute so tests can trust their own.
_VERIFY: bool | str = True


class FetchError(ValueError):
    """A fetch that failed; ``str()`` is a translated message fit to show the person who asked.

    ``code`` names the kind of failure for callers that word it differently
    (a feed says "not a feed" where a preview says "not a web page").
    """

    def __init__(self, message: str, code: str = "error"):
        super().__init__(message)
        self.code = code


@dataclass
class FetchResult:
    """What a fetch got: the final URL after redirects, the status, the bare media type and the body."""

    url: str
    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str]

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of the Content-Type header, if any."""
        return _header_charset(self.headers.get("Content-Type", ""))


@dataclass
class LinkPreview:
    """What a card shows for a link: from Open Graph / Twitter tags, else the page's title and description."""

    url: str
    title: str
    description: str
    image_url: str
    site_name: str


# --- addresses ------------------------------------------------------------------------------


def _private_message() -> str:
    return _("That address points to a private network, which Herald does not fetch.")


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True when ``ip`` is an ordinary internet address (not private, loopback, link-local, CGNAT...).

    IPv6 forms that embed an IPv4 address (mapped ``::ffff:a.b.c.d``, 6to4, NAT64)
    are judged by the address they embed.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.is_site_local:
            return False
    elif ip in _CGNAT:
        return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def _unmapped(ip):
    return ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip


class AddressGuard:
    """Decides which resolved addresses a fetch may connect to, from ``FETCH_ALLOW_HOSTS``.

    Entries are host names (``intranet.example``), ``host:port``, addresses or CIDR
    networks (``10.1.0.0/16``), optionally with a port (``127.0.0.1:8080``,
    ``[::1]:8080``). A listed name trusts whatever it resolves to; a listed
    network trusts the addresses inside it.
    """

    def __init__(self, entries: Iterable[str] | str = ()):
        if isinstance(entries, str):
            entries = entries.split(",")
        self.names: list[tuple[str, int | None]] = []
        self.networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int | None]] = []
        for raw in entries:
            self._add(raw.strip().lower())

    def _add(self, entry: str) -> None:
        if not entry:
            return
        host, port = entry, None
        match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:\[\]]+):(\d+)", entry)
        if match:
            host = match.group(1) or match.group(3)
            digits = match.group(2) or match.group(4)
            port = int(digits) if digits else None
        try:
            self.networks.append((ipaddress.ip_network(host, strict=False), port))
        except ValueError:
            self.names.append((host.rstrip("."), port))

    def name_allowed(self, host: str, port: int) -> bool:
        """True when the host name itself (with this port) is listed."""
        return any(host == name and allowed_port in (None, port) for name, allowed_port in self.names)

    def address_allowed(self, ip, port: int) -> bool:
        """True when ``ip`` is public or inside a listed network (with this port)."""
        if is_public_address(ip):
            return True
        ip = _unmapped(ip)
        return any(
            ip.version == net.version and ip in net and allowed_port in (None, port)
            for net, allowed_port in self.networks
        )

    def resolve(self, host: str, port: int) -> list[tuple]:
        """Resolve ``host`` once and return its ``getaddrinfo`` answers, all of them allowed.

        Refuses the host if ANY answer is not allowed: a name that resolves to a
        public and a private address must not reach the private one by retrying.
        """
        host = host.strip("[]").rstrip(".").lower()
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        # A literal is judged as written, even where the resolver could not handle its family.
        if literal is not None and not self.name_allowed(host, port) and not self.address_allowed(literal, port):
            raise FetchError(_private_message(), "private")
        try:
            infos = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise FetchError(_("Herald could not find that address."), "dns")
        if not infos:
            raise FetchError(_("Herald could not find that address."), "dns")
        if self.name_allowed(host, port):
            return infos
        for info in infos:
            try:
                ip = ipaddress.ip_address(info[4][0])
            except ValueError:
                raise FetchError(_private_message(), "private")
            if not self.address_allowed(ip, port):
                raise FetchError(_private_message(), "private")
        return infos


class _GuardedConnectionMixin:
    """Replaces urllib3's connect: resolve and check once, then connect to a checked address."""

    guard: AddressGuard

    def _new_conn(self) -> socket.socket:
        infos = self.guard.resolve(self.host, self.port)
        error = None
        for family, socktype, proto, _canonname, sockaddr in infos:
            sock = None
            try:
                sock = socket.socket(family, socktype, proto)
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if isinstance(self.timeout, int | float):
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except TimeoutError:
                if sock is not None:
                    sock.close()
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out.")
            except OSError as exc:
                if sock is not None:
                    sock.close()
                error = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        raise error


def _guarded_adapter(guard: AddressGuard) -> HTTPAdapter:
    """An HTTPAdapter whose every connection goes through ``guard``."""

    class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
        pass

    class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
        pass

    GuardedHTTPConnection.guard = guard
    GuardedHTTPSConnection.guard = guard

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}

        def proxy_manager_for(self, *args, **kwargs):  # pragma: no cover - sessions here never use proxies
            raise FetchError(_("Herald could not connect to that address."), "connect")

    return GuardedAdapter(max_retries=0)


# --- fetching -------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """Check the form of an address Herald may fetch (http/https, a host, no credentials).

    Returns it with the scheme and host lower-cased. Says nothing yet about where
    the host points: that is checked when connecting.
    """
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError(_("Enter a valid web address."), "invalid")
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(_("Enter a web address that starts with http:// or https://."), "scheme")
    if parts.username is not None or parts.password is not None:
        raise FetchError(_("Herald does not fetch addresses that contain a user name or password."), "credentials")
    if not parts.hostname or any(ch.isspace() for ch in url):
        raise FetchError(_("Enter a valid web address."), "invalid")
    host = parts.hostname
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))


def _header_charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _sep, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'").strip() or None
    return None


def _format_size(nbytes: int) -> str:
    mb = 1024 * 1024
    value, unit = (nbytes / mb, "MB") if nbytes >= mb else (nbytes / 1024, "KB")
    return f"{value:.1f}".rstrip("0").rstrip(".") + " " + unit


def _too_large(max_bytes: int) -> FetchError:
    return FetchError(_("The page is larger than %(size)s.", size=_format_size(max_bytes)), "too_large")


def _too_slow() -> FetchError:
    return FetchError(_("The page took too long to answer."), "timeout")


def _type_accepted(content_type: str, accept: tuple[str, ...]) -> bool:
    return not accept or any(content_type.startswith(prefix.lower()) for prefix in accept)


def _send(session: requests.Session, url: str, headers: dict, timeout: float) -> requests.Response:
    try:
        return session.get(url, headers=headers, timeout=(timeout, timeout), allow_redirects=False, stream=True)
    except FetchError:
        raise
    except requests.exceptions.Timeout:
        raise _too_slow()
    except requests.exceptions.SSLError:
        raise FetchError(_("Herald could not make a secure connection to that address."), "tls")
    except requests.exceptions.ConnectionError:
        raise FetchError(_("Herald could not connect to that address."), "connect")
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema):
        raise FetchError(_("Enter a valid web address."), "invalid")
    except (requests.exceptions.RequestException, UnicodeError):
        raise FetchError(_("Herald could not read that address."), "read")


def _read_body(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise _too_large(max_bytes)
    chunks, total = [], 0
    try:
        while True:
            # read1 returns whatever one socket read brought, so the deadline is checked between
            # reads even when a server trickles bytes (read() would wait to fill a whole chunk).
            chunk = response.raw.read1(CHUNK_BYTES, decode_content=True)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise _too_large(max_bytes)
            if time.monotonic() > deadline:
                raise _too_slow()
            chunks.append(chunk)
    except ReadTimeoutError:
        raise _too_slow()
    except (HTTPError, OSError):
        raise FetchError(_("Herald could not read that address."), "read")
    return b"".join(chunks)


def fetch(
    url: str,
    *,
    accept: tuple[str, ...],
    max_bytes: int | None = None,
    timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> FetchResult:
    """GET ``url`` safely and return the final answer, or raise ``FetchError``.

    Redirects are followed by hand (at most ``MAX_REDIRECTS``), each hop checked
    like the first. The Content-Type must start with one of ``accept`` (an
    empty tuple accepts anything); the body is streamed and refused beyond
    ``max_bytes`` (default ``FETCH_MAX_BYTES``). ``timeout`` (default
    ``FETCH_TIMEOUT``) bounds the connect and each read, and three times it
    bounds the whole fetch. ``headers`` are extra request headers (conditional
    GETs); a 304 answer comes back as a result with an empty body.
    """
    config = current_app.config
    max_bytes = config["FETCH_MAX_BYTES"] if max_bytes is None else max_bytes
    timeout = config["FETCH_TIMEOUT"] if timeout is None else timeout
    deadline = time.monotonic() + timeout * TOTAL_TIME_FACTOR
    request_headers = {
        "User-Agent": USER_AGENT,
        "Accept": ", ".join(accept) + ", */*;q=0.1" if accept else "*/*",
        **(headers or {}),
    }
    current = check_url(url)
    with requests.Session() as session:
        session.trust_env = False  # no environment proxies or .netrc credentials (see the module docstring)
        session.verify = _VERIFY
        adapter = _guarded_adapter(AddressGuard(config.get("FETCH_ALLOW_HOSTS") or ()))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        for _hop in range(MAX_REDIRECTS + 1):
            if time.monotonic() > deadline:
                raise _too_slow()
            response = _send(session, current, request_headers, timeout)
            with response:
                status = response.status_code
                if status in REDIRECT_STATUSES:
                    location = response.headers.get("Location", "").strip()
                    if not location:
                        raise FetchError(
                            _("The page answered with an error (HTTP %(status)d).", status=status), "status"
                        )
                    current = check_url(urljoin(current, location))
                    continue
                if status == 304:
                    return FetchResult(current, status, "", b"", response.headers)
                if not 200 <= status < 300:
                    raise FetchError(_("The page answered with an error (HTTP %(status)d).", status=status), "status")
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if not _type_accepted(content_type, accept):
                    raise FetchError(_("That address does not answer with a web page."), "content_type")
                body = _read_body(response, max_bytes, deadline)
                return FetchResult(current, status, content_type, body, response.headers)
    raise FetchError(_("The page redirects too many times."), "redirects")


# --- link previews --------------------------------------------------------------------------


class _MetaParser(HTMLParser):
    """Collects ``<meta>`` tags (first value of each key wins) and the document's first ``<title>``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title: str | None = None
        self._title_parts: list[str] | None = None
        self._svg_depth = 0  # an <svg> has <title> elements of its own

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self._svg_depth += 1
        elif tag == "meta":
            values = {name.lower(): (value or "") for name, value in attrs}
            key = (values.get("property") or values.get("name") or "").strip().lower()
            if key and "content" in values:
                self.meta.setdefault(key, values["content"])
        elif tag == "title" and self.title is None and not self._svg_depth:
            self._title_parts = []

    def handle_startendtag(self, tag, attrs):
        if tag != "svg":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "svg" and self._svg_depth:
            self._svg_depth -= 1
        elif tag == "title" and self._title_parts is not None:
            self.title = "".join(self._title_parts)
            self._title_parts = None

    def handle_data(self, data):
        if self._title_parts is not None:
            self._title_parts.append(data)


_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # Browsers read latin-1 and ASCII labels as windows-1252; so do we.
    return "cp1252" if name in ("latin-1", "iso8859-1", "ascii") else name


def decode_html(body: bytes, header_charset: str | None = None) -> str:
    """Decode an HTML page: byte-order mark, else the header's charset, else ``<meta charset>``, else UTF-8."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    match = _META_CHARSET.search(body[:4096])
    meta_charset = match.group(1).decode("ascii") if match else None
    encoding = _codec(header_charset) or _codec(meta_charset) or "utf-8"
    return body.decode(encoding, errors="replace")


def _clean(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _absolute_http(base: str, ref: str | None) -> str:
    ref = (ref or "").strip()
    if not ref:
        return ""
    absolute = urljoin(base, ref)
    if urlsplit(absolute).scheme not in ("http", "https") or len(absolute) > URL_MAX:
        return ""
    return absolute


def parse_preview(html: str, base_url: str) -> LinkPreview:
    """Read a page's preview fields; relative URLs are resolved against ``base_url``.

    Open Graph wins over Twitter card tags, which win over ``<title>`` and
    ``<meta name="description">``. Without ``og:site_name`` the site name is the
    host (without ``www.``), so a card always says where a link goes.
    """
    parser = _MetaParser()
    parser.feed(html)
    parser.close()
    meta = parser.meta

    def first(*keys: str) -> str:
        for key in keys:
            value = " ".join(meta.get(key, "").split())
            if value:
                return value
        return ""

    url = _absolute_http(base_url, first("og:url")) or base_url
    image = first("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src")
    host = urlsplit(url).hostname or ""
    return LinkPreview(
        url=url,
        title=_clean(first("og:title", "twitter:title") or parser.title, PREVIEW_TITLE_MAX),
        description=_clean(first("og:description", "twitter:description", "description"), PREVIEW_DESCRIPTION_MAX),
        image_url=_absolute_http(base_url, image),
        site_name=_clean(first("og:site_name") or host.removeprefix("www."), PREVIEW_SITE_NAME_MAX),
    )


def preview(url: str) -> LinkPreview:
    """Fetch a web page and return its link preview; raises ``FetchError`` with a message to show."""
    result = fetch(url, accept=HTML_TYPES)
    return parse_preview(decode_html(result.body, result.charset), result.url)
