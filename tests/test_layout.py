"""The layout DESIGN.md fixes: stage packages are libraries that import neither the gate nor
each other, and every module imports from an editable install and from a built wheel."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("generator", "policy", "audit")


def _imports(path: Path, stage: str) -> set[str]:
    depth = len(path.relative_to(ROOT / stage).parts) - 1  # subpackages below the stage root
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add(node.module or "")
            elif node.level - 1 > depth:
                names.add(f"{'.' * node.level}{node.module or ''} (outside lpm_guard.{stage})")
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_stage_packages_import_neither_the_gate_nor_each_other(stage: str) -> None:
    for path in (ROOT / stage).rglob("*.py"):
        for name in _imports(path, stage):
            if name.startswith(("lpm_guard", ".")):
                assert name.startswith(f"lpm_guard.{stage}"), f"{path} imports {name}"


# What the platform's parts may not import (lower parts never import higher ones): the API and
# the CLI sit on top; the domains' routes guard themselves with access.guards, not the API's;
# the gate serves offline jobs and live sessions alike and imports neither; the runtime (keys,
# audit log, revocation bus) imports no domain.
FORBIDDEN = {
    "access": ("api", "cli", "gate", "jobs", "live"),
    "auditing": ("api", "cli", "gate", "jobs", "live"),
    "consent": ("api", "cli", "gate", "jobs", "live"),
    "provenance": ("api", "cli", "gate", "jobs", "live"),
    "gate": ("api", "cli", "jobs", "live"),
    "jobs": ("api", "cli", "live"),
    "live": ("api", "cli", "jobs"),
    "runtime": ("api", "cli", "access", "consent", "provenance", "gate", "jobs", "live"),
    "leases": ("api", "cli", "gate", "jobs", "live"),
    "revocations": ("api", "cli", "access", "consent", "gate", "jobs", "live"),
}


def _gate_imports(path: Path) -> set[str]:
    """The ``lpm_guard`` parts (first name below the package) that ``path`` imports."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]  # ("lpm_guard", "live")
    parts: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            else:
                base = package[: len(package) - node.level + 1]
                module = ".".join((*base, node.module or ""))
                names = [module] if node.module else [f"{module}{a.name}" for a in node.names]
        for name in names:
            bits = name.strip(".").split(".")
            if bits[0] == "lpm_guard" and len(bits) > 1:
                parts.add(bits[1])
    return parts


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_the_platform_s_parts_import_only_downwards(part: str) -> None:
    folder = ROOT / "lpm_guard" / part
    paths = sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
    assert paths and all(path.is_file() for path in paths)
    for path in paths:
        wrong = _gate_imports(path) & set(FORBIDDEN[part])
        assert not wrong, f"{path.relative_to(ROOT)} imports lpm_guard.{sorted(wrong)}"


def _module_names() -> list[str]:
    """Every module of the source tree, through pyproject's package-dir mapping."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = pyproject["tool"]["setuptools"]["package-dir"]
    names = set()
    for package, folder in mapping.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if "versions" in parts or parts[-1] in ("__main__", "env"):
                continue  # migration scripts run inside Alembic, not on import
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.add(".".join((package, *parts)))
    return sorted(names)


def test_every_module_imports_from_the_editable_install() -> None:
    names = _module_names()
    assert {
        "lpm_guard.audit.storage",
        "lpm_guard.generator",
        "lpm_guard.policy",
        "lpm_guard.keys.store",
        "lpm_guard.web",
    } <= set(names)
    code = "import importlib, sys\nfor n in sys.argv[1:]: importlib.import_module(n)"
    subprocess.run([sys.executable, "-c", code, *names], check=True)


def test_a_built_wheel_holds_and_imports_every_module(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a clean copy: no stale build/ output can slip into the wheel
    skip = shutil.ignore_patterns(".venv", ".git", "build", "data", "*.egg-info", "*_cache")
    shutil.copytree(ROOT, source, ignore=skip)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*pip, "-w", str(tmp_path), str(source)], check=True)
    wheel = next(tmp_path.glob("lpm_guard-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    for required in (
        "lpm_guard/audit/merkle.py",
        "lpm_guard/generator/__init__.py",
        "lpm_guard/policy/__init__.py",
        "lpm_guard/web/index.html",
        "lpm_guard/migrations/env.py",
        "lpm_guard/migrations/versions/0001_audit_log.py",
        "lpm_guard/py.typed",
    ):
        assert required in files
    code = (
        "import importlib, pkgutil, sys, lpm_guard\n"
        "assert lpm_guard.__file__.startswith(sys.argv[1]), lpm_guard.__file__\n"
        "for m in pkgutil.walk_packages(lpm_guard.__path__, 'lpm_guard.'):\n"
        "    if not m.name.endswith('__main__') and '.migrations.' not in m.name:\n"
        "        importlib.import_module(m.name)\n"
        "from lpm_guard.database import head_revision\n"
        "assert head_revision() == '0013'\n"
    )
    site = str(tmp_path / "site")
    subprocess.run(
        [sys.executable, "-c", code, site],
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": site, "PATH": "/usr/bin:/bin"},
    )


def _gate_imports(path: Path) -> set[str]:
    """The absolute module names ``path`` (under lpm_guard/) imports."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = [*base, *([node.module] if node.module else [])]
            names.add(".".join(module))
            names.update(".".join([*module, alias.name]) for alias in node.names)
    return names


def test_consent_checks_faces_without_the_generator() -> None:
    for path in (ROOT / "lpm_guard" / "consent").rglob("*.py"):
        generator = [n for n in _gate_imports(path) if n.startswith("lpm_guard.generator")]
        assert not generator, f"{path} imports {generator}"


def test_the_gate_reaches_the_cpu_generator_only_through_its_performer_backend() -> None:
    """Live sessions and offline jobs use the Performer protocol; only the CPU generator's
    backend (lpm_guard/performers/local.py) names the generator."""
    allowed = {
        ROOT / "lpm_guard" / "performers" / "local.py",
        # draws the sandbox's character from the generator's mean face; renders nothing
        ROOT / "lpm_guard" / "demo" / "make_assets.py",
    }
    for path in (ROOT / "lpm_guard").rglob("*.py"):
        if path.relative_to(ROOT / "lpm_guard").parts[0] in (*STAGES, "web") or path in allowed:
            continue
        generator = [n for n in _gate_imports(path) if n.startswith("lpm_guard.generator")]
        assert not generator, f"{path} imports {generator}"
