"""The report's schema is documented: every field of every model appears in docs/verify.md."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from lpm_guard.provenance.report import VerificationReport

DOC = Path(__file__).resolve().parents[2] / "docs" / "verify.md"


def _fields(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _fields(arg)
    return names


def test_every_report_field_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(
        n for n in _fields(VerificationReport) if f"`{n}`" not in text and f".{n}`" not in text
    )
    assert missing == []


def test_the_schema_is_stable_json() -> None:
    schema = VerificationReport.model_json_schema()
    assert schema["properties"]["schema_version"]["const"] == 2
    assert set(schema["required"]) >= {"verdict", "file", "c2pa", "watermark"}
