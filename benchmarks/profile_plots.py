"""PNG plots of a :class:`~benchmarks.profile.Profile` (matplotlib on Agg, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from snoopbench.benchmarks.profile import Profile
from snoopbench.contract.errors import SnoopbenchError
from snoopbench.contract.schema import ROLES

PLOT_FILES = ("events_by_hour.png", "events_per_shift.png", "system_mix.png")


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend; a clear error if the ``plots`` extra is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SnoopbenchError("plots need matplotlib, which is not installed: "
                              "pip install 'snoopbench[plots]'") from exc
    return plt


def write_plots(profile: Profile, out_dir: str | Path) -> list[Path]:
    """Write the three profile plots into ``out_dir`` (created if needed); return their paths."""
    plt = pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{profile.scenario} (seed {profile.seed})"
    paths = []
    for name, draw in zip(PLOT_FILES, (_hours, _per_shift, _systems)):
        fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
        draw(ax, profile)
        ax.set_title(f"{title}: {ax.get_title()}", fontsize=11)
        fig.tight_layout()
        path = out / name
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def _hours(ax: Any, p: Profile) -> None:
    counts = np.asarray(p.events_by_hour, float) / max(p.n_days, 1)
    colours = np.full(24, "#4c72b0", dtype=object)
    colours[int(np.argmax(counts))] = "#c44e52"
    colours[int(np.argmin(counts))] = "#55a868"
    ax.bar(np.arange(24), counts, color=colours)
    lo, hi = p.targets.get("trough_local_hour_range", (1, 7))
    ax.axvspan(lo - 0.5, hi - 0.5, color="#55a868", alpha=0.08,
               label="target window of the quietest hour")
    ax.set_xticks(np.arange(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xlabel(f"local hour ({p.timezone})")
    ax.set_ylabel("events per day")
    ax.set_title("events by hour of day")
    ax.legend(loc="upper left", fontsize=8)


def _per_shift(ax: Any, p: Profile) -> None:
    roles = [r for r in ROLES if r in p.events_per_shift]
    data = [p.events_per_shift[r] for r in roles]
    positive = [np.maximum(d, 1) for d in data]   # a log axis cannot show 0: empty shifts at 1
    ax.boxplot(positive, whis=(5, 95), showfliers=False, widths=0.6,
               medianprops={"color": "#c44e52"})
    ax.set_xticks(np.arange(1, len(roles) + 1), roles)
    targets = p.targets.get("events_per_shift_median", {})
    factor = p.targets.get("events_per_shift_factor_max", 2.0)
    for i, r in enumerate(roles, start=1):
        if r in targets:
            t = targets[r]
            ax.plot([i - 0.35, i + 0.35], [t, t], color="black", lw=1.5)
            ax.fill_between([i - 0.35, i + 0.35], t / factor, t * factor, color="grey",
                            alpha=0.15, lw=0)
    ax.plot([], [], color="black", label="target median")
    ax.fill_between([], [], [], color="grey", alpha=0.15,
                    label=f"target x{1 / factor:g}-x{factor:g}")
    ax.plot([], [], color="#c44e52", label="median (box: quartiles, whiskers: 5th-95th percentile)")
    ax.set_yscale("log")
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, top * 8)   # room for the legend above the boxes
    ax.set_ylabel("events per rostered shift (log)")
    ax.set_title("events per shift by role")
    ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    ax.legend(loc="upper left", fontsize=8)


def _systems(ax: Any, p: Profile) -> None:
    names = list(p.system_mix)
    counts = np.array([p.system_mix[n] for n in names], float)
    share = counts / max(counts.sum(), 1)
    bars = ax.bar(names, share, color="#4c72b0")
    for b, s in zip(bars, share):
        ax.annotate(f"{100 * s:.1f}%", (b.get_x() + b.get_width() / 2, s), ha="center",
                    va="bottom", fontsize=9)
    ax.set_ylabel("share of events")
    ax.set_ylim(0, max(share.max() * 1.15, 0.05) if len(share) else 1)
    ax.set_title(f"system mix ({p.n_events:,} events)")
