"""``lpm-guard demo``: the sandbox (``lpm_guard.demo.services``), and what to open next."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import typer

from ..demo.services import CHARACTER, Demo, run_demo
from .common import operator, runtime


def demo(
    out: Path | None = typer.Option(
        None, help="Where the signed clip goes (default: LPM_DATA_DIR/demo/pip.mp4)."
    ),
) -> None:
    """A sandbox on this data directory (fresh or served): two sandbox accounts, Pip (a drawn
    character, approved by the sandbox operator), a short signed clip of Pip, verified. Never
    a real person. Prints what to open next and the sandbox accounts' one-time passwords."""
    with runtime() as rt:
        clip = out or rt.settings.data_dir / "demo" / "pip.mp4"
        result = run_demo(rt, operator(), clip, lambda line: typer.echo(line, err=True))
        url = rt.settings.resolved_public_url
    _next(result, url)


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


def _next(result: Demo, url: str) -> None:
    report = result.report
    mark = report.watermark
    audit = report.audit
    typer.echo("")
    typer.echo(f"clip:      {result.clip}")
    typer.echo(
        f"verified:  {report.verdict} (C2PA {report.c2pa.status}, watermark {mark.status}"
        f"{f', audit entry {audit.index} {audit.status}' if audit is not None else ''})"
    )
    typer.echo(f"           again: lpm-guard verify {result.clip}")
    typer.echo("")
    typer.echo(
        "sandbox accounts (one-time passwords, shown only now; the first sign-in sets a new one):"
    )
    for account in (result.operator, result.researcher):
        typer.echo(f"  {account.role.value:<10} {account.email}  {account.password}")
    typer.echo("")
    typer.echo("open next:")
    typer.echo(
        f"  {url}/verify.html      drop the clip: its credentials, watermark and audit entry"
    )
    typer.echo(
        f"  {url}/review.html      the review console, as the operator ({CHARACTER} is approved)"
    )
    typer.echo(f"  {url}/dashboard.html   the researcher's dashboard: the job and its player")
    typer.echo(f"  {url}/live.html        a live session with {CHARACTER}, as the researcher")
    if not _serving(url):
        typer.echo(f"  (nothing answers at {url} yet: start it with `lpm-guard serve`)")
