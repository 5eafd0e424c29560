"""Backend URIs: the scheme picks the backend, and a password never reaches a message or a log."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, urlsplit

from omniq.core.errors import ConfigurationError

__all__ = ["build_url", "mask_url", "split_url", "url_scheme"]

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
#: A query parameter holding a secret: its value runs to the next ``&name=`` or the end (not to
#: ``#`` or a lone ``&``: an unescaped password may hold them; ``&name=`` inside a password cannot
#: be told from the next parameter, by this or by any parser).
_SECRET_PARAMETER = re.compile(
    r"(?i)((?:^|[?&;])(?:password|passwd|pwd|secret|token|access_key|secret_key|sas|sas_token|"
    r"account_key|credential|credentials)=).*?(?=&[A-Za-z_][A-Za-z0-9_.-]*=|$)"
)
#: What may follow the ``@`` that ends a URL's user part: a host (name, address, ``[v6]``) and
#: port, then the path, query, fragment or the end.
_AFTER_USERINFO = re.compile(r"[A-Za-z0-9.\-_~%\[\]:]*(?:[/?#]|$)")


def url_scheme(url: str) -> str:
    """The lower-cased scheme of ``url``, or a :class:`ConfigurationError` naming the bad URI."""
    if not isinstance(url, str):
        raise ConfigurationError(f"backend URI must be a string, got {type(url).__name__}")
    match = _SCHEME.match(url)
    if match is None:
        raise ConfigurationError(
            f"malformed backend URI {mask_url(url)!r}: expected 'scheme://...', "
            "for example 'sqlite:///omniq.db' or 'redis://localhost:6379/0'"
        )
    return match.group(1).lower()


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: in the user part and in query parameters
    such as ``password=``, whatever characters the password holds.

    People write passwords into URIs unescaped, with ``@ / ? # & :`` in them, and a parser then
    reads another password (and host) than they meant; what it printed would show the rest. So
    the user part ends at the *last* ``@`` that is followed by something shaped like a host,
    however many ``/ ? #`` come before it; this may hide more than the password (an ``@`` in a
    query value), never less.
    """
    masked = _SECRET_PARAMETER.sub(r"\1***", url)  # first: a parameter's value may hold an "@"
    match = _SCHEME.match(masked)
    if match is not None:
        start = match.end()
        at = _end_of_userinfo(masked, start)
        colon = masked.find(":", start, at) if at is not None else -1
        if at is not None and colon >= 0:
            masked = f"{masked[: colon + 1]}***{masked[at:]}"
    return masked


def _end_of_userinfo(url: str, start: int) -> int | None:
    at = url.rfind("@", start)
    while at >= 0:
        if _AFTER_USERINFO.match(url, at + 1):
            return at
        at = url.rfind("@", start, at)
    return None


def split_url(url: str, what: str, example: str) -> SplitResult:
    """``urlsplit(url)`` for a backend whose URI has a host, refusing what a parser would misread.

    ``what`` names the URI's kind in errors (``"Redis"``), ``example`` ends them. A password with
    an unescaped ``/``, ``?`` or ``#`` ends the host part early for every URL parser, which would
    then connect with part of the password as host, port or database, and name those parts in
    its errors; it is refused, saying how to write it. Errors never quote a piece of the URI other
    than the masked whole.

    Raises:
        ConfigurationError: the password holds such characters, or the port is not a number.
    """
    shown = mask_url(url)
    match = _SCHEME.match(url)
    host_start = match.end() if match is not None else 0
    userinfo_end = _end_of_userinfo(url, host_start)
    parts = urlsplit(url)
    if userinfo_end is not None and userinfo_end >= host_start + len(parts.netloc):
        raise ConfigurationError(
            f"{what} URI {shown!r}: the password holds an unescaped '/', '?' or '#'; percent-encode "
            f"those characters in a password ('%2F', '%3F', '%23', and '%40' for '@'); {example}"
        )
    try:
        parts.port  # noqa: B018 - reading it validates it
    except ValueError:
        raise ConfigurationError(
            f"{what} URI {shown!r}: the port is not a number from 0 to 65535; {example}"
        ) from None
    return parts


def build_url(
    scheme: str,
    *,
    host: str,
    port: int | None = None,
    username: str | None = None,
    password: str | None = None,
    path: str = "",
) -> str:
    """The URI of a server from its parts, each percent-encoded so that any character survives:
    a password holding ``@ : / ? # %`` reads back as itself (see :func:`split_url`).

    ``path`` is one segment (a database name or number); an IPv6 ``host`` is put in brackets.
    """
    userinfo = ""
    if username is not None or password is not None:
        userinfo = quote(username or "", safe="")
        if password is not None:
            userinfo += ":" + quote(password, safe="")
        userinfo += "@"
    shown_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    address = shown_host if port is None else f"{shown_host}:{port}"
    segment = f"/{quote(path, safe='')}" if path else ""
    return f"{scheme}://{userinfo}{address}{segment}"
