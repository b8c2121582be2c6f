"""The README's two set-up commands are the ones the Makefile defines, and CI runs the second."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", readme, re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip().startswith("make ")
    ]


def _make_targets() -> dict[str, str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"^([a-z-]+):([^\n=]*)$", makefile, re.M)}


def test_readme_names_exactly_the_two_setup_commands() -> None:
    assert _readme_commands() == ["make run", "make test"]


def test_the_makefile_defines_them() -> None:
    targets = _make_targets()
    assert "run" in targets and "test" in targets
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    run_recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "lpm-guard serve" in run_recipe and "db upgrade" in run_recipe
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "pytest" in test_recipe
    assert "system-deps" in targets["test"] and "install-dev" in targets["test"]
    install = makefile.split("\ninstall:", 1)[1].split("\n\n", 1)[0]
    assert install.index("torch==2.13.0") < install.index("-e .")


def test_ci_runs_make_test_and_nothing_else() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))
    ]
    assert commands == ["exec make test"]
