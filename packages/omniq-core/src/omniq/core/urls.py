"""Backend URIs: the scheme picks the backend, and a password never reaches a message or a log."""

from __future__ import annotations

import re

from omniq.core.errors import ConfigurationError

__all__ = ["mask_url", "url_scheme"]

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_SECRET_PARAMETER = re.compile(r"(?i)((?:password|passwd|pwd|secret|token|access_key|sas)=)[^&#]*")


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
    """``url`` with any password replaced by ``***`` (also in query strings such as ``password=``).

    The user part ends at the *last* ``@`` before the query, so a password that itself holds
    ``@`` or ``/`` (unescaped, as people do write them) is still hidden whole.
    """
    masked = url
    match = _SCHEME.match(url)
    if match is not None:
        start = match.end()
        rest_end = min((i for i in (url.find("?", start), url.find("#", start)) if i >= 0), default=len(url))
        at = url.rfind("@", start, rest_end)
        colon = url.find(":", start, at) if at >= 0 else -1
        if colon >= 0:
            masked = f"{url[: colon + 1]}***{url[at:]}"
    return _SECRET_PARAMETER.sub(r"\1***", masked)
