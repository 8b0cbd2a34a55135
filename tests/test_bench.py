"""``snoopbench bench`` and its report, on the tiny scenario cut to 3 days (benchmarks.bench)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import pyarrow as pa
import pytest

from snoopbench.detectors.registry import parse_spec

pytest.importorskip("matplotlib")

from snoopbench.benchmarks.bench import BENCH_FORMAT, SUITE, run_bench  # noqa: E402
from snoopbench.benchmarks.cli import main  # noqa: E402
from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of  # noqa: E402
from snoopbench.benchmarks.harness import score_dataset  # noqa: E402
from snoopbench.benchmarks.metrics import evaluate_scores, sweep_budgets  # noqa: E402
from snoopbench.detectors import Detector, register  # noqa: E402
from snoopbench.simulator import scenario as scenario_mod  # noqa: E402
from snoopbench.contract.schema import RESULTS_FORMAT  # noqa: E402

from fake_detectors import register_fakes  # noqa: E402

register_fakes()

TINY = ["tiny", "--days", "3", "--seeds", "2"]
HOSTILE = "exec:exit 3 # <i>&\"'"  # fails, and its name needs escaping in HTML


class FailsOnce(Detector):
    """Fails while ``flag`` does not exist, then scores zeros. (A detector cannot leave a file
    behind for its next run: the sandbox shows it only what its SPEC names, read-only.)"""

    name = "fake_once"

    def __init__(self, *, flag: str = "") -> None:
        self.flag = flag

    def fit(self, context: Mapping[str, pa.Table], history: pa.Table) -> None:
        if not Path(self.flag).exists():
            raise RuntimeError("fails on the first seed")

    def score(self, batch: pa.RecordBatch) -> np.ndarray:
        return np.zeros(batch.num_rows)


register("fake_once", FailsOnce)


def _non_decreasing(values: list[float]) -> bool:
    return all(b >= a - 1e-12 for a, b in zip(values, values[1:]))


def test_bench_prints_the_leaderboard_and_writes_the_report(tmp_path, capsys):
    report = tmp_path / "report"
    code = main(["bench", *TINY, "-d", "fake_volume", "-d", "fake_raise", "-d", HOSTILE,
                 "--report", str(report), "--progress"])
    captured = capsys.readouterr()
    text = captured.out
    assert code == 0
    # progress per run and per detector, in events, on stderr only
    assert "progress: run 1/2" in captured.err and "progress: run 2/2" in captured.err
    assert re.search(r"progress: fake_volume: done [\d,]+/[\d,]+ events \(100%\)", captured.err)
    assert "progress:" not in text
    assert "tiny: leaderboard" in text
    for name in ("fake_volume", "fake_raise", "null", "random", "error 2/2", "boom in score"):
        assert name in text, name
    assert re.search(r"\d\.\d\d \[\d\.\d\d–\d\.\d\d\]", text)  # a mean and its 95% interval

    page = (report / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 3
    for name in images:
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<i>" not in page and "&lt;i&gt;&amp;&quot;&#x27;" in page
    for words in ("How to read this", "What was run", "snoopbench 0.", "fake_volume"):
        assert words in page

    data = json.loads((report / "results.json").read_text())
    assert data["format"] == BENCH_FORMAT and data["budget"] == 5.0
    assert [s["name"] for s in data["scenarios"]] == ["tiny"]
    # a report is for publication: sealed worlds, secret seeds revealed only now, after scoring
    seeds = data["scenarios"][0]["seeds"]
    assert data["sealed"] is True and len(set(seeds)) == 2 and all(0 <= x < 2**63 for x in seeds)
    assert 20250303 not in seeds and [r["seed"] for r in data["runs"]] == seeds
    assert len(data["runs"]) == 2 and all(len(r["fingerprint"]) == 64 for r in data["runs"])
    assert all(r["result"]["format"] == RESULTS_FORMAT for r in data["runs"])
    rows = {r["detector"]: r for r in data["leaderboard"]}
    assert set(rows) == {"fake_volume", "fake_raise", parse_spec(HOSTILE).name, "null", "random"}
    assert rows["fake_raise"]["statuses"] == ["error", "error"]
    assert rows["fake_raise"]["recall"] is None
    assert rows["fake_volume"]["status"] == "ok" and rows["fake_volume"]["recall"]["n"] == 2
    # CR-K over seeds, and the paired comparisons the leaderboard marks (method stated)
    ncr = rows["fake_volume"]["cumulative_recall"]["ncr_400"]
    assert ncr["n"] == 2 and 0 <= ncr["low"] <= ncr["mean"] <= ncr["high"] <= 1
    assert "bootstrap" in data["comparisons"]["method"] and "Holm" in data["comparisons"]["method"]
    pairs = data["comparisons"]["pairs"]["tiny"]
    assert pairs and all(-1 <= c["low"] <= c["high"] <= 1 and c["p_holm"] >= c["p"] for c in pairs)
    assert "Holm-corrected" in text and "nCR-400" in text and "nCR-400" in page


def test_open_seeds_follow_the_scenario_and_sealed_runs_reproduce_from_the_revealed_seed(tmp_path):
    opened = run_bench(["tiny"], seeds=2, specs=["null"], days=2)
    assert opened.scenarios[0].seeds == [20250303, 20250304] and not opened.sealed
    sealed = run_bench(["tiny"], seeds=1, specs=["null"], days=2, sealed=True)
    seed = sealed.scenarios[0].seeds[0]
    from snoopbench.simulator.run import simulate

    again = simulate("tiny", tmp_path / "again", days=2, seed=seed)
    assert again.fingerprint == sealed.runs[0].fingerprint


def test_a_detector_failing_on_one_seed_is_reported_and_the_rest_finish(tmp_path):
    keep = tmp_path / "kept"
    def flag_after_the_first_run(what: str, done: int, total: int) -> None:
        if done >= 1:
            (tmp_path / "flag").touch()

    result = run_bench(["tiny"], seeds=2, specs=[f"fake_once:flag={tmp_path / 'flag'}"],
                       budget=5, days=3, keep=keep, progress=flag_after_the_first_run)
    rows = {r.detector: r for r in result.rows("tiny")}
    once = rows[f"fake_once:flag={tmp_path / 'flag'}"]
    assert once.statuses == ["error", "ok"] and once.status == "error 1/2"
    assert once.failures() == [("error", once.errors[0], [20250303])]
    assert "fails on the first seed" in once.errors[0]
    assert once.get("recall").n == 1  # the failed seed counts in the status, not the metrics
    assert rows["null"].status == rows["random"].status == "ok"
    assert [r.kept for r in result.runs] == [str(keep / "tiny-seed20250303"),
                                            str(keep / "tiny-seed20250304")]
    assert all((keep / f"tiny-seed{s}" / "manifest.json").is_file() for s in (20250303, 20250304))
    json.dumps(result.to_json(), allow_nan=False)

    # Recall against budget never falls, per run and in the means over seeds.
    for run in result.runs:
        for d in run.result.detectors:
            if d.status == "ok":
                assert sorted(d.budget_sweep) == result.sweep_budgets
                assert _non_decreasing([m.recall for _, m in sorted(d.budget_sweep.items())])
    for row in rows.values():
        means = [iv.mean for _, iv in sorted(row.recall_by_budget.items()) if iv is not None]
        assert len(means) == len(result.sweep_budgets) and _non_decreasing(means)


def test_the_budget_sweep_matches_scoring_at_each_budget(synthetic_dataset):
    ds = open_dataset(synthetic_dataset)
    period = scoring_period(ds, truth_dir_of(ds, None)).period
    scores = np.random.default_rng(7).random(period.n_events)
    budgets = [0, 1, 2, 5, 10, 20, 40, 100, 1000]
    sweep = sweep_budgets(period, scores, budgets)
    assert _non_decreasing([sweep[b].recall for b in budgets]) and sweep[1000].recall > 0
    for b in budgets:
        expected = evaluate_scores(period, scores, b)
        assert sweep[b].recall == expected.recall and sweep[b].n_alerts == expected.n_alerts
        assert sweep[b].ttd_days == expected.ttd_days

    result = score_dataset(synthetic_dataset, ["fake_volume"], budget=5, budgets=[2, 5, 20])
    for d in result.detectors:
        assert d.budget_sweep[5.0].recall == d.metrics.recall
        assert [e["budget"] for e in d.to_json()["budget_sweep"]] == [2.0, 5.0, 20.0]


@pytest.mark.parametrize("args, words", [
    (["no-such-scenario"], "no-such-scenario"),
    (["tiny", "-d", "nope"], "unknown detector 'nope'"),
    (["tiny", "--seeds", "0"], "--seeds"),
    (["tiny", "--budget", "-1"], "--budget"),
    (["tiny", "--days", "0"], "--days"),
])
def test_bad_input_exits_2_before_anything_runs(args, words, tmp_path, capsys):
    assert main(["bench", *args, "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_kept_datasets_are_never_overwritten(tmp_path, capsys):
    (tmp_path / "tiny-seed20250303").mkdir()
    (tmp_path / "tiny-seed20250303" / "x").write_text("mine")
    assert main(["bench", *TINY, "--keep", str(tmp_path)]) == 2
    assert "tiny-seed20250303" in capsys.readouterr().err


def test_the_default_suite_is_shipped():
    assert all(scenario_mod.find(name).is_file() for name in SUITE)
