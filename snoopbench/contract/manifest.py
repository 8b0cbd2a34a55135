"""The dataset manifest (``manifest.json``) and the sealed truth's own manifest: written, read and
verified here, with one strictness for every reader.

``manifest.json`` (format ``snoopbench/dataset/v1``) holds exactly these keys:

=================  ==============================================================================
key                what
=================  ==============================================================================
format             ``snoopbench/dataset/v1``
scenario           the scenario's name
seed               the seed (int), or ``"sealed"``: the seed is kept only with the truth
version            the snoopbench version that wrote the dataset
made_with          versions of Python and the libraries whose behaviour decides the data
fingerprint        sha256 over every data file's path, rows and content digest (truth included)
truth_sealed       true if the truth was written to a folder of its own (``--sealed``)
info               :class:`~snoopbench.contract.info.DatasetInfo`: zone, start, days, warm-up, staff
events             number of event rows
scenario_sha256    sha256 of ``scenario.toml``, which holds the resolved scenario
files              ``{path: {sha256, rows, content}}`` for events and context files
truth_files        the same for ``truth/*.parquet`` (in the dataset, or in the sealed folder)
=================  ==============================================================================

A sealed truth folder holds ``truth.json`` (format ``snoopbench/truth/v1``): the dataset's
fingerprint, the scenario name, the secret seed and the truth files' hashes.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping

from snoopbench.contract.digest import FileEntry, file_content_digest, file_sha256, fingerprint
from snoopbench.contract.errors import DatasetError, IntegrityError
from snoopbench.contract.info import DatasetInfo
from snoopbench.contract.schema import DATASET_FORMAT

TRUTH_FORMAT = "snoopbench/truth/v1"
MANIFEST = "manifest.json"
TRUTH_MANIFEST = "truth.json"
#: In the truth folder, outside the manifest and the fingerprint: the run's warnings about misuse
#: it was asked for and did not make (``{"warnings": [...]}``), a note of the run, not data.
MISUSE_NOTES = "misuse_notes.json"
SEALED = "sealed"
#: The libraries whose versions decide the bytes of a dataset, recorded in every manifest.
VERSIONED = ("numpy", "pyarrow", "faker", "simpy", "snoopbench")

_DATA_PATH = re.compile(r"(events/part-\d{5}|context/[a-z][a-z0-9_]*)\.parquet")
_TRUTH_PATH = re.compile(r"truth/[a-z][a-z0-9_]*\.parquet")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def made_with() -> dict[str, str]:
    """The running versions of Python and of the libraries that decide a dataset's contents."""
    found = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def _entries(entries: list[FileEntry]) -> dict[str, dict[str, Any]]:
    return {e.path: {"sha256": e.sha256, "rows": e.rows, "content": e.content}
            for e in sorted(entries, key=lambda e: e.path)}


def write_manifest(root: Path, *, scenario: str, seed: int | None, version: str, info: DatasetInfo,
                   files: list[FileEntry], truth: list[FileEntry], events: int,
                   truth_dir: Path | None = None) -> dict:
    """Write ``manifest.json`` (and, if the truth is sealed in ``truth_dir``, its ``truth.json``
    holding the seed). ``seed`` is written into the dataset only when the truth is not sealed."""
    scenario_file = root / "scenario.toml"
    manifest = {
        "format": DATASET_FORMAT,
        "scenario": scenario,
        "seed": SEALED if truth_dir is not None else seed,
        "version": version,
        "made_with": made_with(),
        "fingerprint": fingerprint(files + truth),
        "truth_sealed": truth_dir is not None,
        "info": info.to_dict(),
        "events": events,
        "scenario_sha256": file_sha256(scenario_file),
        "files": _entries(files),
        "truth_files": _entries(truth),
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if truth_dir is not None:
        kept = {"format": TRUTH_FORMAT, "scenario": scenario, "seed": seed,
                "fingerprint": manifest["fingerprint"], "files": _entries(truth)}
        (truth_dir / TRUTH_MANIFEST).write_text(json.dumps(kept, indent=2) + "\n")
    return manifest


# -- reading, with one strictness -----------------------------------------------------------------

def _want(cond: bool, what: str, file: Path, key: str) -> None:
    if not cond:
        raise DatasetError(f"expected {what}", file=str(file), key=key)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_entries(value: Any, pattern: re.Pattern, file: Path, key: str) -> None:
    _want(isinstance(value, dict), "a table of files", file, key)
    for path, meta in value.items():
        _want(bool(pattern.fullmatch(path)), f"a path like {pattern.pattern!r} inside the dataset, "
              f"found {path!r}", file, f"{key}.{path}")
        _want(isinstance(meta, dict) and set(meta) == {"sha256", "rows", "content"},
              "exactly the keys sha256, rows, content", file, f"{key}.{path}")
        _want(isinstance(meta["sha256"], str) and bool(_HEX64.fullmatch(meta["sha256"])),
              "a sha256 of 64 hex digits", file, f"{key}.{path}.sha256")
        _want(isinstance(meta["content"], str) and bool(_HEX64.fullmatch(meta["content"])),
              "a content digest of 64 hex digits", file, f"{key}.{path}.content")
        _want(_is_int(meta["rows"]) and meta["rows"] >= 0, "a row count >= 0", file, f"{key}.{path}.rows")


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path.name} not found; expected {what}", file=str(path.parent)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"not readable JSON ({exc})", file=str(path)) from None


@dataclass(frozen=True)
class Manifest:
    """A checked ``manifest.json``."""

    root: Path
    data: dict[str, Any]
    info: DatasetInfo

    @property
    def fingerprint(self) -> str:
        return self.data["fingerprint"]

    @property
    def sealed(self) -> bool:
        return self.data["truth_sealed"]

    @property
    def seed(self) -> int | None:
        return None if self.data["seed"] == SEALED else self.data["seed"]

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return self.data["files"]

    @property
    def truth_files(self) -> dict[str, dict[str, Any]]:
        return self.data["truth_files"]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


_KEYS = ("format", "scenario", "seed", "version", "made_with", "fingerprint", "truth_sealed", "info",
         "events", "scenario_sha256", "files", "truth_files")


def read_manifest(dataset: str | Path) -> Manifest:
    """Read and check ``DATASET/manifest.json``: every key present with its type, no unknown key,
    no path leaving the dataset. :class:`DatasetError` (exit 2) names the file and key."""
    root = Path(dataset)
    if not root.is_dir():
        raise DatasetError("no such dataset directory", file=str(root))
    path = root / MANIFEST
    m = _load_json(path, "a directory written by 'snoopbench simulate'")
    _want(isinstance(m, dict), "a JSON object", path, "(top level)")
    _want(m.get("format") == DATASET_FORMAT, f"format {DATASET_FORMAT!r}, found {m.get('format')!r}",
          path, "format")
    missing = [k for k in _KEYS if k not in m]
    unknown = sorted(set(m) - set(_KEYS))
    _want(not missing, f"every manifest key; missing {missing}", path, missing[0] if missing else "")
    _want(not unknown, f"only the manifest's keys; unknown {unknown}", path, unknown[0] if unknown else "")
    _want(isinstance(m["scenario"], str) and m["scenario"] != "", "a scenario name", path, "scenario")
    _want(isinstance(m["truth_sealed"], bool), "true or false", path, "truth_sealed")
    if m["truth_sealed"]:
        _want(m["seed"] == SEALED, f"seed {SEALED!r} in a sealed dataset", path, "seed")
    else:
        _want(_is_int(m["seed"]) and 0 <= m["seed"] < 2**63, "a seed from 0 to 2**63-1", path, "seed")
    _want(isinstance(m["version"], str), "a version string", path, "version")
    _want(isinstance(m["made_with"], dict) and all(isinstance(v, str) for v in m["made_with"].values()),
          "a table of library versions", path, "made_with")
    _want(isinstance(m["fingerprint"], str) and bool(_HEX64.fullmatch(m["fingerprint"])),
          "a fingerprint of 64 hex digits", path, "fingerprint")
    _want(isinstance(m["scenario_sha256"], str) and bool(_HEX64.fullmatch(m["scenario_sha256"])),
          "a sha256 of 64 hex digits", path, "scenario_sha256")
    _want(_is_int(m["events"]) and m["events"] >= 0, "an event count >= 0", path, "events")
    _check_entries(m["files"], _DATA_PATH, path, "files")
    _check_entries(m["truth_files"], _TRUTH_PATH, path, "truth_files")
    _want(any(p.startswith("events/") for p in m["files"]), "at least one events part", path, "files")
    _want(sum(v["rows"] for p, v in m["files"].items() if p.startswith("events/")) == m["events"],
          "the events count to equal the rows of the events parts", path, "events")
    info = DatasetInfo.from_dict(m["info"], file=str(path), key="info")
    _want(info.scenario == m["scenario"], "info.scenario to equal scenario", path, "info.scenario")
    return Manifest(root, m, info)


def read_truth_manifest(truth_dir: str | Path) -> dict[str, Any]:
    """Read and check a sealed truth folder's ``truth.json``."""
    path = Path(truth_dir) / TRUTH_MANIFEST
    m = _load_json(path, "a truth folder written by 'snoopbench simulate --sealed'")
    _want(isinstance(m, dict) and m.get("format") == TRUTH_FORMAT, f"format {TRUTH_FORMAT!r}", path, "format")
    keys = {"format", "scenario", "seed", "fingerprint", "files"}
    _want(set(m) == keys, f"exactly the keys {sorted(keys)}", path, "(top level)")
    _want(_is_int(m["seed"]) and 0 <= m["seed"] < 2**63, "a seed from 0 to 2**63-1", path, "seed")
    _check_entries(m["files"], _TRUTH_PATH, path, "files")
    return m


# -- verifying ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifyResult:
    dataset: str
    checked: int
    truth_checked: int
    fingerprint: str
    seed: int | None = None
    #: Versions that made the dataset and differ from the running ones: {library: (made, running)}.
    version_notes: dict[str, tuple[str, str]] = field(default_factory=dict)


def _check_file(path: Path, meta: Mapping[str, Any], rel: str) -> FileEntry:
    if not path.is_file():
        raise IntegrityError(f"{path}: missing")
    if file_sha256(path) != meta["sha256"]:
        raise IntegrityError(f"{path}: contents changed (sha256 does not match the manifest)")
    try:
        rows, content = file_content_digest(path)
    except Exception as exc:  # a file whose hash matches but cannot be read: report, don't trace
        raise IntegrityError(f"{path}: not readable Parquet ({exc})") from None
    if rows != meta["rows"] or content != meta["content"]:
        raise IntegrityError(f"{path}: rows or values differ from the manifest")
    return FileEntry(rel, meta["sha256"], rows, content)


def _unlisted(root: Path, folder: str, listed: set[str]) -> list[str]:
    d = root / folder
    if not d.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in d.iterdir()
                  if p.relative_to(root).as_posix() not in listed)


def verify(dataset: str | Path, truth_dir: str | Path | None = None, *,
           check_scenario: Callable[[Path, Manifest], None] | None = None,
           progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Check a dataset against its manifest, from contents up: every file's sha256, rows and
    content digest, nothing unlisted, ``scenario.toml`` unchanged and agreeing with the manifest's
    facts, and the fingerprint recomputed. With ``truth_dir`` (or an unsealed dataset's own
    ``truth/``) the truth files too, and a sealed truth's ``truth.json``.

    ``check_scenario`` (given by the CLI) may validate ``scenario.toml`` further. ``progress`` is
    called with each file's size in bytes as it is checked. :class:`IntegrityError` (exit 1) names
    the first file that does not match; :class:`DatasetError` (exit 2) a malformed manifest."""
    root = Path(dataset)
    m = read_manifest(root)
    entries: list[FileEntry] = []
    for rel, meta in m.files.items():
        entries.append(_check_file(root / rel, meta, rel))
        if progress:
            progress((root / rel).stat().st_size)
    extra = _unlisted(root, "events", set(m.files)) + _unlisted(root, "context", set(m.files))
    if extra:
        raise IntegrityError(f"{root}: files not listed in the manifest: {', '.join(extra)}")
    _check_scenario_file(root, m)
    if check_scenario is not None:
        check_scenario(root / "scenario.toml", m)

    if m.sealed and (root / "truth").exists():
        raise IntegrityError(f"{root / 'truth'}: a sealed dataset holds a truth folder")
    truth_root = Path(truth_dir) if truth_dir is not None else (None if m.sealed else root)
    truth_entries: list[FileEntry] = []
    seed = m.seed
    if truth_root is not None:
        if truth_dir is not None and m.sealed:
            kept = read_truth_manifest(truth_root)
            if kept["fingerprint"] != m.fingerprint or kept["files"] != m.truth_files:
                raise IntegrityError(f"{truth_root}: this truth belongs to another dataset "
                                     f"(fingerprint {kept['fingerprint'][:12]}…, the dataset's "
                                     f"{m.fingerprint[:12]}…)")
            seed = kept["seed"]
        for rel, meta in m.truth_files.items():
            where = truth_root / Path(rel).name if truth_dir is not None else truth_root / rel
            truth_entries.append(_check_file(where, meta, rel))
    else:  # sealed and no truth given: the manifest's record of the truth stands in for it
        truth_entries = [FileEntry(rel, meta["sha256"], meta["rows"], meta["content"])
                         for rel, meta in m.truth_files.items()]
    fp = fingerprint(entries + truth_entries)
    if fp != m.fingerprint:
        raise IntegrityError(f"{root / MANIFEST}: fingerprint {m.fingerprint[:12]}… does not match "
                             f"the contents ({fp[:12]}…)")
    running = made_with()
    notes = {k: (v, running.get(k, "absent")) for k, v in m["made_with"].items()
             if running.get(k, "absent") != v}
    return VerifyResult(str(root), len(entries), len(truth_entries) if truth_root else 0, fp, seed, notes)


def _check_scenario_file(root: Path, m: Manifest) -> None:
    path = root / "scenario.toml"
    if not path.is_file():
        raise IntegrityError(f"{path}: missing")
    if file_sha256(path) != m["scenario_sha256"]:
        raise IntegrityError(f"{path}: contents changed (sha256 does not match the manifest)")
    try:
        data = tomllib.loads(path.read_text())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise IntegrityError(f"{path}: not readable TOML ({exc})") from None
    info = m.info
    staff = data.get("force", {}).get("staff") if isinstance(data.get("force"), dict) else None
    start = data.get("start_date")
    found = {"name": data.get("name"), "timezone": data.get("timezone"),
             "start_date": start.isoformat() if hasattr(start, "isoformat") else start,
             "duration_days": data.get("duration_days"), "warmup_days": data.get("warmup_days"),
             "force.staff": staff, "seed": data.get("seed")}
    wanted = {"name": info.scenario, "timezone": info.timezone, "start_date": info.start_date.isoformat(),
              "duration_days": info.days, "warmup_days": info.warmup_days, "force.staff": info.staff,
              "seed": m["seed"]}
    for key, want in wanted.items():
        if found[key] != want:
            raise IntegrityError(f"{path}: {key} is {found[key]!r}, the manifest says {want!r}")
