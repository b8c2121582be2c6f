"""Every command and every route the README names exists: the README is parsed, the CLI's
command tree and the app's routes (and the pages in ``web/``) are asked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from fastapi import FastAPI
from starlette.routing import Match, Mount

from lpm_guard.api import create_app
from lpm_guard.cli.app import app as cli_app
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
METHODS = "GET|POST|PUT|PATCH|DELETE"


def _commands() -> set[tuple[str, ...]]:
    """Every command path the CLI has, groups included: ("admin", "consent", "approve")."""
    found: set[tuple[str, ...]] = set()

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.add(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(cli_app), ())
    return found


def readme_commands() -> list[tuple[str, ...]]:
    """The command paths the README names: each ``lpm-guard …`` in a code block or a code
    span, up to its arguments; ``a | b`` names siblings (``db upgrade | current``)."""
    mentions = [
        line.strip()
        for block in re.findall(r"```text\n(.*?)```", README, re.S)
        for line in block.splitlines()
    ]
    mentions += re.findall(r"`(lpm-guard [^`]+)`", README)
    commands = set()
    for mention in mentions:
        if not mention.startswith("lpm-guard "):
            continue
        # The description column starts after a run of two or more spaces.
        words = re.split(r"\s{2,}", mention)[0].split()[1:]
        path: list[str] = []
        i = 0
        while i < len(words) and re.fullmatch(r"[a-z][a-z-]*", words[i]):
            path.append(words[i])
            i += 1
            commands.add(tuple(path))
            # siblings: "| name" at the same depth
            while (
                i + 1 < len(words)
                and words[i] == "|"
                and re.fullmatch(r"[a-z][a-z-]*", words[i + 1])
            ):
                commands.add((*path[:-1], words[i + 1]))
                i += 2
            if i < len(words) and words[i] == "|":
                break
    return sorted(commands)


def readme_routes() -> list[tuple[str | None, str]]:
    """The routes the README names in code spans: ``GET /v1/…``, ``/v1/…``, ``/oauth/…``,
    pages (``/x.html``) and ``/docs``; a query or fragment is not part of the route and
    ``[.pem]`` names both spellings."""
    routes = set()
    for span in re.findall(r"`([^`\n]+)`", README):
        match = re.fullmatch(rf"(?:({METHODS}) )?(/[^\s`]*)", span.strip())
        if match is None:
            continue
        method, path = match.groups()
        path = re.split(r"[?#]", path)[0]
        if not (
            path.startswith(("/v1", "/oauth")) or path.endswith(".html") or path in {"/docs", "/"}
        ):
            continue
        if "[" in path:
            base, optional = re.fullmatch(r"(.*)\[(.*)\]", path).groups()  # type: ignore[union-attr]
            routes |= {(method, base), (method, base + optional)}
        else:
            routes.add((method, path))
    return sorted(routes, key=lambda r: (r[1], r[0] or ""))


def test_the_readme_names_commands_and_routes() -> None:
    # The parsers find what the README says (a parser that finds nothing checks nothing).
    commands = readme_commands()
    assert ("generate",) in commands and ("admin", "consent", "approve-capture") in commands
    assert ("db", "current") in commands and ("admin", "researchers", "reinstate") in commands
    routes = readme_routes()
    assert ("POST", "/v1/verify") in routes
    assert ("GET", "/v1/provenance/trust-anchors.pem") in routes


@pytest.mark.parametrize("command", readme_commands(), ids=" ".join)
def test_every_command_the_readme_names_exists(command: tuple[str, ...]) -> None:
    assert command in _commands(), f"the README names `lpm-guard {' '.join(command)}`"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    runtime = Runtime.open(Settings(data_dir=tmp_path_factory.mktemp("readme") / "data"))
    try:
        yield create_app(runtime=runtime)
    finally:
        runtime.close()


def _served(app: FastAPI, method: str, path: str) -> bool:
    """Whether a route (not the pages' static mount) takes ``method`` on ``path``, asked the
    way Starlette routes a request; a ``{parameter}`` stands for any value."""
    scope = {"type": "http", "method": method, "path": re.sub(r"\{[^}]+\}", "x1", path)}
    return any(
        route.matches(scope)[0] is Match.FULL
        for route in app.routes
        if not isinstance(route, Mount)
    )


@pytest.mark.parametrize("route", readme_routes(), ids=lambda r: f"{r[0] or 'ANY'} {r[1]}")
def test_every_route_the_readme_names_exists(route: tuple[str | None, str], app: FastAPI) -> None:
    method, path = route
    if path.endswith(".html") or path == "/":
        page = "index.html" if path == "/" else path.lstrip("/")
        assert (ROOT / "web" / page).is_file(), f"the README names the page {path}"
        return
    if method is not None:
        assert _served(app, method, path), f"the README names {method} {path}"
        return
    # A bare path names a route (any method), or a family of documented routes (`/v1/consent`).
    documented = app.openapi()["paths"]
    family = path.rstrip("/") + "/"
    assert any(_served(app, m, path) for m in METHODS.split("|")) or any(
        p.startswith(family) for p in documented
    ), f"the README names {path}"
