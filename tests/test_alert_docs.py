"""score-alerts reads ECS and OCSF alert documents (NDJSON) like CSV and Parquet alerts."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, strategies as st

from snoopbench.benchmarks.alert_docs import read_alert_documents
from snoopbench.benchmarks.dataset import open_dataset, scoring_period
from snoopbench.benchmarks.harness import score_alerts
from snoopbench.benchmarks.siem import iso_ms
from snoopbench.contract.errors import InputError


@pytest.fixture(scope="module")
def labelled(synthetic_dataset):
    """The labelled events after warm-up: event_id, ts (ms) and user_id."""
    period = scoring_period(open_dataset(synthetic_dataset), synthetic_dataset / "truth")
    labels = pq.read_table(synthetic_dataset / "truth" / "labels.parquet")["event_id"].to_numpy()
    events = pa.concat_tables(pq.read_table(p, columns=["event_id", "ts", "user_id"])
                              for p in period.dataset.parts)
    ev = events.filter(pa.array(np.isin(events["event_id"].to_numpy(), labels)))
    return {"event_id": ev["event_id"].to_pylist(),
            "ms": ev["ts"].cast(pa.int64()).to_pylist(), "user_id": ev["user_id"].to_pylist()}


def metrics(dataset, path):
    m = score_alerts(dataset, path).detectors[0].metrics
    return (m.recall, m.precision, m.n_alerts, m.n_true_alerts)


def write_ndjson(path, docs):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("".join(json.dumps(d) + "\n" for d in docs))
    return path


def test_alerts_naming_event_ids_score_as_the_csv_does(synthetic_dataset, labelled, tmp_path):
    csv = tmp_path / "alerts.csv"
    pacsv.write_csv(pa.table({"event_id": labelled["event_id"]}), csv)
    ids = labelled["event_id"]
    ecs = [{"@timestamp": "2030-01-01T00:00:00Z", "event": {"kind": "alert"},
            "kibana.alert.ancestors": [{"id": str(i), "index": "snoop"}]} for i in ids]
    ecs_custom = [{"event": {"kind": "alert"}, "snoopbench": {"alert": {"event_ids": ids[:3]}}},
                  {"event": {"kind": "alert"}, "snoopbench": {"alert": {"event_ids": ids[3:]}}}]
    ocsf = [{"class_uid": 2004, "finding_info": {"uid": "f1", "related_events": [
        {"uid": str(i)} for i in ids]}}]
    want = metrics(synthetic_dataset, csv)
    assert want[0] == 1.0
    for name, docs in (("ecs.ndjson", ecs), ("custom.jsonl", ecs_custom),
                       ("ocsf.json.gz", ocsf)):
        assert metrics(synthetic_dataset, write_ndjson(tmp_path / name, docs)) == want, name


def test_alerts_naming_user_and_time_score_as_user_days(synthetic_dataset, labelled, tmp_path):
    iso = iso_ms(np.array(labelled["ms"])).tolist()
    ecs = [{"@timestamp": t, "event": {"kind": "alert", "risk_score": 50},
            "user": {"id": str(u)}} for t, u in zip(iso, labelled["user_id"])]
    ocsf = [{"class_uid": 2004, "time": ms, "evidences": [{"actor": {"user": {"uid": str(u)}}}]}
            for ms, u in zip(labelled["ms"], labelled["user_id"])]
    flat = [{"event_id": i} for i in labelled["event_id"]]
    want = metrics(synthetic_dataset, write_ndjson(tmp_path / "flat.ndjson", flat))
    assert want[0] == 1.0
    assert metrics(synthetic_dataset, write_ndjson(tmp_path / "ecs.ndjson", ecs)) == want
    assert metrics(synthetic_dataset, write_ndjson(tmp_path / "ocsf.ndjson", ocsf)) == want
    # an offset other than Z names the same instant, so the same local day
    shifted = [{**d, "@timestamp": t.replace("Z", "+00:00")} for d, t in zip(ecs, iso)]
    assert metrics(synthetic_dataset, write_ndjson(tmp_path / "off.ndjson", shifted)) == want


def test_the_cli_scores_ndjson_and_names_the_bad_line(synthetic_dataset, labelled, tmp_path):
    good = write_ndjson(tmp_path / "a.ndjson", [{"finding_info": {"related_events": [
        {"uid": str(labelled["event_id"][0])}]}}])
    done = subprocess.run([sys.executable, "-m", "snoopbench", "score-alerts",
                           str(synthetic_dataset), str(good)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bad = tmp_path / "b.ndjson"
    bad.write_text('{"user": {"id": "3"}, "@timestamp": "2024-03-28T10:00:00Z"}\n'
                   '{"user": {"id": "3"}, "@timestamp": "yesterday"}\n')
    done = subprocess.run([sys.executable, "-m", "snoopbench", "score-alerts",
                           str(synthetic_dataset), str(bad)], capture_output=True, text=True)
    assert done.returncode == 2 and "line 2" in done.stderr and "b.ndjson" in done.stderr
    assert "Traceback" not in done.stderr


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(
                        ["user", "id", "user.id", "@timestamp", "time", "event_id", "uid",
                         "finding_info", "related_events", "actor", "kibana.alert.ancestors",
                         "evidences", "score", "date", "user_id"]), inner, max_size=4),
                    max_leaves=12)


@given(st.lists(st.dictionaries(st.sampled_from(
    ["user", "user_id", "event_id", "@timestamp", "time", "finding_info", "evidences",
     "kibana.alert.ancestors", "snoopbench", "date", "score"]), JSON, max_size=4), max_size=4))
def test_any_document_is_read_or_refused_with_a_clear_error(tmp_path_factory, docs):
    path = write_ndjson(tmp_path_factory.mktemp("fuzz") / "alerts.ndjson", docs)
    try:
        tables = read_alert_documents(path, "Europe/London")
    except InputError as exc:
        assert exc.exit_code == 2 and "alerts.ndjson" in str(exc)
        return
    for t in tables:
        assert t.column_names in (["event_id", "score"], ["user_id", "date", "score"])
