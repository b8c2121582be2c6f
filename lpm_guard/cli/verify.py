"""``lpm-guard verify FILE [--json]``: where a clip came from (C2PA, watermark, audit log)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..provenance.report import ChainReport, VerificationReport
from ..provenance.services import ProvenanceService
from .common import emit_json, fail, runtime

# Exit status: 0 authentic or traced, 1 an error (bad input), 2 tampered or broken, 3 unknown.
EXIT = {"authentic": 0, "traced": 0, "tampered": 2, "unknown": 3}


def verify(
    files: list[Path] = typer.Argument(..., help="The video file (or, with --segments, files)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    segments: bool = typer.Option(
        False, "--segments", help="The files are live segments, in order: check their chain."
    ),
) -> None:
    """Verify a clip: C2PA manifest, watermark, and its audit entry's inclusion proof.

    Exit status: 0 authentic or traced, 1 error, 2 tampered or broken, 3 nothing found.
    """
    for path in files:
        if not path.is_file():
            raise fail(f"{path}: no such file")
    if not segments and len(files) != 1:
        raise fail("give one file (or several with --segments)")
    with runtime(initialise=False) as rt:
        service = ProvenanceService.from_runtime(rt)
        if segments:
            chain = service.verify_segments(files)
        else:
            report = service.verify_file(files[0])
    if segments:
        _show_chain(chain, as_json)
        raise typer.Exit(0 if chain.status == "intact" else 2)
    if as_json:
        emit_json(report.model_dump(mode="json"))
    else:
        _show(report)
    raise typer.Exit(EXIT[report.verdict])


def _show_chain(chain: ChainReport, as_json: bool) -> None:
    if as_json:
        emit_json(chain.model_dump(mode="json"))
        return
    typer.echo(
        f"chain: {chain.status.upper()} ({chain.segments} segments, stream {chain.stream_id})"
    )
    for problem in chain.problems:
        typer.echo(f"  - {problem}")


def _show(report: VerificationReport) -> None:
    c2pa, mark, audit = report.c2pa, report.watermark, report.audit
    typer.echo(f"verdict:   {report.verdict.upper()}")
    line = f"c2pa:      {c2pa.status}"
    if c2pa.manifest_id:
        line += f" ({c2pa.manifest_id}, signed by {c2pa.signer})"
    typer.echo(line)
    if c2pa.codes.failure:
        typer.echo(f"           failures: {', '.join(c2pa.codes.failure)}")
    if c2pa.time_stamp is not None:
        trusted = "trusted" if c2pa.time_stamp.trusted else "NOT trusted"
        typer.echo(f"           time-stamped {c2pa.time_stamp.signed_at} ({trusted} authority)")
    for problem in c2pa.problems:
        typer.echo(f"           - {problem}")
    if c2pa.chain is not None:
        typer.echo(f"segments:  {c2pa.chain.status} ({c2pa.chain.segments})")
        for problem in c2pa.chain.problems:
            typer.echo(f"           - {problem}")
    line = f"watermark: {mark.status}"
    if mark.reference is not None:
        how = f"traced among {mark.candidates} issued" if mark.method == "traced" else "decoded"
        line += f" (reference {mark.reference}, {how}, confidence {mark.confidence:.1f}, "
        line += f"{mark.frames_used} frames)"
    typer.echo(line)
    if audit is not None:
        typer.echo(f"audit:     entry {audit.index} {audit.status} (from the {audit.source})")
        if audit.entry is not None:
            typer.echo(
                f"           {audit.entry.action} {audit.entry.outcome} at {audit.entry.timestamp}"
            )
        if audit.checkpoint is not None:
            typer.echo(
                f"           checkpoint: {audit.checkpoint.tree_size} entries, "
                f"root {audit.checkpoint.root_hash}"
            )
        for problem in audit.problems:
            typer.echo(f"           - {problem}")
    for note in report.notes:
        typer.echo(f"note:      {note}")
