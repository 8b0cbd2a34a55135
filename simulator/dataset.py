"""Writing, hashing and verifying dataset directories.

Every file is written once, in row groups, with its sha256 and row count recorded in
``manifest.json``. The ``fingerprint`` is a sha256 over the *contents* of the data files (column
values, not Parquet bytes), so it is the same on any machine, with any number of workers.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version as dist_version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.contract.errors import DatasetError, IntegrityError
from snoopbench.contract.schema import DATASET_FORMAT, Table, conform

ROW_GROUP = 262_144


@dataclass(frozen=True)
class FileEntry:
    path: str          # relative to the dataset (or truth) root, e.g. "events/part-00000.parquet"
    sha256: str
    rows: int
    content: str       # digest of the values, for the fingerprint


class ContentDigest:
    """A digest of a table's values that does not depend on how the rows are chunked or streamed.

    Each column keeps separate hashes of its validity, value lengths and value bytes, fed chunk by
    chunk, so a table written in parts digests the same as the whole table written at once.
    """

    def __init__(self) -> None:
        self.rows = 0
        self.columns: dict[str, tuple[str, list]] = {}

    def update(self, table: pa.Table) -> None:
        for name, col in zip(table.column_names, table.columns):
            typ, hashes = self.columns.setdefault(name, (_type_name(col.type), [hashlib.sha256() for _ in range(3)]))
            at = self.rows
            for chunk in col.chunks:
                _feed(hashes, chunk, at)
                at += len(chunk)
        self.rows += table.num_rows

    def hexdigest(self) -> str:
        h = hashlib.sha256(str(self.rows).encode())
        for name, (typ, hashes) in self.columns.items():
            h.update(f"{name}\0{typ}\0".encode())
            for part in hashes:
                h.update(part.digest())
        return h.hexdigest()


def _type_name(t: pa.DataType) -> str:
    """The type as the digest names it: a list's item field name left out, since Parquet renames it
    on the way back ("item" written, "element" read), and the digest must survive a round trip."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list<{_type_name(t.value_type)}>"
    return str(t)


def _feed(hashes: list, arr: pa.Array, at: int) -> None:
    """Feed one chunk whose first row is row ``at`` of its column: the positions of its nulls,
    its values' lengths (strings) and its values."""
    validity, lengths, values = hashes
    if arr.null_count:
        validity.update((np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False)) + at).tobytes())
    t = arr.type
    small = pa.types.is_string(t) or pa.types.is_binary(t)
    if small or pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        # Value lengths as int32 whatever the offset width, so string and large_string agree.
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32 if small else np.int64)[
            arr.offset: arr.offset + len(arr) + 1]
        data = arr.buffers()[2]
        lengths.update(np.diff(offsets).astype(np.int32).tobytes())
        if data is not None:
            values.update(memoryview(data)[offsets[0]: offsets[-1]])
    elif pa.types.is_nested(t) or pa.types.is_dictionary(t):
        values.update("".join(json.dumps(x, default=str) + "\n" for x in arr.to_pylist()).encode())
    else:
        if arr.null_count:
            arr = arr.fill_null(_zero(t))
        values.update(np.ascontiguousarray(arr.to_numpy(zero_copy_only=False)).tobytes())


def _zero(t: pa.DataType) -> pa.Scalar:
    if pa.types.is_boolean(t):
        return pa.scalar(False)
    width = pa.int32() if pa.types.is_date32(t) or t.bit_width == 32 else pa.int64()
    return pa.scalar(0, width).cast(t)


def content_digest(table: pa.Table) -> str:
    d = ContentDigest()
    d.update(table)
    return d.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def writer_options(decl: Table | None) -> dict:
    """Parquet encodings of a table. Event parts, the bulk of a dataset: dictionaries only for the
    columns whose values repeat (strings, users, workstations), delta encoding for the event id and
    time that rise row by row (smaller files, written faster). Other tables: pyarrow's defaults."""
    if decl is None or decl.folder != "events":
        return {}
    names = decl.schema.names
    rising = [c for c in ("event_id", "ts") if c in names]
    return {"use_dictionary": [f.name for f in decl.schema if f.name not in rising and
                               (pa.types.is_string(f.type) or f.type == pa.int32())],
            "column_encoding": {c: "DELTA_BINARY_PACKED" for c in rising}}


def write_table(root: Path, rel: str, table: pa.Table, decl: Table | None = None) -> FileEntry:
    """Write one Parquet file (zstd, row groups) and describe it for the manifest."""
    if decl is not None:
        table = conform(decl, table)
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP, **writer_options(decl))
    return FileEntry(rel, file_sha256(path), table.num_rows, content_digest(table))


def write_parts(root: Path, rel: str, parts, decl: Table) -> FileEntry:
    """Write one Parquet file from a stream of tables (one at a time in memory)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = ContentDigest()
    with pq.ParquetWriter(path, decl.schema, compression="zstd") as writer:
        for part in parts:
            part = conform(decl, part)
            writer.write_table(part, row_group_size=ROW_GROUP)
            digest.update(part)
    return FileEntry(rel, file_sha256(path), digest.rows, digest.hexdigest())


def fingerprint(entries: list[FileEntry]) -> str:
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e.path):
        h.update(f"{e.path}\0{e.rows}\0{e.content}\n".encode())
    return h.hexdigest()


MADE_WITH = ("python", "numpy", "pyarrow", "faker", "simpy", "snoopbench")


def made_with() -> dict[str, str]:
    """The versions of Python and of the packages that shape a dataset's contents. The manifest
    records them under ``made_with``, outside the fingerprint: the same scenario and seed are meant
    to give the same data with any of them, and this says where to look if they ever do not."""
    out = {"python": platform.python_version()}
    for name in MADE_WITH[1:]:
        try:
            out[name] = dist_version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def version_differences(manifest: dict) -> dict[str, tuple[str, str]]:
    """What the manifest's ``made_with`` records that differs from the running versions:
    ``{name: (recorded, running)}``. Empty for a manifest that records none."""
    recorded = manifest.get("made_with")
    if not isinstance(recorded, dict):
        return {}
    running = made_with()
    return {k: (str(recorded[k]), running.get(k, "absent")) for k in recorded
            if str(recorded[k]) != running.get(k, "absent")}


def write_manifest(root: Path, *, scenario: str, seed: int, version: str, files: list[FileEntry],
                   truth: list[FileEntry], sealed: bool, extra: dict) -> dict:
    manifest = {
        "format": DATASET_FORMAT,
        "scenario": scenario,
        "seed": seed,
        "version": version,
        "made_with": made_with(),
        "fingerprint": fingerprint(files + truth),
        "truth_sealed": sealed,
        "files": {e.path: {"sha256": e.sha256, "rows": e.rows} for e in sorted(files, key=lambda e: e.path)},
        "truth_files": {e.path: {"sha256": e.sha256, "rows": e.rows} for e in truth},
        **extra,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(dataset: str | Path) -> dict:
    path = Path(dataset) / "manifest.json"
    if not Path(dataset).is_dir():
        raise DatasetError("not a dataset directory", file=str(dataset))
    if not path.is_file():
        raise DatasetError("manifest.json not found; expected a directory written by 'snoopbench simulate'",
                           file=str(dataset))
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"not valid JSON ({exc})", file=str(path)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != DATASET_FORMAT:
        raise DatasetError(f"expected format {DATASET_FORMAT!r}", file=str(path), key="format")
    return manifest


@dataclass(frozen=True)
class VerifyResult:
    dataset: str
    checked: int
    truth_checked: int
    fingerprint: str
    # name -> (version recorded in the manifest, version running now), for those that differ
    version_differences: dict[str, tuple[str, str]] = field(default_factory=dict)
    versions_recorded: bool = True


def verify(dataset: str | Path, truth_dir: str | Path | None = None) -> VerifyResult:
    """Re-hash every file listed in the manifest; raise :class:`IntegrityError` naming the first bad one."""
    root = Path(dataset)
    manifest = read_manifest(root)
    checked = 0
    for rel, meta in manifest["files"].items():
        _check(root / rel, meta)
        checked += 1
    listed = set(manifest["files"]) | {"manifest.json", "scenario.toml"}
    for f in sorted(p for p in (root / "events").glob("*.parquet")):
        rel = f.relative_to(root).as_posix()
        if rel not in listed:
            raise IntegrityError(f"{f}: not listed in the manifest")
    truth_root = Path(truth_dir) if truth_dir else (None if manifest.get("truth_sealed") else root)
    truth_checked = 0
    if truth_root is not None:
        for rel, meta in manifest.get("truth_files", {}).items():
            _check(truth_root / Path(rel).name if truth_dir else truth_root / rel, meta)
            truth_checked += 1
    return VerifyResult(str(root), checked, truth_checked, manifest["fingerprint"],
                        version_differences(manifest), isinstance(manifest.get("made_with"), dict))


def _check(path: Path, meta: dict) -> None:
    if not path.is_file():
        raise IntegrityError(f"{path}: missing")
    if file_sha256(path) != meta["sha256"]:
        raise IntegrityError(f"{path}: contents changed (sha256 does not match the manifest)")
