"""PNG plots of a :class:`~benchmarks.bench.BenchResult`, three per scenario (matplotlib, Agg).

- recall against budget: each detector's mean recall over seeds at every budget of the sweep,
  with its 95% interval as a band;
- recall by misuse kind: a heatmap of the share of episodes caught, pooled over seeds;
- time to detect: every caught episode's days to detection, pooled over seeds, with the median.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from snoopbench.benchmarks.bench import BenchResult, Row, slug
from snoopbench.benchmarks.harness import BASELINES
from snoopbench.benchmarks.profile_plots import pyplot

#: The plots of one scenario: (file name stem, title).
PLOTS = (
    ("recall-vs-budget", "Recall against alert budget"),
    ("recall-by-kind", "Recall by misuse kind"),
    ("time-to-detect", "Time to detect"),
)
_LABEL_CHARS = 28


def short(name: str) -> str:
    """A detector name short enough for an axis label ("$" escaped: no mathtext)."""
    name = name if len(name) <= _LABEL_CHARS else name[: _LABEL_CHARS - 1] + "…"
    return name.replace("$", r"\$")


def write_plots(result: BenchResult, out_dir: str | Path) -> dict[str, list[tuple[str, Path]]]:
    """Write every scenario's plots into ``out_dir``; return, per scenario, (title, path) pairs."""
    plt = pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[tuple[str, Path]]] = {}
    for info in result.scenarios:
        rows = result.rows(info.name)
        colours = _colours([r.detector for r in rows])
        draws = ((_recall_vs_budget, (rows, result.budget, colours)),
                 (_recall_by_kind, (rows,)),
                 (_time_to_detect, (rows, colours)))
        sizes = ((9.0, 5.2), _heatmap_size(rows), (9.0, 0.9 + 0.5 * max(len(rows), 2)))
        written[info.name] = []
        for (stem, title), (draw, args), size in zip(PLOTS, draws, sizes):
            fig, ax = plt.subplots(figsize=size, dpi=110)
            try:
                draw(ax, *args)
                ax.set_title(f"{info.name}: {title.lower()} ({len(info.seeds)} seeds)",
                             fontsize=11, loc="left")
                fig.tight_layout()
                path = out / f"{stem}-{slug(info.name)}.png"
                fig.savefig(path, bbox_inches="tight", pad_inches=0.15)
            finally:
                plt.close(fig)
            written[info.name].append((title, path))
    return written


def _colours(names: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per detector: greys for the baselines, tab10 for the others."""
    import matplotlib

    cycle = matplotlib.colormaps["tab10"].colors
    others = [n for n in names if n not in BASELINES]
    out: dict[str, Any] = {n: cycle[i % len(cycle)] for i, n in enumerate(others)}
    out.update({"null": "#555555", "random": "#999999"})
    return out


def _working(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.n_ok]


def _recall_vs_budget(ax: Any, rows: Sequence[Row], budget: float, colours: dict) -> None:
    budgets: list[float] = []
    for row in _working(rows):
        pts = [(b, iv) for b, iv in sorted(row.recall_by_budget.items()) if iv is not None]
        if not pts:
            continue
        x = np.array([b for b, _ in pts])
        budgets = sorted(set(budgets) | set(x.tolist()))
        mean = np.array([iv.mean for _, iv in pts])
        baseline = row.detector in BASELINES
        ax.plot(x, mean, marker="o", ms=4, lw=1.2 if baseline else 2,
                ls="--" if baseline else "-", color=colours[row.detector],
                label=short(row.detector), zorder=4 if baseline else 3)
        if all(iv.low is not None for _, iv in pts):
            ax.fill_between(x, [iv.low for _, iv in pts], [iv.high for _, iv in pts],
                            color=colours[row.detector], alpha=0.15, lw=0)
    positive = [b for b in budgets if b > 0]
    if positive:
        ax.set_xscale("log")
        ax.set_xticks(positive, [f"{b:g}" for b in positive])
        ax.minorticks_off()
    if budget > 0:
        ax.axvline(budget, color="#333333", lw=0.8, ls=":")
        ax.annotate(f"headline budget {budget:g}", (budget, 0.98), xytext=(4, 0),
                    textcoords="offset points", fontsize=8, va="top",
                    xycoords=("data", "axes fraction"))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("alert budget: alerts per day per 1,000 staff (log scale)")
    ax.set_ylabel("episode recall (mean over seeds)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)


def _heatmap_size(rows: Sequence[Row]) -> tuple[float, float]:
    kinds = {k for r in rows for k in r.episodes_by_kind}
    return (max(6.0, 3.2 + 1.1 * len(_working(rows))), max(3.0, 1.4 + 0.42 * len(kinds)))


def _recall_by_kind(ax: Any, rows: Sequence[Row]) -> None:
    cols = _working(rows)
    totals: dict[str, int] = {}
    for row in cols:
        for kind, n in row.episodes_by_kind.items():
            totals[kind] = max(totals.get(kind, 0), n)
    kinds = sorted(totals)
    if not cols or not kinds:
        ax.text(0.5, 0.5, "no episodes to catch, or no detector worked", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    share = np.full((len(kinds), len(cols)), np.nan)
    for j, row in enumerate(cols):
        for i, kind in enumerate(kinds):
            n = row.episodes_by_kind.get(kind, 0)
            if n:
                share[i, j] = row.caught_by_kind.get(kind, 0) / n
    image = ax.imshow(np.ma.masked_invalid(share), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for j, row in enumerate(cols):
        for i, kind in enumerate(kinds):
            n = row.episodes_by_kind.get(kind, 0)
            text = f"{row.caught_by_kind.get(kind, 0)}/{n}" if n else "–"
            dark = n and share[i, j] > 0.6
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if dark else "#222222")
    ax.set_xticks(range(len(cols)), [short(r.detector) for r in cols], rotation=30, ha="right",
                  fontsize=9)
    ax.set_yticks(range(len(kinds)),
                  [f"{k.replace('_', ' ')} ({totals[k]})" for k in kinds], fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02,
                       label="share of episodes caught (pooled over seeds)")


def _time_to_detect(ax: Any, rows: Sequence[Row], colours: dict) -> None:
    from matplotlib.ticker import MaxNLocator

    cols = _working(rows)[::-1]  # best at the top
    top = 0.0
    for y, row in enumerate(cols):
        days = np.asarray(row.ttd_days, dtype=float)
        if not days.size:
            ax.text(0.05, y, "none caught", va="center", fontsize=8, color="#777777")
            continue
        # Whole days pile up: spread each day's points evenly in a band (no randomness).
        jitter = np.zeros(len(days))
        for value in np.unique(days):
            at = np.flatnonzero(days == value)
            jitter[at] = np.linspace(-0.25, 0.25, len(at)) if len(at) > 1 else 0.0
        ax.scatter(days, y + jitter, s=28, alpha=0.75, color=colours[row.detector], lw=0,
                   zorder=3)
        median = float(np.median(days))
        ax.plot([median, median], [y - 0.38, y + 0.38], color="black", lw=2, alpha=0.6,
                zorder=2)
        ax.annotate(f"median {median:g} d · {len(days)} caught", (1.0, y), fontsize=8,
                    xycoords=("axes fraction", "data"), xytext=(4, 0),
                    textcoords="offset points", va="center", annotation_clip=False)
        top = max(top, float(days.max()))
    ax.set_yticks(range(len(cols)), [short(r.detector) for r in cols], fontsize=9)
    ax.set_ylim(-0.6, max(len(cols), 1) - 0.4)
    ax.set_xlim(-0.5, max(top, 1.0) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("days from an episode's first event to the first alert that catches it "
                  "(each dot: one caught episode; bar: median)")
    ax.grid(axis="x", alpha=0.3)
