"""The harness and score-alerts end to end on the synthetic dataset (benchmarks.harness)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from snoopbench.benchmarks.dataset import open_dataset, scoring_period, truth_dir_of
from snoopbench.detectors.registry import parse_spec
from snoopbench.benchmarks.harness import score_alerts, score_dataset
from snoopbench.benchmarks.results import CONTRACT_KEYS
from snoopbench.benchmarks.worker import split_stream
from snoopbench.contract.errors import DatasetError, InputError

from fake_detectors import register_fakes

register_fakes()

PY = shlex.quote(sys.executable)
TRUTH_NAMES = {"labels.parquet", "episodes.parquet", "relations.parquet", "manifest.json",
               "scenario.toml"}


def _row(result, spec):
    """A detector's row, found by its SPEC (an outside program's row carries its short name)."""
    name = parse_spec(spec).name
    return next(d for d in result.detectors if d.name == name)


@pytest.fixture(scope="module")
def period(synthetic_dataset: Path):
    ds = open_dataset(synthetic_dataset)
    return scoring_period(ds, truth_dir_of(ds, None))


@pytest.fixture(scope="module")
def exec_scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Outside programs: one that looks around and writes CSV, one that names unknown ids."""
    d = tmp_path_factory.mktemp("exec")
    (d / "probe.py").write_text(
        "import json, os, sys, pyarrow as pa, pyarrow.csv as csv, pyarrow.parquet as pq\n"
        "events, context, out = sys.argv[1:]\n"
        "root = os.path.dirname(os.path.abspath(events))\n"
        "seen = [os.path.relpath(os.path.join(w, f), root)\n"
        "        for w, _, fs in os.walk(root) for f in fs]\n"
        "seen += [os.path.realpath(os.path.join(events, p)) for p in os.listdir(events)]\n"
        "print(json.dumps(seen), file=sys.stderr)\n"
        "ids = pa.concat_tables(pq.read_table(os.path.join(events, p), columns=['event_id'])\n"
        "                       for p in sorted(os.listdir(events)))['event_id']\n"
        "t = pa.table({'event_id': ids, 'score': pa.array([0.5] * len(ids))})\n"
        "csv.write_csv(t, out)  # CSV content although {out} ends in .parquet\n"
    )
    (d / "unknown.py").write_text(
        "import sys, pyarrow as pa, pyarrow.parquet as pq\n"
        "pq.write_table(pa.table({'event_id': [1, 2, 3], 'score': [1.0, 2.0, 3.0]}), sys.argv[1])\n"
    )
    (d / "twice.py").write_text(
        "import os, sys, pyarrow as pa, pyarrow.parquet as pq\n"
        "events, out = sys.argv[1:]\n"
        "first = pq.read_table(os.path.join(events, sorted(os.listdir(events))[-1]))\n"
        "ids = first['event_id'].to_pylist()[-3:]\n"
        "pq.write_table(pa.table({'event_id': ids + ids[:1], 'score': [1.0] * 4}), out)\n"
    )
    return {"probe": d / "probe.py", "unknown": d / "unknown.py", "twice": d / "twice.py",
            "dir": d}


def test_failing_detectors_get_their_status_while_the_others_finish(synthetic_dataset,
                                                                     exec_scripts):
    specs = ["fake_raise", "fake_nan", "fake_short", "fake_sleep:seconds=60", "fake_oom",
             "exec:exit 3", f"exec:{PY} {shlex.quote(str(exec_scripts['unknown']))} {{out}}",
             "fake_volume"]
    # 15 s: long enough for every quick detector on a loaded machine, far short of the sleeper's 60
    result = score_dataset(synthetic_dataset, specs, timeout=15, jobs=4)
    got = {d.name: (d.status, d.error) for d in result.detectors}
    got.update({s: got[parse_spec(s).name] for s in specs})  # by SPEC, as given
    assert got["fake_raise"][0] == "error" and "boom in score" in got["fake_raise"][1]
    assert got["fake_nan"][0] == "error" and "non-finite" in got["fake_nan"][1]
    assert got["fake_short"][0] == "error" and "shape" in got["fake_short"][1]
    assert got["fake_sleep:seconds=60"][0] == "timeout"
    assert got["fake_oom"][0] == "oom"
    assert got["exec:exit 3"][0] == "error" and "code 3" in got["exec:exit 3"][1]
    assert got[specs[6]][0] == "error" and "unknown event ids" in got[specs[6]][1]
    for ok in ("fake_volume", "null", "random"):
        assert got[ok] == ("ok", None), ok
        row = _row(result, ok)
        assert row.events_per_s > 0 and row.peak_mem_mb > 10 and row.metrics is not None
    for row in result.detectors:
        if row.status != "ok":
            assert row.metrics is None and row.to_json()["recall"] is None


def test_exec_detectors_never_see_the_truth(synthetic_dataset, exec_scripts):
    spec = f"exec:{PY} {shlex.quote(str(exec_scripts['probe']))} {{events}} {{context}} {{out}}"
    result = score_dataset(synthetic_dataset, [spec])
    row = _row(result, spec)
    assert row.status == "ok", row.error
    seen = json.loads(row.log.splitlines()[-1])
    assert any(s.startswith("events/part-") for s in seen)
    assert any(s.startswith("context/staff") for s in seen)
    assert "info.json" in seen
    assert not [s for s in seen if Path(s).name in TRUTH_NAMES or "truth" in Path(s).parts]
    assert not [s for s in seen if str(synthetic_dataset) in s]  # no way back to the dataset
    assert row.metrics.n_alerts == 0  # every event at 0.5: a constant detector raises nothing


def test_info_names_the_period_and_nothing_of_the_truth(synthetic_dataset, period):
    spec = "exec:cat {info} >&2; exit 1"
    row = _row(score_dataset(synthetic_dataset, [spec]), spec)
    info = json.loads(row.log)
    assert info["timezone"] == "Europe/London" and info["staff"] == 50
    assert info["warmup_days"] == 2 and info["days"] == 10
    assert set(info) == {"scenario", "timezone", "start_date", "days", "warmup_days", "staff"}


def test_an_outside_program_must_name_each_event_once(synthetic_dataset, exec_scripts):
    spec = f"exec:{PY} {shlex.quote(str(exec_scripts['twice']))} {{events}} {{out}}"
    row = _row(score_dataset(synthetic_dataset, [spec]), spec)
    assert row.status == "error" and "duplicate event ids" in row.error


def test_a_perfect_detector_catches_every_episode_outside_warm_up(synthetic_dataset, period,
                                                                  tmp_path):
    # the sandbox shows a plug-in the files its SPEC names, never the dataset's truth: the
    # assessor hands this oracle its own copy of the labels
    own = synthetic_dataset / "truth" / "labels.parquet"
    labels = tmp_path / "given-labels.parquet"
    labels.write_bytes(own.read_bytes())
    result = score_dataset(synthetic_dataset, [f"fake_oracle:labels={labels}",
                                               f"fake_oracle:labels={own}"])
    refused = _row(result, f"fake_oracle:labels={own}")
    assert refused.status == "error" and "FileNotFoundError" in refused.error
    m = _row(result, f"fake_oracle:labels={labels}").metrics
    assert (m.recall, m.precision, m.false_alerts_per_day) == (1.0, 1.0, 0.0)
    assert m.n_episodes == 5 and "family" not in m.recall_by_kind  # episode 1 is all warm-up
    assert m.ttd_median_days == 0.0 and m.average_precision == 1.0
    assert result.alerts_per_day == 1 and result.n_days == 8 and result.n_staff == 50
    assert result.n_events == period.n_events and result.notes
    null = _row(result, "null").metrics
    assert null.n_alerts == 0 and null.recall == 0.0


def test_retrospective_detectors_get_one_batch(synthetic_dataset, period):
    spec = f"fake_retro:expect={period.n_events}"
    result = score_dataset(synthetic_dataset, [spec], batch_size=500)
    assert _row(result, spec).status == "ok", _row(result, spec).error


def test_the_stream_splits_at_the_end_of_warm_up(period):
    parts = tuple(str(p) for p in period.dataset.parts)
    history, rest = split_stream(parts, 700, period.n_warmup)
    batches = list(rest)
    assert history.num_rows == period.n_warmup
    assert sum(b.num_rows for b in batches) == period.n_events
    assert max(b.num_rows for b in batches) <= 700
    first = batches[0].column("event_id")[0].as_py()
    assert first == period.event_id[period.n_warmup]


def test_a_sealed_dataset_needs_its_truth(sealed_dataset, synthetic_dataset):
    data, truth = sealed_dataset
    with pytest.raises(DatasetError, match="sealed") as err:
        score_dataset(data, ["null"])
    assert err.value.exit_code == 2
    sealed = score_dataset(data, [], truth_dir=truth)
    plain = score_dataset(synthetic_dataset, [])
    assert sealed.fingerprint == plain.fingerprint
    assert [d.metrics for d in sealed.detectors] == [d.metrics for d in plain.detectors]


def test_bad_input_is_refused_before_anything_runs(synthetic_dataset, tmp_path):
    for specs, budget in ((["no_such_detector"], 5.0), (["null:x"], 5.0), (["null"], -1.0)):
        with pytest.raises(InputError) as err:
            score_dataset(synthetic_dataset, specs, budget=budget)
        assert err.value.exit_code == 2
    with pytest.raises(DatasetError, match="manifest"):
        score_dataset(tmp_path, ["null"])


def test_results_json_holds_every_contract_field(synthetic_dataset, tmp_path):
    result = score_dataset(synthetic_dataset, ["fake_raise", "random:seed=4"])
    path = tmp_path / "results.json"
    result.write_json(path)
    data = json.loads(path.read_text())
    assert data["format"] == "snoopbench/results/v1"
    assert data["fingerprint"] == json.loads((synthetic_dataset / "manifest.json").read_text())[
        "fingerprint"]
    assert data["budget"] == 5.0
    assert [d["name"] for d in data["detectors"]] == ["fake_raise", "random:seed=4", "null"]
    for row in data["detectors"]:
        assert set(CONTRACT_KEYS) <= set(row)
    ok = data["detectors"][1]
    assert ok["status"] == "ok" and isinstance(ok["recall_by_kind"], dict)


def _labelled_scoring_events(synthetic_dataset, period) -> pa.Table:
    labels = pq.read_table(synthetic_dataset / "truth" / "labels.parquet")["event_id"].to_numpy()
    events = pa.concat_tables(pq.read_table(p, columns=["event_id", "ts", "user_id"])
                              for p in period.dataset.parts)
    keep = np.isin(events["event_id"].to_numpy(), labels)
    return events.filter(pa.array(keep))


def test_score_alerts_with_event_ids(synthetic_dataset, period, tmp_path):
    alerts = _labelled_scoring_events(synthetic_dataset, period).select(["event_id"])
    path = tmp_path / "alerts.csv"
    pacsv.write_csv(alerts, path)
    result = score_alerts(synthetic_dataset, path)
    m = result.detectors[0].metrics
    assert (m.recall, m.precision) == (1.0, 1.0)
    assert m.n_alerts == 8 and m.alert_budget == pytest.approx(8 / 8 / 50 * 1000)
    assert result.budget == m.alert_budget
    assert any("outside the scoring period" in n for n in result.notes)  # warm-up events dropped


def test_score_alerts_with_user_days(synthetic_dataset, period, tmp_path):
    ev = _labelled_scoring_events(synthetic_dataset, period)
    from snoopbench.benchmarks.dataset import local_days
    days = local_days(ev["ts"].cast(pa.int64()).to_numpy(), "Europe/London")
    dates = pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32()).cast(pa.string())
    table = pa.table({"user_id": ev["user_id"], "date": dates,
                      "score": np.arange(len(dates), dtype=float)})
    extra = pa.table({"user_id": pa.array([40, 41], pa.int32()),
                      "date": ["2024-03-28", "2024-03-28"], "score": [100.0, 99.0]})
    path = tmp_path / "alerts.parquet"
    pq.write_table(pa.concat_tables([table, extra]), path)
    every = score_alerts(synthetic_dataset, path).detectors[0].metrics
    assert every.recall == 1.0 and every.n_alerts == 10 and every.n_true_alerts == 8
    # at one alert a day, the two high-scoring false alerts push out the 28th's true one
    cut = score_alerts(synthetic_dataset, path, budget=5.0).detectors[0].metrics
    assert cut.n_alerts == 8 and cut.recall == pytest.approx(4 / 5) and cut.alerts_per_day == 1


def test_score_alerts_refuses_bad_files(synthetic_dataset, tmp_path):
    cases = {"a.csv": "foo,bar\n1,2\n", "b.csv": "event_id\n7\n",
             "c.csv": "user_id,date\n1,28/03/2024\n", "d.json": "{}"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError) as err:
            score_alerts(synthetic_dataset, tmp_path / name)
        assert err.value.exit_code == 2 and name in str(err.value)
