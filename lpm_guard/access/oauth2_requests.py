"""Starlette requests as Authlib sees them (the shape of Authlib's Flask integration).

Authlib's server is synchronous and reads the body through ``request.form``; the route reads
the body first (async), then hands this plain snapshot to the server in a worker thread.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.requests import Request

from ..proxies import client_address


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    address: str

    @classmethod
    async def read(cls, request: Request, public_url: str) -> HttpRequest:
        """``public_url`` stands in for the scheme and host the request arrived with (behind a
        TLS proxy those are internal), so Authlib's https check judges the configured URL:
        https, or http on a loopback address only."""
        form: list[tuple[str, str]] = []
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("application/x-www-form-urlencoded"):
                parsed = await request.form()
                form = [
                    (key, value) for key, value in parsed.multi_items() if isinstance(value, str)
                ]
        return cls(
            method=request.method,
            url=public_url
            + request.url.path
            + (f"?{request.url.query}" if request.url.query else ""),
            headers=request.headers,
            query=list(request.query_params.multi_items()),
            form=form,
            address=client_address(request),
        )


def _first(items: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in items:
        values.setdefault(key, value)
    return values


class Payload(OAuth2Payload):  # type: ignore[misc]
    """Query and form parameters together, like Flask's ``request.values``."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._data = _first(items)
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, http: HttpRequest) -> None:
        super().__init__(method=http.method, uri=http.url, headers=http.headers)
        self.http = http
        self.payload = Payload(http.query + http.form)
        self._args = _first(http.query)
        self._form = _first(http.form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form
