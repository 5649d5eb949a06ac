"""Figures for the benchmark pages, drawn from the benchmarks' saved JSON.

Reads the JSON that ``bench_real_data.py --json`` and
``bench_time_to_quality.py --json`` write, from ``--data`` (by default
``docs/benchmarks/data/``: ``real_data.json`` and ``time_to_quality.json``),
and writes PNG figures into ``--out`` (by default
``docs/benchmarks/images/``):

- ``real_data_accuracy.png``: ExtraTrees test accuracy against ``k``, one
  panel per data set, one line per method (mean over the seeds), the
  ``k``-random-columns floor in grey with its range over the seeds, and
  the accuracy of all columns;
- ``time_to_quality.png``: quality (relevant columns found on the
  MADELON-like data, ExtraTrees accuracy elsewhere) against fit time, log
  scale, one panel per data set; bars give the range over the seeds;
- ``time_to_quality_ratios.png``: each method's fit time over each
  sk_memsel selector's, measured in the same run (median over the seeds).

sk_memsel's selectors are drawn thick, in warm colours. A file that is
missing is skipped; methods that did not run (not installed, failed) are
left out. Nothing here imports torch or sk_memsel.

Regenerate the data and the figures from the repository root::

    python benchmarks/bench_real_data.py \\
        --json docs/benchmarks/data/real_data.json \\
        --write docs/benchmarks/real_data.rst
    python benchmarks/bench_time_to_quality.py --seeds 0 --busy 2 \\
        --json docs/benchmarks/data/time_to_quality.json \\
        --write docs/benchmarks/time_to_quality.rst
    python benchmarks/plot_benchmarks.py
"""

import argparse
import json
import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import (
    FixedLocator,
    MaxNLocator,
    NullLocator,
    ScalarFormatter,
)

ROOT = Path(__file__).resolve().parents[1]
DPI = 100
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
}

OURS = ("gates", "gates_avoid", "concrete", "concrete_cls")
#: Labels and colours by method key; an unknown key gets its own name.
LABELS = {
    "gates": "sk_memsel gates",
    "gates_avoid": "sk_memsel gates, redundancy='avoid'",
    "concrete": "sk_memsel concrete",
    "concrete_cls": "sk_memsel concrete (classification)",
    "stg": "stg (STG)",
    "lassonet": "LassoNet",
    "boruta": "Boruta",
    "multisurf": "MultiSURF",
    "hsic": "HSIC Lasso",
    "f_classif": "f_classif",
    "mutual_info": "mutual information",
    "random": "random columns",
    "all": "all columns",
}
COLORS = {
    "gates": "#d62728",
    "gates_avoid": "#7b0000",
    "concrete": "#ff7f0e",
    "concrete_cls": "#8c564b",
    "stg": "#1f77b4",
    "lassonet": "#2ca02c",
    "boruta": "#9467bd",
    "multisurf": "#17becf",
    "hsic": "#bcbd22",
    "f_classif": "#7f7f7f",
    "mutual_info": "#e377c2",
}
MARKERS = {
    "gates": "o",
    "gates_avoid": "h",
    "concrete": "s",
    "concrete_cls": "D",
    "stg": "^",
    "lassonet": "v",
    "boruta": "P",
    "multisurf": "X",
    "hsic": "*",
    "f_classif": "<",
    "mutual_info": ">",
}
DATA_TITLES = {
    "madelon": "MADELON-like data",
    "mnist": "MNIST (5,000 digits)",
    "digits": "digits (8x8)",
}
#: Fit times below this are drawn at it on a log axis (random columns: 0 s).
MIN_SECONDS = 1e-3


def label(method, real_data=False):
    if real_data and method == "concrete":
        return "sk_memsel concrete (unsupervised)"
    return LABELS.get(method, method)


def line_style(method):
    """Thick, marked lines for sk_memsel; thinner ones for the peers."""
    ours = method in OURS
    return {
        "color": COLORS.get(method, "#333333"),
        "marker": MARKERS.get(method, "o"),
        "linewidth": 2.6 if ours else 1.3,
        "markersize": 8 if ours else 5,
        "alpha": 1.0 if ours else 0.85,
        "zorder": 4 if ours else 2,
    }


def new_figure(width, height):
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def savefig(fig, path):
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    print(f"wrote {path}")


# --- real data: accuracy against k ------------------------------------------


def plot_real_data(result, path):
    reports = [r for r in result["reports"] if r["k"]]
    if not reports:
        return
    methods = [m for m in result["args"]["methods"] if m != "random"]
    seeds = {len(r["seeds"]) for r in reports}
    # one panel per data set and one more for the legend
    ncols = min(3, len(reports) + 1)
    nrows = math.ceil((len(reports) + 1) / ncols)
    with matplotlib.rc_context(STYLE):
        fig = new_figure(4.2 * ncols, 3.6 * nrows)
        panels = fig.subplots(nrows, ncols, squeeze=False).ravel()
        axes, spare = panels[: len(reports)], panels[len(reports) :]
        for ax in spare:
            ax.set_axis_off()
        for ax, report in zip(axes, reports, strict=True):
            ks = report["k"]
            summary = report["summary"]
            floor = [summary.get(f"random/{k}", {}).get("accuracies") or [] for k in ks]
            if all(floor):
                mean = [np.mean(a) for a in floor]
                ax.fill_between(
                    ks,
                    [min(a) for a in floor],
                    [max(a) for a in floor],
                    color="0.85",
                    zorder=0,
                )
                ax.plot(ks, mean, color="0.35", linestyle="--", linewidth=2, zorder=1)
            ax.axhline(report["all_accuracy"], color="black", linestyle=":", zorder=1)
            for method in methods:
                points = [
                    (k, summary.get(f"{method}/{k}", {}).get("accuracy_mean"))
                    for k in ks
                ]
                points = [(k, a) for k, a in points if a is not None]
                if points:
                    ax.plot(*zip(*points, strict=True), **line_style(method))
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(FixedLocator(ks))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlim(min(ks) / 1.15, max(ks) * 1.15)
            name = report["data"]
            ax.set_title(
                f"{DATA_TITLES.get(name, name)}\n{report['train_rows']:,} training"
                f" rows x {report['columns']} columns",
                fontsize=11,
            )
            ax.set_xlabel("k (columns kept)")
            ax.set_ylabel("ExtraTrees test accuracy")
            ax.grid(True, color="0.92")
        handles = [Line2D([], [], **line_style(m)) for m in methods]
        labels = [label(m, real_data=True) for m in methods]
        handles += [
            Line2D([], [], color="0.35", linestyle="--", linewidth=2),
            Line2D([], [], color="black", linestyle=":"),
        ]
        labels += ["k random columns (floor, range shaded)", "all columns"]
        spare[0].legend(handles, labels, loc="center", frameon=False)
        counts = " or ".join(map(str, sorted(seeds)))
        seed_text = "one seed" if seeds == {1} else f"mean of {counts} seeds"
        fig.suptitle(f"Accuracy of the k columns each method keeps ({seed_text})")
        savefig(fig, path)


# --- time to quality ------------------------------------------------------------


def by_method(report):
    """Rows that ran, grouped by method, over the seeds."""
    out = {}
    for seed in report["seeds"]:
        for row in seed["rows"]:
            if "accuracy" in row:
                out.setdefault(row["method"], []).append(row)
    return out


def uses_found(report):
    """Whether every row counts the relevant columns found (MADELON-like data)."""
    return all("found" in r for rows in by_method(report).values() for r in rows)


def _spread(values):
    mid = float(np.mean(values))
    return mid, [[mid - min(values)], [max(values) - mid]]


def plot_time_to_quality(result, path):
    reports = [r for r in result["reports"] if by_method(r)]
    if not reports:
        return
    with matplotlib.rc_context(STYLE):
        fig = new_figure(6.2 * len(reports), 5.4)
        axes = fig.subplots(1, len(reports), squeeze=False).ravel()
        shown = []
        for ax, report in zip(axes, reports, strict=True):
            groups = by_method(report)
            found = uses_found(report)
            for method, rows in groups.items():
                values = [r["found"] if found else r["accuracy"] for r in rows]
                if method in ("random", "all"):
                    ax.axhline(
                        np.mean(values),
                        color="0.35" if method == "random" else "black",
                        linestyle="--" if method == "random" else ":",
                        linewidth=2 if method == "random" else 1.2,
                        zorder=1,
                    )
                    shown.append(method)
                    continue
                seconds = [max(r["seconds"], MIN_SECONDS) for r in rows]
                x = float(np.median(seconds))
                y, yerr = _spread(values)
                style = line_style(method)
                ax.errorbar(
                    x,
                    y,
                    xerr=[[x - min(seconds)], [max(seconds) - x]],
                    yerr=yerr,
                    color=style["color"],
                    marker=style["marker"],
                    markersize=style["markersize"] + 4,
                    markeredgecolor="black" if method in OURS else style["color"],
                    markeredgewidth=1.5 if method in OURS else 0.5,
                    linestyle="none",
                    zorder=style["zorder"],
                )
                shown.append(method)
            ax.set_xscale("log")
            ax.set_xlabel("fit time (s, log scale)")
            if found:
                ax.set_ylabel(f"relevant columns found (of {report['k']})")
                ax.set_ylim(-0.5, report["k"] + 1)
                ax.yaxis.set_major_locator(
                    MaxNLocator(integer=True, steps=[1, 2, 5, 10])
                )
            else:
                ax.set_ylabel("ExtraTrees test accuracy")
            name = report["data"]
            ax.set_title(f"{DATA_TITLES.get(name, name)}, k={report['k']}")
            ax.grid(True, which="major", color="0.92")
        order = [m for m in [*LABELS, *shown] if m in shown]
        order = list(dict.fromkeys(order))
        handles, labels = [], []
        for method in order:
            if method == "random":
                handles.append(Line2D([], [], color="0.35", linestyle="--", lw=2))
                labels.append("k random columns (floor, not a fit)")
            elif method == "all":
                handles.append(Line2D([], [], color="black", linestyle=":"))
                labels.append("all columns (not timed)")
            else:
                style = line_style(method)
                handles.append(
                    Line2D(
                        [],
                        [],
                        color=style["color"],
                        marker=style["marker"],
                        markersize=style["markersize"] + 2,
                        markeredgecolor="black" if method in OURS else style["color"],
                        linestyle="none",
                    )
                )
                labels.append(label(method))
        fig.legend(handles, labels, loc="outside lower center", ncols=4)
        fig.suptitle(
            "Time to quality: up and to the left is better (sk_memsel outlined)"
        )
        savefig(fig, path)


def plot_time_ratios(result, path):
    reports = [r for r in result["reports"] if by_method(r)]
    ours = [m for m in ("gates", "concrete") if any(m in by_method(r) for r in reports)]
    if not reports or not ours:
        return
    with matplotlib.rc_context(STYLE):
        fig = new_figure(6.2 * len(reports), 5.0)
        axes = fig.subplots(1, len(reports), squeeze=False).ravel()
        height = 0.8 / len(ours)
        for ax, report in zip(axes, reports, strict=True):
            groups = by_method(report)
            methods = [
                m for m in groups if m not in ("random", "all") and m not in ours
            ]
            ratios = {
                (m, o): [r.get(f"ratio_{o}") for r in groups[m]]
                for m in methods
                for o in ours
            }
            ratios = {
                key: float(np.median([v for v in values if v]))
                for key, values in ratios.items()
                if any(values)
            }
            # slowest at the top
            methods.sort(key=lambda m: max(ratios.get((m, o), 0) for o in ours))
            for j, o in enumerate(ours):
                # the first selector's bar on top of each pair
                offset = ((len(ours) - 1) / 2 - j) * height
                ys = [i + offset for i in range(len(methods))]
                values = np.array([ratios.get((m, o), np.nan) for m in methods])
                # bars grow from 1 (as fast): right is slower, left faster
                ax.barh(
                    ys,
                    values - 1,
                    left=1,
                    height=height,
                    color=COLORS[o],
                    label=f"time / time of {LABELS[o]}",
                )
                for y, v in zip(ys, values, strict=True):
                    if np.isfinite(v):
                        ax.text(
                            v * (1.1 if v >= 1 else 1 / 1.1),
                            y,
                            ratio_text(v),
                            va="center",
                            ha="left" if v >= 1 else "right",
                            fontsize=9,
                        )
            ax.axvline(1, color="black", linewidth=1)
            ax.set_xscale("log")
            finite = [v for v in ratios.values() if v > 0]
            if finite:
                ax.set_xlim(min(min(finite) / 8, 0.1), max(max(finite) * 6, 10))
            ax.set_yticks(range(len(methods)), [label(m) for m in methods])
            ax.set_xlabel("fit time / sk_memsel's fit time (log scale)")
            for x, text, ha in (
                (0.99, "slower \u2192", "right"),
                (0.01, "\u2190 faster", "left"),
            ):
                ax.text(
                    x,
                    0.01,
                    text,
                    transform=ax.transAxes,
                    ha=ha,
                    va="bottom",
                    fontsize=9,
                    color="0.3",
                )
            name = report["data"]
            ax.set_title(f"{DATA_TITLES.get(name, name)}, k={report['k']}")
            ax.grid(True, axis="x", color="0.92")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(ours))
        fig.suptitle("Fit time of each peer relative to sk_memsel's selectors")
        savefig(fig, path)


# --- command line ---------------------------------------------------------------


def ratio_text(v):
    if v >= 10:
        return f"{v:.0f}x"
    if v >= 1:
        return f"{v:.1f}x"
    return f"{v:.2g}x"


def load(path):
    if not path.exists():
        print(f"skipped {path}: not found")
        return None
    with open(path) as f:
        return json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT / "docs" / "benchmarks" / "data",
        help="folder holding real_data.json and time_to_quality.json",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "benchmarks" / "images",
        help="folder the PNG files are written to",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    real = load(args.data / "real_data.json")
    if real:
        plot_real_data(real, args.out / "real_data_accuracy.png")
    ttq = load(args.data / "time_to_quality.json")
    if ttq:
        plot_time_to_quality(ttq, args.out / "time_to_quality.png")
        plot_time_ratios(ttq, args.out / "time_to_quality_ratios.png")


if __name__ == "__main__":
    main()
