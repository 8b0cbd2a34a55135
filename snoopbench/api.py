"""The Python API: simulate a scenario, open a dataset, score detectors. The CLI is a thin layer
over these functions; a notebook uses them directly::

    import snoopbench
    ds = snoopbench.simulate("tiny", "data/tiny", seed=11)
    ds.info.staff, ds.events.count_rows(), ds.context("staff").num_rows
    results = snoopbench.score(ds, detectors=["relationship", "volume:z=3.5"], budget=5)
    results.to_arrow().to_pandas()

Errors are :class:`~snoopbench.contract.errors.SnoopbenchError`\\ s with the same messages the CLI
prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from snoopbench.contract.errors import DatasetError
from snoopbench.contract.info import DatasetInfo
from snoopbench.contract.manifest import Manifest, VerifyResult, read_manifest, verify as verify_dataset


@dataclass(frozen=True)
class Dataset:
    """An opened dataset: its manifest facts, its events as an Arrow dataset, its context tables.
    The truth is read only when asked for (:meth:`truth`)."""

    path: Path
    manifest: Manifest

    @property
    def info(self) -> DatasetInfo:
        """Time zone, start date, days, warm-up, staff count and scenario name."""
        return self.manifest.info

    @property
    def fingerprint(self) -> str:
        return self.manifest.fingerprint

    @property
    def sealed(self) -> bool:
        return self.manifest.sealed

    @cached_property
    def events(self) -> pads.Dataset:
        """The audit events as a :class:`pyarrow.dataset.Dataset` (parts in time order; nothing is
        read until asked: ``.to_batches()``, ``.to_table(columns=...)``, ``.count_rows()``)."""
        parts = sorted(p for p in self.manifest.files if p.startswith("events/"))
        return pads.dataset([str(self.path / p) for p in parts], format="parquet")

    @property
    def context_names(self) -> list[str]:
        return sorted(Path(p).stem for p in self.manifest.files if p.startswith("context/"))

    def context(self, name: str) -> pa.Table:
        """One context table (``staff``, ``shifts``, ``people``, ``tasking`` ...)."""
        if name not in self.context_names:
            raise DatasetError(f"no context table {name!r}; expected one of {', '.join(self.context_names)}",
                               file=str(self.path / "context"))
        return pq.read_table(self.path / "context" / f"{name}.parquet")

    def truth(self, truth_dir: str | Path | None = None) -> dict[str, pa.Table]:
        """The truth tables (labels, episodes, relations), checked against the manifest's hashes:
        from ``DATASET/truth``, or from ``truth_dir`` for a sealed dataset."""
        from snoopbench.benchmarks.dataset import open_dataset, truth_dir_of

        folder = truth_dir_of(open_dataset(self.path), truth_dir)
        return {Path(rel).stem: pq.read_table(folder / Path(rel).name) for rel in self.manifest.truth_files}

    def verify(self, truth_dir: str | Path | None = None) -> VerifyResult:
        """Re-hash every file and recompute the fingerprint (see ``snoopbench verify``)."""
        from snoopbench.simulator.scenario import check_dataset_scenario

        return verify_dataset(self.path, truth_dir, check_scenario=check_dataset_scenario)

    def __repr__(self) -> str:
        i = self.info
        return (f"<snoopbench dataset {str(self.path)!r}: {i.scenario}, {i.staff:,} staff, {i.days} days "
                f"from {i.start_date} ({i.timezone}), {self.manifest['events']:,} events, "
                f"fingerprint {self.fingerprint[:12]}{', sealed' if self.sealed else ''}>")


def load(path: str | Path) -> Dataset:
    """Open a dataset directory written by :func:`simulate` (the manifest is read and checked)."""
    return Dataset(Path(path), read_manifest(path))


def simulate(scenario: str | Path, out: str | Path, *, seed: int | None = None, days: int | None = None,
             workers: int = 1, sealed: str | Path | None = None, scheduler: str | None = None) -> Dataset:
    """Simulate a scenario (a shipped name such as ``"tiny"``, or a file) into ``out``; return the
    opened dataset. ``sealed``: write the truth to that folder, with a secret seed."""
    from snoopbench.simulator.run import simulate as run

    run(scenario, out, seed=seed, days=days, workers=workers, scheduler=scheduler, sealed=sealed)
    return load(out)


class Results:
    """Scores of detectors on one dataset: rows with the results JSON's fields."""

    def __init__(self, result: Any) -> None:
        self._result = result

    @property
    def fingerprint(self) -> str | None:
        return self._result.fingerprint

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One dict per detector, with the fields of ``snoopbench/results/v1``."""
        return self.to_json()["detectors"]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self._result.detectors)

    def __getitem__(self, name: str) -> dict[str, Any]:
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The whole result in format ``snoopbench/results/v1``."""
        return self._result.to_json()

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")

    def to_arrow(self) -> pa.Table:
        """One row per detector; nested fields (recall by kind, budget sweep) as JSON strings."""
        rows = [{k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()}
                for r in self.rows]
        return pa.Table.from_pylist(rows)

    def __repr__(self) -> str:
        body = ", ".join(f"{r['name']}: {r['status']}" + (f" recall {r['recall']:.2f}" if r["recall"] is not None
                                                          else "") for r in self.rows)
        return f"<snoopbench results on {str(self._result.dataset)!r}: {body}>"


def score(dataset: Dataset | str | Path, detectors: Sequence[str] | Iterable[str] = (), *, budget: float = 5.0,
          truth: str | Path | None = None, timeout: float | None = None, verify: bool = True,
          online: bool = False, regime: str | Path = "monitoring-team",
          feedback_delay: str | None = None, feedback_delay_days: float | None = None) -> Results:
    """Score detectors (specs as on the command line: ``"volume:z=3.5"``, ``"exec:..."``) on a
    dataset, each in its own sandboxed process, with the ``null`` and ``random`` baselines.
    ``online``: day by day, with the ``regime``'s reviewer's verdicts fed back (``score --online``)."""
    from snoopbench.benchmarks.harness import score_dataset

    path = dataset.path if isinstance(dataset, Dataset) else Path(dataset)
    if online:
        from snoopbench.benchmarks.online import score_online

        return Results(score_online(path, list(detectors), budget=budget, truth_dir=truth,
                                    timeout=timeout, verify=verify, regime=regime,
                                    feedback_delay=feedback_delay,
                                    feedback_delay_days=feedback_delay_days))
    return Results(score_dataset(path, list(detectors), budget=budget, truth_dir=truth, timeout=timeout,
                                 verify=verify))
