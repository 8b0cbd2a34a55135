"""snoopbench export: every format read back gives the dataset's events (benchmarks.export, siem)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, strategies as st

from snoopbench.benchmarks import siem
from snoopbench.benchmarks.export import FORMATS, export_dataset

CLI = [sys.executable, "-m", "snoopbench"]


@pytest.fixture
def tiny(tiny_day: Path) -> Path:
    return tiny_day


def dataset_rows(dataset: Path) -> list[dict]:
    """The events as the export should give them back: contract columns, ts as epoch ms."""
    table = pa.concat_tables(pq.read_table(p, columns=list(siem.COLUMNS))
                             for p in sorted((dataset / "events").glob("*.parquet")))
    rows = table.to_pylist()
    ms = table["ts"].cast(pa.int64()).to_pylist()
    for row, t in zip(rows, ms):
        row["ts"] = t
    return rows


def read_back(path: Path, fmt: str) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        if fmt == "csv":
            return [siem.read_record(r, "csv") for r in csv.DictReader(f)]
        return [siem.read_record(json.loads(line), fmt) for line in f]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_as_the_datasets_events(tiny, tmp_path, fmt):
    out = tmp_path / f"events.{fmt}"
    done = subprocess.run([*CLI, "export", str(tiny), "--format", fmt, "--out",
                           str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    want = dataset_rows(tiny)
    got = read_back(out, fmt)
    assert len(got) == len(want) and f"{len(want):,} events" in done.stderr
    assert got == want  # ids, times, every value, in the dataset's order
    assert any(r["reference"] is None for r in want) and any(r["reference"] for r in want)


def test_ecs_and_ocsf_documents_carry_the_standard_fields(tiny, tmp_path):
    export_dataset(tiny, "ecs", tmp_path / "e.ndjson")
    export_dataset(tiny, "ocsf", tmp_path / "o.ndjson")
    e = json.loads((tmp_path / "e.ndjson").read_text().splitlines()[0])
    o = [json.loads(x) for x in (tmp_path / "o.ndjson").read_text().splitlines()]
    assert e["@timestamp"].endswith("Z") and e["event"]["kind"] == "event"
    assert e["event"]["dataset"] == f"snoopbench.{e['event']['provider'].lower()}"
    assert e["event"]["category"] == ["database"] and isinstance(e["user"]["id"], str)
    assert {d["class_uid"] for d in o} == {6003} and {d["category_uid"] for d in o} == {6}
    for d in o:
        assert d["type_uid"] == 600300 + d["activity_id"]
        assert d["activity_id"] == siem.OCSF_ACTIVITY.get(d["api"]["operation"], 2)
        assert d["time"] == siem.parse_iso(d["time_dt"])
        assert d["metadata"]["product"]["name"] == "snoopbench" and d["metadata"]["version"]
    assert 2 in {d["activity_id"] for d in o}  # reads are the bulk of the work


def test_nothing_of_the_truth_is_exported(tiny, tmp_path):
    out = tmp_path / "all.jsonl"
    export_dataset(tiny, "jsonl", out)
    keys = set(json.loads(out.read_text().splitlines()[0]))
    assert keys == set(siem.COLUMNS)
    for fmt in ("ecs", "ocsf"):
        export_dataset(tiny, fmt, out)
        text = out.read_text()
        assert "episode" not in text and "label" not in text.replace('"labels":{"reference"', "")


def test_gzip_by_extension_and_stdout(tiny, tmp_path):
    gz = tmp_path / "events.csv.gz"
    export_dataset(tiny, "csv", gz)
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    assert read_back(gz, "csv") == dataset_rows(tiny)
    done = subprocess.run([*CLI, "export", str(tiny), "--format", "jsonl", "--out",
                           "-"], capture_output=True, text=True)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert len(lines) == len(dataset_rows(tiny)) and json.loads(lines[-1])


def test_errors_exit_2_and_leave_nothing_half_written(tiny, tmp_path):
    bad = subprocess.run([*CLI, "export", str(tiny), "--format", "xml", "--out",
                          str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and "--format" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run([*CLI, "export", str(tmp_path / "nope"), "--format", "ecs",
                              "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_export_leaves_no_file(tiny, tmp_path):
    out = tmp_path / "events.ndjson"

    def stop(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_dataset(tiny, "ecs", out, batch_size=100, progress=stop)
    assert list(tmp_path.iterdir()) == []


MS_RANGE = st.integers(min_value=-62135596800000, max_value=253402300799999)  # years 1 to 9999


@given(st.lists(MS_RANGE, min_size=1, max_size=20))
def test_iso_timestamps_round_trip_exactly(ms):
    text = siem.iso_ms(np.array(ms, np.int64))
    assert [siem.parse_iso(t) for t in text] == ms
    for t in text:
        assert t.endswith("Z") and t[10] == "T" and len(t.split(".")[1]) == 4


@given(MS_RANGE, st.integers(min_value=-18 * 60, max_value=18 * 60))
def test_parse_iso_honours_any_offset(ms, minutes):
    tz = dt.timezone(dt.timedelta(minutes=minutes))
    when = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=ms)
    try:
        local = when.astimezone(tz)
    except OverflowError:
        return  # beyond year 1..9999 in that zone: not representable
    assert siem.parse_iso(local.isoformat(timespec="milliseconds")) == ms


@given(st.text(max_size=30))
def test_parse_iso_refuses_text_without_an_offset(text):
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        with pytest.raises(ValueError):
            siem.parse_iso(text)
        return
    if when.tzinfo is None:
        with pytest.raises(ValueError):
            siem.parse_iso(text)


@pytest.mark.parametrize("fmt", ["jsonl", "ecs", "ocsf"])
def test_the_fast_encoder_writes_the_documented_mapping_byte_for_byte(tiny, fmt):
    from snoopbench.benchmarks.dataset import iter_event_batches, open_dataset

    to_doc = {"ocsf": lambda r: siem.ocsf(r, "9.9")}.get(fmt, siem.DOCUMENTS[fmt])
    for _, batch in iter_event_batches(open_dataset(tiny).parts, list(siem.COLUMNS), 4000):
        fast = siem.encode_batch(batch, fmt, "9.9")
        assert fast == [siem.dumps(to_doc(r)) for r in siem.batch_rows(batch)]


def test_strings_that_need_escaping_survive(tmp_path):
    batch = pa.RecordBatch.from_pylist([{
        "event_id": 7, "ts": 1_700_000_000_123, "user_id": 3, "system": "PNC", "action": "view",
        "entity_type": "person", "entity_id": 9, "reference": 'a "quoted" ref\\ with ] and é\n',
        "workstation_id": 4}], schema=pa.schema([f for f in siem.EVENTS.schema]))
    for fmt in ("jsonl", "ecs", "ocsf"):
        line = siem.encode_batch(batch, fmt)[0]
        assert "\n" not in line
        back = siem.read_record(json.loads(line), fmt)
        assert back["reference"] == batch.column("reference")[0].as_py()
        assert back["ts"] == 1_700_000_000_123
    message = siem.syslog(next(siem.batch_rows(batch)))
    assert r'reference="a \"quoted\" ref\\ with \] and é' in message
    assert siem.syslog_batch(batch) == [message]


@pytest.mark.parametrize("fmt", [None, "ecs"])
def test_the_fast_syslog_writer_matches_the_documented_message(tiny, fmt):
    from snoopbench.benchmarks.dataset import iter_event_batches, open_dataset

    for _, batch in iter_event_batches(open_dataset(tiny).parts, list(siem.COLUMNS), 4000):
        bodies = None if fmt is None else siem.encode_batch(batch, fmt)
        want = [siem.syslog(r, None if bodies is None else bodies[i])
                for i, r in enumerate(siem.batch_rows(batch))]
        assert siem.syslog_batch(batch, bodies) == want
