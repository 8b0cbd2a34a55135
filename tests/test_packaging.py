"""What ships in the wheel imports only what ships: the standard library, the declared
dependencies (and extras), and snoopbench itself; never the repository's tests."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: Import names of distributions whose import name differs from the distribution's.
IMPORT_NAMES = {"scikit-learn": "sklearn", "tomli-w": "tomli_w", "pytest-benchmark": "pytest_benchmark",
                "faker": "faker", "distributed": "distributed"}


def _allowed() -> set[str]:
    deps = list(PYPROJECT["project"]["dependencies"])
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        deps += extra
    names = {re.split(r"[<>=!\[; ]", d, maxsplit=1)[0].strip().lower() for d in deps}
    return {IMPORT_NAMES.get(n, n.replace("-", "_")) for n in names} | {"snoopbench"}


def _shipped_modules() -> list[Path]:
    folders = PYPROJECT["tool"]["setuptools"]["package-dir"].values()
    return sorted(p for f in folders for p in (ROOT / f).glob("*.py")) + \
        sorted(p for f in folders for p in (ROOT / f).glob("*/*.py") if (p.parent / "__init__.py").exists())


def test_shipped_modules_import_only_what_ships() -> None:
    allowed, stdlib = _allowed(), set(sys.stdlib_module_names)
    bad = []
    for path in _shipped_modules():
        tree = ast.parse(path.read_text(), str(path))
        optional = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try)
                    and any("ImportError" in ast.dump(h.type or ast.Name("")) for h in t.handlers)
                    for n in ast.walk(t)}  # `try: import x except ImportError:` is an optional extra
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and top not in allowed:
                    bad.append(f"{path.relative_to(ROOT)}: import {name}")
    assert not bad, "\n".join(bad)


def test_every_shipped_folder_is_a_package_of_snoopbench() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    for name, folder in mapping.items():
        assert name == "snoopbench" or name.startswith("snoopbench."), name
        for sub in (ROOT / folder).iterdir():
            if sub.is_dir() and (sub / "__init__.py").exists():
                assert f"{name}.{sub.name}" in listed, f"{sub} is not listed in pyproject's packages"
