"""assess: end to end on a tiny world, determinism, routes, reactive reports kept out of the data,
and a failing detector reported in its regime's row while the rest finish."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snoopbench.benchmarks import assess as A
from snoopbench.benchmarks import regimes as R
from snoopbench.benchmarks.cli import main
from snoopbench.simulator.run import simulate

from fake_detectors import register_fakes

register_fakes()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("assess") / "tiny"
    simulate("tiny", out, days=40)
    return out


def _regime(tmp_path: Path, name: str, body: str) -> R.Regime:
    f = tmp_path / f"{name}.toml"
    f.write_text(f'format = "snoopbench/regime/v1"\nname = "{name}"\n' + body)
    return R.load(f)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_assess_end_to_end_writes_json_and_report(tmp_path, capsys):
    out, rep = tmp_path / "a.json", tmp_path / "rep"
    code = main(["assess", "tiny", "--days", "40", "--seeds", "2", "-r", "none", "-r", "rules-light",
                 "--compare", "published", "--json", str(out), "--report", str(rep)])
    text = capsys.readouterr().out
    assert code == 0 and "misusers found" in text and "published counts" in text
    data = json.loads(out.read_text())
    assert data["format"] == "snoopbench/assessment/v1" and data["seeds"] == [20250303, 20250304]
    assert [r["regime"] for r in data["regimes"]] == ["none", "rules-light"]
    for run in data["runs"]:
        assert run["active"] > 0
        assert sum(run[f"found_{r}"] for r in A.FOUND_BY) == run["found"]
        assert run["found"] + run["never_found"] == run["active"]
        assert sum(run[f"outcome_{o}"] for o in R.OUTCOMES) == run["found"]
    none = [r for r in data["runs"] if r["regime"] == "none"]
    assert all(r["found_alert"] == 0 and r["found_audit"] == 0 for r in none)
    light = data["regimes"][1]["figures"]
    assert light["reviewed_per_day"]["mean"] > 0
    assert {p["force"] for p in data["published"]} == {"Surrey", "Met"}
    assert (rep / "index.html").read_text().count("<table>") >= 4
    assert json.loads((rep / "assessment.json").read_text()) == data


def test_same_seed_same_numbers_and_the_dataset_is_left_untouched(world, tmp_path):
    regimes = [R.load(R.find("rules-light")), _regime(tmp_path, "loud", (
        "[audits]\nshare = 0.2\nwindow_days = 30\n[reactive.partner.complaint]\nprobability = 1.0\n"))]
    before = _snapshot(world)
    a = [r.to_json() for r in A.assess_dataset(world, regimes, 7)]
    b = [r.to_json() for r in A.assess_dataset(world, regimes, 7)]
    c = [r.to_json() for r in A.assess_dataset(world, regimes, 8)]
    assert a == b
    assert a != c  # another seed, other draws
    # reactive reports are truth only: nothing is written into the dataset (events/, context/, truth/)
    assert _snapshot(world) == before
    for f in [*(world / "events").rglob("*.parquet"), *(world / "context").rglob("*.parquet")]:
        import pyarrow.parquet as pq

        names = set(pq.read_schema(f).names)
        assert not names & {"complaint", "intelligence", "route", "reported_at"}


def test_routes_follow_their_probabilities(world, tmp_path):
    sure = "".join(f"[reactive.{k}.complaint]\nprobability = 1.0\ndelay = \"fixed\"\ndelay_mean_days = 0.0\n"
                   for k in ("family", "partner", "colleague", "neighbour", "personal_dispute", "pursuit",
                             "curiosity", "leak_criminal", "leak_press", "media_exfiltration"))
    never = "".join(f"[reactive.{k}]\ncomplaint.probability = 0.0\nintelligence.probability = 0.0\n"
                    f"colleague.probability = 0.0\npublic.probability = 0.0\n"
                    for k in ("family", "partner", "colleague", "neighbour", "personal_dispute", "pursuit",
                              "curiosity", "leak_criminal", "leak_press", "media_exfiltration"))
    all_found, dark = A.assess_dataset(world, [_regime(tmp_path, "sure", sure),
                                               _regime(tmp_path, "never", never)], 1)
    assert all_found.found == all_found.active == all_found.found_by["complaint"]
    assert dark.found == 0 and dark.active == all_found.active
    # a complaint on the last day of the last episode, with no delay: found within the period
    assert min(all_found.days_to_find) >= 0


def test_audits_of_every_user_find_misuse_in_their_window(world, tmp_path):
    quiet = "".join(f"[reactive.{k}]\ncomplaint.probability = 0.0\nintelligence.probability = 0.0\n"
                    f"colleague.probability = 0.0\npublic.probability = 0.0\n"
                    for k in ("family", "partner", "colleague", "neighbour", "personal_dispute", "pursuit",
                              "curiosity", "leak_criminal", "leak_press", "media_exfiltration"))
    run, = A.assess_dataset(world, [_regime(tmp_path, "all", quiet + (
        "[audits]\nshare = 1.0\nperiod = \"month\"\nwindow_days = 30\nhit_rate = 1.0\n"))], 1)
    assert run.audited == 300  # one month-end in 38 days after warm-up
    assert 0 < run.found == run.found_by["audit"] <= run.active


def test_a_failing_detector_is_reported_in_its_regime_and_the_others_finish(world, tmp_path):
    bad = _regime(tmp_path, "bad", '[proactive]\ndetectors = ["fake_raise", "relationship"]\n'
                                   'review_per_day = 3.0\n')
    good = _regime(tmp_path, "good", '[proactive]\ndetectors = ["relationship"]\nreview_per_day = 3.0\n')
    r_bad, r_good = A.assess_dataset(world, [bad, good], 1, timeout=60)
    status = {d["name"]: d["status"] for d in r_bad.detectors}
    assert status == {"fake_raise": "error", "relationship": "ok"}
    assert r_bad.reviewed == r_good.reviewed > 0  # the working detector still fed the reviewers
    summary = A.summarise([r_bad])
    assert "fake_raise" in summary["detector_failures"]
    assert "boom" in summary["detector_failures"]["fake_raise"][0]["error"]


def test_review_takes_each_days_best_alerts_up_to_capacity():
    from snoopbench.benchmarks.metrics import user_day_keys

    k1 = user_day_keys(np.array([1, 2, 3, 1]), np.array([10, 10, 10, 11]))
    k2 = user_day_keys(np.array([4, 2]), np.array([10, 10]))
    reg = R.load(R.find("rules-light"))
    got = A._review(reg, 2, [(k1, np.array([0.9, 0.5, 0.1, 0.3])), (k2, np.array([0.8, 0.7]))])
    # day 10: each detector's best first (user 1, then user 4); day 11: user 1
    assert sorted(got.tolist()) == sorted(user_day_keys(np.array([1, 4, 1]), np.array([10, 10, 11])).tolist())
    # half an alert a day: every other day reviews one
    half = A._review(reg, 0.5, [(user_day_keys(np.ones(4, int), np.arange(10, 14)), np.ones(4))])
    assert len(half) == 2


def test_published_counts_load_and_compare():
    counts = A.load_published()
    assert {(c["force"], c["count"]) for c in counts} >= {("Surrey", 50), ("Met", 18)}
    reg = R.load(R.find("rules-light"))

    def summary(per_year: float, share: float) -> dict:
        return {"regime": reg.name,
                "figures": {"disciplined_share": {"mean": share, "low": share / 2, "high": share * 1.5}},
                "per_year": {"disciplined": {"mean": per_year, "low": per_year * 0.8, "high": per_year * 1.2},
                             "active": {"mean": per_year / share, "low": None, "high": None}}}

    # the expected count rises with the intensity: 0 (reactive only) gives 5 a year, 8x gives 80
    by_force = {(0, reg.name, f): summary(5 + 75 * f / 8, 0.1) for f in A.INTENSITIES}
    rows = A.compare_published([reg], counts[:1], by_force)
    r = rows[0]
    assert r["model"]["mean"] == pytest.approx((5 + 75 / 8) * 2)
    # 50 disciplined in 3,600 staff over 2 years, 10% of misusers disciplined: 69 per 1,000 a year
    assert r["misuse_per_1000_staff_year"]["mean"] == pytest.approx(50 / 7200 * 1000 / 0.1)
    assert r["misuse_per_1000_staff_year"]["low"] < r["misuse_per_1000_staff_year"]["mean"] < \
        r["misuse_per_1000_staff_year"]["high"]
    # 50 in two years is 25 a year: 5 + 75 f / 8 = 25 at f = 2.13
    x = r["intensity"]
    assert x["mean"] == pytest.approx(20 * 8 / 75, rel=1e-6)
    assert 0 < x["low"] < x["mean"] < x["high"]
    assert x["settings"]["review_per_day"] == pytest.approx(5 * x["mean"])
    # a count below what reactive routes alone give, and one beyond the grid
    low = A.compare_published([reg], [{**counts[0], "count": 2}], by_force)[0]["intensity"]
    assert low["mean"] == 0.0 and low["below_reactive"]
    high = A.compare_published([reg], [{**counts[0], "count": 5000}], by_force)[0]["intensity"]
    assert high["above_grid"] and high["mean"] is None


def test_an_absolute_review_capacity_stays_absolute_at_each_published_forces_size(world, tmp_path):
    """A force 10 times the size with the same 5 alerts a day reviews a tenth as much per member of
    staff; with 5 per 1,000 staff it reviews the same share, and the runs are identical."""
    absolute = _regime(tmp_path, "abs", '[proactive]\ndetectors = ["volume"]\nreview_per_day = 5.0\n')
    per_staff = _regime(tmp_path, "rel", '[proactive]\ndetectors = ["volume"]\nreview_per_1000_staff = 5.0\n')
    runs = A.assess_dataset(world, [], 3, variants=[("a1", absolute, 1.0), ("a10", absolute, 10.0),
                                                    ("r1", per_staff, 1.0), ("r10", per_staff, 10.0)])
    a1, a10, r1, r10 = runs
    assert a1.reviewed > 0 and a10.reviewed < a1.reviewed
    assert a10.reviewed == pytest.approx(a1.reviewed / 10, abs=a1.n_days)
    assert r1.reviewed == r10.reviewed and r1.found_by == r10.found_by


def test_more_intensity_never_finds_fewer(world, tmp_path):
    """Common random numbers: a larger audit share audits a superset and more review capacity
    reviews a superset, so findings by those routes never fall as intensity rises."""
    reg = _regime(tmp_path, "both", '[proactive]\ndetectors = ["volume", "off_shift"]\nreview_per_day = 1.0\n'
                  '[audits]\nshare = 0.05\nwindow_days = 30\nhit_rate = 0.7\n')
    variants = [(f, A.at_intensity(reg, f), 1.0) for f in A.INTENSITIES]
    runs = A.assess_dataset(world, [], 11, variants=variants)
    audit = [r.found_by["audit"] + r.found_by["alert"] for r in runs]
    assert audit == sorted(audit) and audit[0] == 0 and audit[-1] > 0
    assert [r.reviewed for r in runs] == sorted(r.reviewed for r in runs)


def test_repeat_offenders_offend_again_after_their_first_episode(tmp_path):
    import pyarrow.parquet as pq

    scn = tmp_path / "repeat.toml"
    scn.write_text('format = "snoopbench/scenario/v1"\nextends = "tiny"\nname = "tiny-repeat"\n'
                   "[misuse.kinds.curiosity]\nrepeat_share = 0.9\nrepeat_gap_days_mean = 3.0\n")
    simulate(scn, tmp_path / "w", days=30)
    t = pq.read_table(tmp_path / "w" / "truth" / "episodes.parquet").to_pylist()
    cur = [e for e in t if e["kind"] == "curiosity"]
    by_actor: dict[int, list] = {}
    for e in sorted(cur, key=lambda e: e["start"]):
        by_actor.setdefault(e["actor_id"], []).append(e)
    repeated = [eps for eps in by_actor.values() if len(eps) > 1]
    assert repeated, "expected some curiosity misusers to offend again"
    for eps in repeated:
        assert len({e["skill"] for e in eps}) == 1
    # the other kinds ask for no repeats: one episode per actor and kind
    others = [(e["kind"], e["actor_id"]) for e in t if e["kind"] != "curiosity"]
    assert len(others) == len(set(others))


KINDS = ("family", "partner", "colleague", "neighbour", "personal_dispute", "pursuit", "curiosity",
         "leak_criminal", "leak_press", "media_exfiltration")


@pytest.mark.long  # about 2.5 minutes: `pytest -m long`
def test_a_sample_of_the_force_scaled_up_falls_within_the_whole_forces_interval(tmp_path):
    """The --sample-staff method: 300 staff simulated and scaled by 2 against 600 simulated, five
    seeds each: the scaled means fall within the whole force's seed-to-seed 95% intervals."""
    scn = tmp_path / "rated.toml"
    scn.write_text('format = "snoopbench/scenario/v1"\nextends = "tiny"\nname = "rated"\n'
                   "[force]\nstaff = 600\n"
                   + "".join(f"[misuse.kinds.{k}]\nepisodes = 0\nstaff_share_per_year = 0.06\n" for k in KINDS))
    reg = tmp_path / "busy.toml"
    reg.write_text('format = "snoopbench/regime/v1"\nname = "busy"\n'
                   '[proactive]\ndetectors = ["relationship"]\nreview_per_1000_staff = 4.0\n'
                   '[audits]\nshare = 0.1\nwindow_days = 30\n'
                   + "".join(f"[reactive.{k}.colleague]\nprobability = 0.3\ndelay_mean_days = 5.0\n" for k in KINDS))
    full = A.run_assess(scn, [reg], days=60, seeds=5)
    part = A.run_assess(scn, [reg], days=60, seeds=5, sample_staff=300)
    assert part["staff"] == full["staff"] == 600 and part["simulated_staff"] == 300
    f, s = full["regimes"][0]["figures"], part["regimes"][0]["figures"]
    # counts of misusers active and found, and the share found (never_found, at five seeds, can fall
    # just outside: a sample of half the staff draws its misusers with twice the relative noise)
    for name in ("active", "found", "found_share", "dark_share"):
        assert f[name]["low"] <= s[name]["mean"] <= f[name]["high"], (name, f[name], s[name])
    # the review capacity is the whole force's: 4 alerts a day per 1,000 staff
    assert f["reviewed_per_day"]["mean"] > 1
    assert s["reviewed_per_day"]["mean"] == pytest.approx(f["reviewed_per_day"]["mean"], rel=0.2)


def test_simulating_the_next_world_alongside_gives_the_same_assessment():
    regs = [R.find("none"), R.find("rules-light")]
    a = A.run_assess("tiny", regs, days=35, seeds=2, overlap=True)
    b = A.run_assess("tiny", regs, days=35, seeds=2, overlap=False)
    assert a["runs"] == b["runs"] and a["regimes"] == b["regimes"]
