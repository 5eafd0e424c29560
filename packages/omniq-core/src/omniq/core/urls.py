"""Backend URIs: the scheme picks the backend, and a password never reaches a message or a log."""

from __future__ import annotations

import re

from omniq.core.errors import ConfigurationError

__all__ = ["mask_url", "url_scheme"]

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_USERINFO_PASSWORD = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@]*):[^@/?#]*@")


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
    """``url`` with any password replaced by ``***`` (also in query strings such as ``password=``)."""
    masked = _USERINFO_PASSWORD.sub(r"\1:***@", url)
    return re.sub(r"(?i)((?:password|passwd|secret|token)=)[^&]*", r"\1***", masked)
