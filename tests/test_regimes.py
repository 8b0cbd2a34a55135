"""Regime files: shipped examples, extends, and every kind of bad input (exit 2, nothing written)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from snoopbench.benchmarks import regimes as R
from snoopbench.benchmarks.cli import main

from fake_detectors import register_fakes

register_fakes()


def test_shipped_regimes_load_and_range_from_nothing_to_a_team():
    names = R.names()
    assert {"none", "monitoring-team"} <= set(names)
    loaded = {n: R.load(R.find(n)) for n in names}
    assert loaded["none"].detectors == [] and loaded["none"].data["audits"]["share"] == 0
    team = loaded["monitoring-team"]
    assert len(team.detectors) >= 8 and team.capacity(3600) == pytest.approx(7.2)
    # extends: rules-light inherits audit-2pc's audits and the published outcome shares
    assert loaded["rules-light"].data["audits"] == loaded["audit-2pc"].data["audits"]
    assert loaded["none"].data["outcomes"] == R.PUBLISHED_OUTCOMES
    assert abs(sum(R.PUBLISHED_OUTCOMES.values()) - 1) < 1e-9


def test_a_kind_not_named_gets_defaults_and_a_named_one_merges(tmp_path):
    f = tmp_path / "r.toml"
    f.write_text('format = "snoopbench/regime/v1"\nname = "x"\n'
                 '[reactive.partner.complaint]\nprobability = 0.5\n')
    g = R.load(f)
    assert g.route("partner", "complaint")["probability"] == 0.5
    assert g.route("partner", "complaint")["delay_mean_days"] == 60.0
    assert g.route("leak_criminal", "intelligence")["probability"] == 0.15


BAD = {
    "unknown detector": ('[proactive]\ndetectors = ["nope"]\nreview_per_day = 1.0\n', "proactive.detectors[0]"),
    "probability above 1": ("[audits]\nhit_rate = 1.5\n", "audits.hit_rate"),
    "route probability below 0": ("[reactive.partner.complaint]\nprobability = -0.1\n",
                                  "reactive.partner.complaint.probability"),
    "shares not summing to 1": ("[outcomes]\nno_action = 0.9\n", "outcomes"),
    "capacity below zero": ('[proactive]\ndetectors = ["vip"]\nreview_per_day = -1.0\n',
                            "proactive.review_per_day"),
    "unknown key": ("[audits]\nsharee = 0.1\n", "audits.sharee"),
    "unknown kind": ("[reactive.burglary.complaint]\nprobability = 0.1\n", "reactive.burglary"),
    "extends missing": ('extends = "no-such-regime"\n', "extends"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_regime_exits_2_naming_file_and_key_and_writes_nothing(case, tmp_path, capsys):
    body, key = BAD[case]
    f = tmp_path / "bad.toml"
    f.write_text('format = "snoopbench/regime/v1"\nname = "bad"\n' + body)
    out, rep = tmp_path / "out.json", tmp_path / "rep"
    assert main(["assess", "tiny", "--days", "40", "-r", str(f), "--json", str(out),
                 "--report", str(rep)]) == 2
    err = capsys.readouterr().err
    assert str(f) in err.replace("\n", "") and key in err.replace("\n", "")
    assert "Traceback" not in err
    assert not out.exists() and not rep.exists()


def test_a_period_longer_than_the_scenario_exits_2(tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["assess", "tiny", "--days", "7", "-r", "audit-2pc", "--json", str(out)]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert "audit-2pc.toml" in err and "audits.period" in err
    assert not out.exists()


def test_unknown_regime_name_exits_2(capsys):
    assert main(["assess", "tiny", "--days", "40", "-r", "no-such"]) == 2
    assert "no shipped regime" in capsys.readouterr().err


@settings(max_examples=40, deadline=None)
@given(p=st.floats(allow_nan=False, allow_infinity=False, min_value=-2, max_value=2))
def test_probabilities_are_accepted_exactly_within_0_and_1(p, tmp_path_factory):
    f = tmp_path_factory.mktemp("h") / "r.toml"
    f.write_text(f'format = "snoopbench/regime/v1"\nname = "h"\n[proactive.confirm]\nexpert = {p!r}\n')
    if 0 <= p <= 1:
        assert R.load(f).data["proactive"]["confirm"]["expert"] == p
    else:
        with pytest.raises(R.RegimeError) as exc:
            R.load(f)
        assert exc.value.key == "proactive.confirm.expert" and exc.value.exit_code == 2
