"""Check that an environment holds exactly the releases a constraints file pins.

`make test-oldest` runs it after installing: a pin that pip could not honour, or that names a
package the project no longer uses, fails here instead of passing silently. It also checks that
each pin is the lower bound pyproject.toml declares, so the two files cannot drift apart.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

BUILD_ONLY = {"setuptools"}  # pinned for the isolated build environment, not installed here


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, ver = line.partition("==")
            out[name.strip().lower()] = ver.strip()
    return out


def lower_bounds(pyproject: Path) -> dict[str, str]:
    data = tomllib.loads(pyproject.read_text())
    reqs = list(data["project"]["dependencies"]) + list(data["build-system"]["requires"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs += extra
    out = {}
    for req in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([^,<\s]+)\s*,\s*<\s*[^,\s]+", req.strip())
        if not m:
            raise SystemExit(f"pyproject.toml: {req!r}: expected NAME>=LOW,<HIGH")
        out[m.group(1).lower()] = m.group(2)
    return out


def release(ver: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", ver))


def main(constraints: str) -> int:
    path = Path(constraints)
    pinned = pins(path)
    declared = lower_bounds(path.parent.parent / "pyproject.toml")
    problems = []
    for name, low in declared.items():
        pin = pinned.get(name)
        if pin is None:
            problems.append(f"{name}: declared >={low} but not pinned in {path}")
        elif release(pin)[:len(release(low))] != release(low):
            problems.append(f"{name}: pinned {pin}, but pyproject.toml's lower bound is {low}")
    for name, pin in pinned.items():
        if name not in declared:
            problems.append(f"{name}: pinned in {path} but not a dependency in pyproject.toml")
        elif name not in BUILD_ONLY:
            try:
                got = version(name)
            except PackageNotFoundError:
                problems.append(f"{name}: pinned {pin} but not installed")
                continue
            if release(got) != release(pin):
                problems.append(f"{name}: pinned {pin} but {got} is installed")
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
