"""PNG plots of a :class:`~benchmarks.bench.BenchResult`, three per scenario (matplotlib, Agg).

- recall against budget: each detector's mean recall over seeds at every budget of the sweep,
  with its 95% interval as a band; past :data:`BANDS_UP_TO` detectors the overview drops the
  bands (they would overlap into one smear) and small multiples follow, one panel per detector
  with its band, the baselines and the best detector drawn faintly in each for reference;
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
#: Above this many detectors, the overview has no bands and small multiples are drawn.
BANDS_UP_TO = 6
#: Colours chosen to be told apart (Kelly's colours of maximum contrast, less white, black and
#: grey, which the baselines use; the palest last), and a blue and a teal: 21 distinct.
PALETTE = ("#0067A5", "#BE0032", "#008856", "#F38400", "#875692", "#882D17", "#8DB600",
           "#E68FAC", "#604E97", "#F6A600", "#B3446C", "#2B3D26", "#E25822", "#654522",
           "#1F3A93", "#17A2B8", "#DCD300", "#C2B280", "#F99379", "#A1CAF1", "#F3C300")
#: Markers cycled alongside the colours, so no two detectors look alike even in greyscale.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")
_SMALL = ("recall-vs-budget-panels", "Recall against alert budget, one panel per detector")


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
        plots = list(zip(PLOTS, draws, sizes))
        if len(_working(rows)) > BANDS_UP_TO:
            cols = min(5, len(_working(rows)))
            plots.insert(1, (_SMALL, (_panels, (rows, result.budget, colours)),
                             (3.0 * cols, 2.4 * -(-len(_working(rows)) // cols) + 0.6)))
        for (stem, title), (draw, args), size in plots:
            fig, ax = plt.subplots(figsize=size, dpi=110)
            try:
                draw(ax, *args)
                heading = f"{info.name}: {title.lower()} ({len(info.seeds)} seeds)"
                if draw is _panels:
                    fig.suptitle(heading, fontsize=11, x=0.01, ha="left")
                else:
                    ax.set_title(heading, fontsize=11, loc="left")
                fig.tight_layout()
                path = out / f"{stem}-{slug(info.name)}.png"
                fig.savefig(path, bbox_inches="tight", pad_inches=0.15)
            finally:
                plt.close(fig)
            written[info.name].append((title, path))
    return written


def _colours(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """A fixed (colour, marker) per detector: greys and circles for the baselines, distinct
    colours and a marker cycle for the others (all distinct up to 21 detectors, and the pair
    distinct far beyond)."""
    others = [n for n in names if n not in BASELINES]
    out = {n: (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]) for i, n in enumerate(others)}
    out.update({"null": ("#555555", "o"), "random": ("#999999", "o")})
    return out


def _working(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.n_ok]


def _recall_vs_budget(ax: Any, rows: Sequence[Row], budget: float, colours: dict,
                      bands: bool | None = None, legend: bool = True) -> None:
    budgets: list[float] = []
    working = _working(rows)
    bands = len(working) <= BANDS_UP_TO if bands is None else bands
    for row in working:
        budgets = sorted(set(budgets) | set(_line(ax, row, colours, bands)))
    _budget_axis(ax, budgets, budget)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False,
                  ncol=1 if len(working) <= 14 else 2)


def _line(ax: Any, row: Row, colours: dict, band: bool, faint: bool = False) -> list[float]:
    """One detector's recall against budget (and its band): the budgets drawn."""
    pts = [(b, iv) for b, iv in sorted(row.recall_by_budget.items()) if iv is not None]
    if not pts:
        return []
    x = np.array([b for b, _ in pts])
    colour, marker = colours[row.detector]
    baseline = row.detector in BASELINES
    ax.plot(x, [iv.mean for _, iv in pts], marker=marker, ms=3 if faint else 5,
            lw=1 if faint or baseline else 1.8, ls="--" if baseline else "-",
            color="#bbbbbb" if faint else colour, alpha=0.9, label=short(row.detector),
            zorder=2 if faint else (4 if baseline else 3))
    if band and all(iv.low is not None for _, iv in pts):
        ax.fill_between(x, [iv.low for _, iv in pts], [iv.high for _, iv in pts],
                        color=colour, alpha=0.18, lw=0)
    return x.tolist()


def _panels(ax: Any, rows: Sequence[Row], budget: float, colours: dict) -> None:
    """Small multiples: one panel per working detector, best first, each with its own band;
    the baselines and the best detector in faint grey for reference; shared axes."""
    working = _working(rows)
    fig = ax.figure
    fig.delaxes(ax)
    cols = min(5, len(working))
    grid = fig.subplots(-(-len(working) // cols), cols, sharex=True, sharey=True, squeeze=False)
    refs = [r for r in working if r.detector in BASELINES][:2] + working[:1]
    for i, (panel, row) in enumerate(zip(grid.flat, working)):
        budgets: list[float] = []
        for ref in refs:
            if ref is not row:
                budgets += _line(panel, ref, colours, band=False, faint=True)
        budgets += _line(panel, row, colours, band=True)
        _budget_axis(panel, sorted(set(budgets)), budget, labels=False)
        panel.set_title(f"{i + 1}. {short(row.detector)}", fontsize=8.5, loc="left",
                        color=colours[row.detector][0])
        panel.tick_params(labelsize=7)
    for panel in list(grid.flat)[len(working):]:
        panel.set_axis_off()
    fig.supxlabel("alerts per day per 1,000 staff (log scale)", fontsize=9)
    fig.supylabel("episode recall, mean over seeds, 95% band", fontsize=9)


def _budget_axis(ax: Any, budgets: list[float], budget: float, labels: bool = True) -> None:
    positive = [b for b in budgets if b > 0]
    if positive:
        ax.set_xscale("log")
        ax.set_xticks(positive, [f"{b:g}" for b in positive])
        ax.minorticks_off()
    if budget > 0:
        ax.axvline(budget, color="#333333", lw=0.8, ls=":")
        if labels:
            ax.annotate(f"headline budget {budget:g}", (budget, 0.98), xytext=(4, 0),
                        textcoords="offset points", fontsize=8, va="top",
                        xycoords=("data", "axes fraction"))
    ax.set_ylim(-0.02, 1.02)
    if labels:
        ax.set_xlabel("alert budget: alerts per day per 1,000 staff (log scale)")
        ax.set_ylabel("episode recall (mean over seeds)")
    ax.grid(alpha=0.3)


#: Above this many detectors, the heatmap puts detectors in rows (it would grow too wide).
_HEATMAP_COLUMNS = 10


def _heatmap_size(rows: Sequence[Row]) -> tuple[float, float]:
    kinds = len({k for r in rows for k in r.episodes_by_kind})
    n = len(_working(rows))
    if n > _HEATMAP_COLUMNS:
        return (max(6.0, 3.6 + 0.95 * kinds), max(3.0, 1.6 + 0.36 * n))
    return (max(6.0, 3.2 + 1.1 * n), max(3.0, 1.4 + 0.42 * kinds))


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
    flip = len(cols) > _HEATMAP_COLUMNS  # detectors in rows
    image = ax.imshow(np.ma.masked_invalid(share.T if flip else share), cmap="Blues", vmin=0,
                      vmax=1, aspect="auto")
    for j, row in enumerate(cols):
        for i, kind in enumerate(kinds):
            n = row.episodes_by_kind.get(kind, 0)
            text = f"{row.caught_by_kind.get(kind, 0)}/{n}" if n else "–"
            dark = n and share[i, j] > 0.6
            ax.text(*((i, j) if flip else (j, i)), text, ha="center", va="center", fontsize=8,
                    color="white" if dark else "#222222")
    names = [short(r.detector) for r in cols]
    kind_names = [f"{k.replace('_', ' ')} ({totals[k]})" for k in kinds]
    ax.set_xticks(range(len(kinds) if flip else len(cols)), kind_names if flip else names,
                  rotation=30, ha="right", fontsize=9)
    ax.set_yticks(range(len(cols) if flip else len(kinds)), names if flip else kind_names,
                  fontsize=9)
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
        colour, marker = colours[row.detector]
        ax.scatter(days, y + jitter, s=28, alpha=0.75, color=colour, marker=marker, lw=0,
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
