"""HTTP GETs to the Hugging Face hub that keep the token with the host it belongs to.

The bearer token goes only to its home: the scheme, host and port of the endpoint it was issued for
(`HF_ENDPOINT`). A redirect elsewhere (the hub sends weight downloads to a CDN on another host) is
followed without it, as requests and huggingface_hub do; a redirect within the home keeps it.
`redact` takes the token out of any text meant for errors or logs.
"""
from __future__ import annotations

import urllib.parse
import urllib.request

_DEFAULT_PORTS = {"http": 80, "https": 443}
_AUTHORIZATION = "Authorization"


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the default port filled in, so equal origins compare equal."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


class _TokenStaysHome(urllib.request.HTTPRedirectHandler):
    """Follows redirects as urllib does, dropping the Authorization header on leaving the token's home."""

    def __init__(self, home: tuple[str, str, int | None]):
        super().__init__()
        self.home = home

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and origin(new.full_url) != self.home:
            new.remove_header(_AUTHORIZATION)
        return new


def open_url(url: str, home: str, token: str | None, timeout: float = 60):
    """GET `url` (a response to use as a context manager); the token is sent only while the request
    stays on the origin of `home`."""
    headers = {"User-Agent": "sparklong"}
    if token and origin(url) == origin(home):
        headers[_AUTHORIZATION] = f"Bearer {token}"
    opener = urllib.request.build_opener(_TokenStaysHome(origin(home)))
    return opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)


def redact(text: str, token: str | None) -> str:
    """`text` with the token replaced, for messages that may be printed or logged."""
    return text.replace(token, "<HF_TOKEN>") if token else text
