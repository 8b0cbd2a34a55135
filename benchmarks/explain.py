"""One episode, from a results file and its dataset (``snoopbench explain``).

The results hold each detector's row for the episode (caught, when, the alert's explanation, its
alerts around the episode); the dataset and its truth hold the episode's summary and events. The
dataset is the one the results name (relative paths are tried from the working directory, then
from the results file's folder) unless ``dataset`` is given, and must have the results'
fingerprint; a sealed dataset's truth is its assessor's ``truth`` folder.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from snoopbench.benchmarks.dataset import open_dataset, truth_dir_of
from snoopbench.benchmarks.episodes import TARGET_TYPE, iso_ms
from snoopbench.contract.errors import InputError
from snoopbench.contract.schema import RESULTS_FORMAT

_BENCH_FORMAT = "snoopbench/bench/v1"


@dataclass
class EpisodeView:
    """What ``snoopbench explain`` shows of one episode."""

    summary: dict[str, Any]
    targets: list[str]
    events: list[dict[str, Any]]
    #: Per detector: name, status, and its episode row (caught, first_alert_day, ...,
    #: alerts around the episode).
    detectors: list[dict[str, Any]]


def read_results(path: str | Path) -> dict[str, Any]:
    """A results JSON (``snoopbench/results/v1`` or ``snoopbench/bench/v1``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such results file", file=str(path))
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not a results JSON ({exc})", file=str(path)) from exc
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt not in (RESULTS_FORMAT, _BENCH_FORMAT):
        raise InputError(f"expected format {RESULTS_FORMAT} or {_BENCH_FORMAT}, found {fmt!r}",
                         file=str(path), key="format")
    return data


def _episode_ids(result: dict[str, Any]) -> set[int]:
    return {int(e["episode_id"]) for d in result.get("detectors", [])
            for e in d.get("episodes") or []}


def pick_result(data: dict[str, Any], episode: int, seed: int | None, path: Path
                ) -> dict[str, Any]:
    """The result (of a score, or of one bench run) that holds the episode."""
    if data["format"] == RESULTS_FORMAT:
        if seed is not None:
            raise InputError("--seed is for bench results; this is a score result",
                             file=str(path), key="--seed")
        runs = [(None, data)]
    else:
        runs = [(r.get("seed"), r.get("result", {})) for r in data.get("runs", [])]
        if seed is not None:
            runs = [(s, r) for s, r in runs if s == seed]
            if not runs:
                raise InputError(f"no run with seed {seed}", file=str(path), key="--seed")
    known = [(s, r) for s, r in runs if episode in _episode_ids(r)]
    if not known:
        ids = sorted(set().union(*(_episode_ids(r) for _, r in runs)))
        have = f"its episodes are {ids[0]}..{ids[-1]}" if ids else \
            "it holds no per-episode rows (made before they existed, or no detector worked)"
        raise InputError(f"episode {episode} is not in the results; {have}", file=str(path),
                         key="EPISODE")
    if len(known) > 1:
        raise InputError(f"episode {episode} is in the runs of seeds "
                         f"{', '.join(str(s) for s, _ in known)}; pick one with --seed",
                         file=str(path), key="--seed")
    return known[0][1]


def _dataset_dir(result: dict[str, Any], given: Path | None, results_path: Path) -> Path:
    if given is not None:
        if not given.is_dir():
            raise InputError("no such dataset directory", file=str(given), key="--dataset")
        return given
    named = Path(str(result.get("dataset", "")))
    for candidate in (named, results_path.parent / named):
        if str(named) and (candidate / "manifest.json").is_file():
            return candidate
    raise InputError(f"the results name the dataset {str(named)!r}, which is not here; pass "
                     "--dataset DIR", file=str(results_path), key="dataset")


def explain_episode(results: str | Path, episode: int, *, dataset: Path | None = None,
                    truth: Path | None = None, seed: int | None = None) -> EpisodeView:
    """Everything ``snoopbench explain`` shows; :class:`InputError` for an unknown episode, a
    missing file or a dataset that is not the one scored."""
    results = Path(results)
    result = pick_result(read_results(results), episode, seed, results)
    ds = open_dataset(_dataset_dir(result, dataset, results))
    if result.get("fingerprint") and ds.fingerprint != result["fingerprint"]:
        raise InputError(f"this dataset's fingerprint ({ds.fingerprint[:12]}...) is not the "
                         f"results' ({str(result['fingerprint'])[:12]}...): not the dataset scored",
                         file=str(ds.root), key="--dataset")
    truth_dir = truth_dir_of(ds, truth)
    episodes = pq.read_table(truth_dir / "episodes.parquet")
    row = episodes.filter(pc.equal(episodes["episode_id"], episode)).to_pylist()
    if not row:
        raise InputError(f"episode {episode} is not in this dataset's truth",
                         file=str(truth_dir / "episodes.parquet"), key="EPISODE")
    summary = {k: _plain(v) for k, v in row[0].items()}
    labels = pq.read_table(truth_dir / "labels.parquet")
    ids = labels.filter(pc.equal(labels["episode_id"], episode))["event_id"]
    events: list[dict[str, Any]] = []
    for part in ds.parts:
        t = pq.read_table(part, filters=[("event_id", "in", ids.to_pylist())]) if len(ids) else None
        if t is not None and t.num_rows:
            events += [{k: _plain(v) for k, v in e.items()} for e in t.to_pylist()]
    kind_type = TARGET_TYPE.get(summary["kind"], "person")
    targets = [f"{kind_type}:{t}" for t in summary.get("targets") or []]
    detectors = []
    for d in result.get("detectors", []):
        mine = [e for e in d.get("episodes") or [] if int(e["episode_id"]) == episode]
        detectors.append({"name": d.get("name"), "status": d.get("status"),
                          **(mine[0] if mine else {"caught": False, "alerts": []})})
    return EpisodeView(summary, targets, events, detectors)


def _plain(value: Any) -> Any:
    """A truth or event value as text for the terminal: times in ISO 8601 UTC."""
    if isinstance(value, dt.datetime):
        return iso_ms(int(value.timestamp() * 1000))
    return value
