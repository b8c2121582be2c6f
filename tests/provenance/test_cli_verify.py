"""``lpm-guard verify FILE [--json]`` against a real data directory."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lpm_guard.cli import app
from lpm_guard.provenance.models import ProvenanceRecord
from lpm_guard.provenance.report import VerificationReport
from lpm_guard.provenance.services import ProvenanceService
from lpm_guard.runtime import Runtime


def run(runtime: Runtime, *args: str) -> tuple[int, str]:
    env = {"LPM_DATA_DIR": str(runtime.settings.data_dir), "LPM_LOG_LEVEL": "WARNING"}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_verify_json_prints_the_report(runtime: Runtime, signed: Path) -> None:
    code, output = run(runtime, "verify", str(signed), "--json")
    assert code == 0, output
    report = VerificationReport.model_validate(json.loads(output))
    assert report.verdict == "authentic"
    assert report.audit is not None and report.audit.status == "included"


def test_verify_prints_a_readable_summary(runtime: Runtime, signed: Path) -> None:
    code, output = run(runtime, "verify", str(signed))
    assert code == 0, output
    assert "verdict:   AUTHENTIC" in output
    assert "c2pa:      trusted" in output
    assert "included (from the c2pa)" in output


def test_verify_exits_2_on_a_tampered_file(runtime: Runtime, signed: Path) -> None:
    data = bytearray(signed.read_bytes())
    data[data.find(b"mdat") + 64] ^= 0x01
    signed.write_bytes(bytes(data))
    code, output = run(runtime, "verify", str(signed), "--json")
    assert code == 2
    assert json.loads(output)["verdict"] == "tampered"


def test_verify_refuses_a_non_video_with_a_message(runtime: Runtime, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 50)
    code, output = run(runtime, "verify", str(text))
    assert code == 1
    assert "error: not a video" in output
    code, output = run(runtime, "verify", str(tmp_path / "missing.mp4"))
    assert code == 1 and "no such file" in output


def test_verify_segments_checks_the_chain(
    runtime: Runtime, service: ProvenanceService, record: ProvenanceRecord, tmp_path: Path
) -> None:
    from .test_segments import record_stream

    _, events, _ = record_stream(service, record, tmp_path / "live", frames=30, audio=False)
    paths = [str(e.path) for e in events]
    code, output = run(runtime, "verify", "--segments", *paths)
    assert code == 0, output
    assert "chain: INTACT (3 segments, stream live_a)" in output
    code, output = run(runtime, "verify", "--segments", "--json", paths[0], paths[2])
    assert code == 2
    assert json.loads(output)["status"] == "broken"
    code, output = run(runtime, "verify", paths[0], paths[1])
    assert code == 1 and "--segments" in output
