"""Content digests and the dataset fingerprint.

A file's *content* digest covers its column values, not its Parquet bytes, so the same rows give
the same digest whatever the writer's version, encodings or row groups. The ``fingerprint`` of a
dataset is a sha256 over its files' paths, row counts and content digests: the same scenario and
seed give the same fingerprint on any machine and with any number of workers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


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

    def update(self, table: pa.Table | pa.RecordBatch) -> None:
        for name, col in zip(table.column_names, table.columns):
            typ, hashes = self.columns.setdefault(name, (type_name(col.type), [hashlib.sha256() for _ in range(3)]))
            at = self.rows
            for chunk in getattr(col, "chunks", (col,)):
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


def type_name(t: pa.DataType) -> str:
    """A column type's name without the parts a Parquet round trip or a pyarrow release may rename
    (a list's item field is ``item`` in memory and ``element`` once read back from Parquet)."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list<{type_name(t.value_type)}>"
    if pa.types.is_dictionary(t):
        return type_name(t.value_type)
    if pa.types.is_large_string(t):
        return "string"
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


def file_content_digest(path: Path, batch_rows: int = 1 << 17) -> tuple[int, str]:
    """Rows and content digest of a Parquet file, read batch by batch (bounded memory)."""
    d = ContentDigest()
    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=batch_rows):
            d.update(batch)
        if d.rows == 0:  # an empty file still digests its columns and types
            d.update(pf.schema_arrow.empty_table())
    return d.rows, d.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(entries: list[FileEntry]) -> str:
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e.path):
        h.update(f"{e.path}\0{e.rows}\0{e.content}\n".encode())
    return h.hexdigest()
