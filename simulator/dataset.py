"""Writing a dataset's Parquet files.

Every file is written once, in row groups; its sha256, row count and content digest go to the
manifest (:mod:`snoopbench.contract.manifest`, which also reads and verifies datasets).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.contract.digest import ContentDigest, FileEntry, content_digest, file_sha256
from snoopbench.contract.schema import Table, conform

ROW_GROUP = 262_144


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
