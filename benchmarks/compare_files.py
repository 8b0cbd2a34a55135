"""``snoopbench compare A.json B.json``: one detector of one results file against one of another,
paired over the same datasets and episodes (:mod:`benchmarks.compare`).

Either file may be a ``score`` result (``snoopbench/results/v1``: one dataset) or a ``bench``
result (``snoopbench/bench/v1``: one dataset per scenario and seed). The two must be over the
very same datasets (fingerprints), with the same episodes and the same daily alert cap; the
datasets are paired by fingerprint, each one a seed of the bootstrap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snoopbench.benchmarks.bench import BENCH_FORMAT
from snoopbench.benchmarks.compare import (Paired, metric_values, paired_difference,
                                           parse_metric, ranks_from_json)
from snoopbench.benchmarks.harness import BASELINES
from snoopbench.contract.errors import InputError
from snoopbench.contract.schema import RESULTS_FORMAT


@dataclass(frozen=True)
class Unit:
    """One dataset's result within a results file."""

    label: str
    fingerprint: str
    alerts_per_day: int
    paired: dict[str, Any]


@dataclass(frozen=True)
class Comparison:
    """What ``compare`` found: the paired difference and each dataset's figures."""

    paired: Paired
    labels: list[str]
    a_values: list[float]
    b_values: list[float]
    n_episodes: list[int]


def load_units(path: str | Path) -> list[Unit]:
    """The datasets of a results file; :class:`InputError` naming the file and key if it is not
    one, or lacks the per-episode ranks a paired comparison needs."""
    file = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", file=file) from exc
    except ValueError as exc:
        raise InputError(f"is not JSON ({exc})", file=file) from exc
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if fmt == RESULTS_FORMAT:
        results = [(str(doc.get("dataset")), doc)]
    elif fmt == BENCH_FORMAT:
        runs = doc.get("runs")
        if not isinstance(runs, list):
            raise InputError("expected a list of runs", file=file, key="runs")
        results = [(f"{r.get('scenario')} seed {r.get('seed')}", r.get("result") or {})
                   for r in runs if isinstance(r, dict)]
    else:
        raise InputError(f"expected format {RESULTS_FORMAT} or {BENCH_FORMAT}, got {fmt!r}",
                         file=file, key="format")
    units = []
    for label, res in results:
        paired, fp, per_day = res.get("paired"), res.get("fingerprint"), res.get("alerts_per_day")
        if not isinstance(paired, dict) or not {"episodes", "rank_cap", "ranks"} <= set(paired):
            raise InputError(f"{label} has no per-episode ranks: written by score-alerts or an "
                             "older snoopbench; score again", file=file, key="paired")
        if not isinstance(fp, str) or not isinstance(per_day, int):
            raise InputError(f"{label} has no dataset fingerprint or daily alert cap", file=file,
                             key="fingerprint" if not isinstance(fp, str) else "alerts_per_day")
        units.append(Unit(label, fp, per_day, paired))
    if not units:
        raise InputError("holds no results", file=file, key="runs")
    return units


def choose(units: list[Unit], name: str | None, file: str, option: str) -> str:
    """The detector to compare: ``name`` if every dataset of the file ranks it, else the file's
    only detector that is not a baseline."""
    common = set.intersection(*(set(u.paired["ranks"]) for u in units))
    if name is not None:
        if name not in common:
            raise InputError(f"no detector {name!r} with results on every dataset; it has "
                             f"{', '.join(sorted(common)) or 'none'}", file=file, key=option)
        return name
    own = sorted(n for n in common if n not in BASELINES)
    if len(own) != 1:
        raise InputError(f"holds {len(own)} detectors besides the baselines "
                         f"({', '.join(own) or 'none'}); name one with {option}", file=file,
                         key=option)
    return own[0]


def match(a: list[Unit], b: list[Unit], file_a: str, file_b: str) -> list[tuple[Unit, Unit]]:
    """Pair the datasets of two files by fingerprint: the same datasets, episodes and alert cap,
    or :class:`InputError` naming the first mismatch."""
    by_a = {u.fingerprint: u for u in a}
    by_b = {u.fingerprint: u for u in b}
    for mine, theirs, fa, fb in ((by_a, by_b, file_a, file_b), (by_b, by_a, file_b, file_a)):
        for fp, u in mine.items():
            if fp not in theirs:
                raise InputError(f"not over the same datasets: {u.label} (fingerprint "
                                 f"{fp[:16]}) is in {fa} but not in {fb}", file=fb,
                                 key="fingerprint")
    pairs = []
    for fp, ua in by_a.items():
        ub = by_b[fp]
        if ua.paired["episodes"] != ub.paired["episodes"]:
            raise InputError(f"not over the same episodes on {ua.label} (fingerprint {fp[:16]}): "
                             f"{len(ua.paired['episodes'])} in {file_a}, "
                             f"{len(ub.paired['episodes'])} here", file=file_b, key="episodes")
        if ua.alerts_per_day != ub.alerts_per_day:
            raise InputError(f"scored at another budget on {ua.label}: {ub.alerts_per_day} "
                             f"alerts a day, {ua.alerts_per_day} in {file_a}", file=file_b,
                             key="alerts_per_day")
        pairs.append((ua, ub))
    return pairs


def compare_files(path_a: str | Path, path_b: str | Path, a: str | None = None,
                  b: str | None = None, metric: str = "recall") -> Comparison:
    """Detector ``a`` of ``path_a`` against detector ``b`` of ``path_b`` on ``metric``
    (``recall`` at the files' budget, or ``ncr-K``), paired over their datasets and episodes."""
    if metric != "recall":
        try:
            parse_metric(metric)
        except ValueError as exc:
            raise InputError(str(exc), key="--metric") from exc
    fa, fb = str(path_a), str(path_b)
    units_a, units_b = load_units(path_a), load_units(path_b)
    name_a = choose(units_a, a, fa, "--a")
    name_b = choose(units_b, b, fb, "--b")
    label_a, label_b = (name_a, name_b) if name_a != name_b else (f"{name_a} ({fa})",
                                                                  f"{name_b} ({fb})")
    values_a, values_b, labels = [], [], []
    try:
        for ua, ub in match(units_a, units_b, fa, fb):
            values_a.append(metric_values(ranks_from_json(ua.paired, name_a), metric,
                                          ua.alerts_per_day))
            values_b.append(metric_values(ranks_from_json(ub.paired, name_b), metric,
                                          ub.alerts_per_day))
            labels.append(ua.label)
        paired = paired_difference(values_a, values_b, names=(label_a, label_b), metric=metric)
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"cannot compare: {exc}", file=fb, key="paired") from exc
    return Comparison(paired, labels, [float(np.mean(v)) if len(v) else float("nan")
                                       for v in values_a],
                      [float(np.mean(v)) if len(v) else float("nan") for v in values_b],
                      [len(v) for v in values_a])
