"""Python plug-ins that cheat (see cheat.py for the outside programs)."""

from __future__ import annotations

import gc
import inspect
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snoopbench.detectors import Detector

TRUTH = ("labels.parquet", "episodes.parquet")


def _paths(value, seen: set[int], out: set[str], depth: int = 0) -> None:
    """Every string that looks like a path, in ``value`` and what it holds."""
    if id(value) in seen or depth > 4:
        return
    seen.add(id(value))
    if isinstance(value, (str, os.PathLike)):
        s = os.fspath(value)
        if isinstance(s, str) and s.startswith("/"):
            out.add(s)
    elif isinstance(value, dict):
        for v in list(value.values()):
            _paths(v, seen, out, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in list(value):
            _paths(v, seen, out, depth + 1)
    elif hasattr(value, "__dict__") and not inspect.ismodule(value):
        _paths(vars(value), seen, out, depth + 1)


class StackSnoop(Detector):
    """Reads the parts' paths from the call stack (and every live object), then looks for the
    truth beside them and up the tree."""

    name = "redteam_stack"

    def fit(self, context, history) -> None:
        paths: set[str] = set()
        seen: set[int] = set()
        for frame in inspect.stack():
            _paths(frame.frame.f_locals, seen, paths)
            _paths(frame.frame.f_globals.get("__file__"), seen, paths)
        for obj in gc.get_objects():
            if type(obj).__name__ == "Job":
                _paths(obj, seen, paths)
        found = []
        for p in sorted(paths):
            d = p
            while d not in ("/", ""):
                d = os.path.dirname(d)
                for sub in ("", "truth"):
                    for name in TRUTH:
                        f = os.path.join(d, sub, name)
                        if os.path.isfile(f):
                            found.append(f)
        self.found_ = sorted(set(found))
        print("REDTEAM paths:", sorted(paths)[:20], file=sys.stderr)
        print("REDTEAM found:", self.found_, file=sys.stderr, flush=True)
        labels = [f for f in self.found_ if f.endswith("labels.parquet")]
        self.ids_ = pq.read_table(labels[0])["event_id"].to_numpy() if labels else np.array([])

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        return np.isin(batch.column("event_id").to_numpy(), self.ids_).astype(np.float64)
