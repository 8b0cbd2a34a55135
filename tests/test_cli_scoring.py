"""The scoring commands through the console-script entry point (exit codes, output, --json)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("snoopbench.benchmarks.cli.data")  # the CLI package imports the data commands too

from snoopbench.benchmarks.cli import main  # noqa: E402
from snoopbench.benchmarks.results import CONTRACT_KEYS  # noqa: E402

from fake_detectors import register_fakes  # noqa: E402

register_fakes()


def test_score_prints_a_row_per_detector_and_writes_json(synthetic_dataset, tmp_path, capsys):
    out = tmp_path / "results.json"
    code = main(["score", str(synthetic_dataset), "--detector", "fake_raise",
                 "--detector", "random:seed=2", "--budget", "10", "--json", str(out),
                 "--timeout", "30"])
    text = capsys.readouterr().out
    assert code == 0
    for name in ("fake_raise", "random:seed=2", "null", "error", "recall by misuse kind"):
        assert name in text
    data = json.loads(out.read_text())
    assert data["budget"] == 10.0 and len(data["detectors"]) == 3
    assert all(set(CONTRACT_KEYS) <= set(row) for row in data["detectors"])


def test_a_sealed_dataset_without_truth_exits_2_and_writes_nothing(sealed_dataset, tmp_path,
                                                                    capsys):
    data, truth = sealed_dataset
    out = tmp_path / "results.json"
    assert main(["score", str(data), "--detector", "null", "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "sealed" in err and "--truth" in err and "Traceback" not in err
    assert not out.exists()
    assert main(["score", str(data), "--truth", str(truth), "--json", str(out)]) == 0
    assert out.exists()


def test_unknown_detector_exits_2(synthetic_dataset, capsys):
    assert main(["score", str(synthetic_dataset), "--detector", "nope"]) == 2
    assert "unknown detector 'nope'" in capsys.readouterr().err


def test_score_alerts_reports_the_budget_the_alerts_amount_to(synthetic_dataset, tmp_path,
                                                              capsys):
    alerts = tmp_path / "alerts.csv"
    alerts.write_text("user_id,date\n12,2024-03-27\n7,2024-03-28\n1,2024-03-28\n")
    out = tmp_path / "alerts.json"
    assert main(["score-alerts", str(synthetic_dataset), str(alerts), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 alerts (user-days) over 8 days" in text
    row = json.loads(out.read_text())["detectors"][0]
    assert row["n_alerts"] == 3 and row["recall"] == pytest.approx(2 / 5)
    assert row["alert_budget"] == pytest.approx(3 / 8 / 50 * 1000)


def test_detectors_list_shows_the_baselines(capsys):
    assert main(["detectors", "list"]) == 0
    text = capsys.readouterr().out
    assert "null" in text and "random" in text and "builtin" in text
