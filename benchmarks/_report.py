"""What the benchmark scripts share to report: facts, JSON, tables, pages.

- machine facts: :func:`machine`, :func:`load_average`, :func:`versions`,
  :func:`git_commit`, and :func:`command` (the command line as run);
  :func:`torch_line` and :func:`cores_text`, the short forms the smaller
  scripts print and save;
- :func:`start` and :func:`finish`: the result dict a run begins with (the
  facts above) and its end (load, total time, JSON, page);
- JSON: :func:`save_json`, and :func:`merge_report` for a file that gathers
  one report per data set from several runs;
- reStructuredText: :func:`list_table` and the cells' formats
  (:func:`spread`, :func:`median`, :func:`rst_text`, :func:`kwargs`), and
  :func:`smoke_warning` for a ``--quick`` run's page;
- the command line: :func:`add_methods`, :func:`add_run_options` and
  :func:`set_threads`, the options the scripts with a page share;
- the docs page: :func:`page_block` puts a run's parts between the
  page's ``.. BEGIN RESULTS`` and ``.. END RESULTS`` lines, and
  :func:`replace_results` writes such a block into the page and keeps the
  rest;
- :func:`busy_processes`: other work on the cores, for the busy timings.

The scripts are run as ``python benchmarks/<script>.py``, which puts this
folder on ``sys.path``: they import this module as ``_report``.
"""

import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
END_MARKER = ".. END RESULTS"


def begin_marker(script):
    """The comment line a page's results start after."""
    return f".. BEGIN RESULTS (written by {script} --write)"


# --- machine facts ------------------------------------------------------------


def machine():
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def machine_text(info):
    """The machine, as the pages' 'Machine:' sentence starts."""
    return (
        f"{info['cpu_count']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"torch {info['torch']} ({info['torch_threads']} threads at start)"
    )


def torch_line():
    """``torch <version>, <n> threads, <cpu>``: what a run prints first."""
    info = machine()
    return f"torch {info['torch']}, {info['torch_threads']} threads, {info['cpu']}"


def cores_text():
    """``<cpu>, <n> cores``: the machine as the smaller reports save it."""
    info = machine()
    return f"{info['cpu']}, {info['cpu_count']} cores"


def load_average():
    """The 1, 5 and 15 minute load averages, rounded to 0.01."""
    return [round(v, 2) for v in os.getloadavg()]


def versions(*dists):
    """``{distribution: version}``, ``None`` for one not installed."""
    out = {}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def _git(*args):
    run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return run.stdout.strip()


def git_commit():
    """The short commit, and whether sk_memsel has uncommitted changes."""
    commit = _git("rev-parse", "--short", "HEAD")
    return commit, bool(_git("status", "--porcelain", "sk_memsel"))


def command(script, argv):
    """The command line as run from the repository root."""
    args = argv if argv is not None else sys.argv[1:]
    return " ".join([f"python benchmarks/{script}", *args])


# --- one run: its facts at the start, its end ---------------------------------


def start(script, argv, args, library_versions, settings):
    """The result dict of a run, with the facts known before it starts.

    Prints the machine and load average; the caller appends one report per
    data set to ``result["reports"]`` and then calls :func:`finish`.
    """
    info, load_start = machine(), load_average()
    print(
        f"torch {info['torch']}, {info['torch_threads']} threads, {info['cpu']}, "
        f"{info['cpu_count']} CPUs; load average {load_start}",
        flush=True,
    )
    return {
        "command": command(script, argv),
        "machine": info,
        "versions": library_versions,
        "load_start": load_start,
        "args": {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(args).items()
        },
        "settings": settings,
        "reports": [],
    }


def finish(result, started, json_path, page, write_page):
    """Add the load and the run's time; write the JSON and the page."""
    result["load_end"] = load_average()
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    print(
        f"\nload average {result['load_end']}; whole run "
        f"{result['total_seconds']:.0f} s",
        flush=True,
    )
    if json_path:
        save_json(json_path, result)
    if page:
        write_page(page, result)
        print(f"wrote {page}")


# --- JSON ---------------------------------------------------------------------


def save_json(path, result, indent=2):
    Path(path).write_text(json.dumps(result, indent=indent) + "\n")


def merge_report(path, report, order):
    """The reports of the JSON file ``path`` with ``report`` put in.

    A report of another data set is kept. An earlier report of the same data
    set with the same seeds (the same splits) gives ``report`` the rows of
    the methods it did not run, each with the commit it was measured at.
    Reports are sorted by their data set's place in ``order``.
    """
    path = Path(path)
    old = json.loads(path.read_text()) if path.exists() else {"reports": []}
    kept = [r for r in old["reports"] if r["data"] != report["data"]]
    earlier = [r for r in old["reports"] if r["data"] == report["data"]]
    if earlier and earlier[0]["seeds"] == report["seeds"]:
        ran = {r["method"] for r in report["rows"]}
        report["rows"] += [
            {"commit": earlier[0]["commit"], **row}
            for row in earlier[0]["rows"]
            if row["method"] not in ran
        ]
    return sorted([*kept, report], key=lambda r: list(order).index(r["data"]))


# --- reStructuredText ---------------------------------------------------------


def list_table(title, header, body, widths=None, keep_trailing_space=False):
    """A ``list-table`` directive, one ``-`` item per cell.

    ``keep_trailing_space`` leaves the space after an empty cell's ``-`` (the
    selection quality page was written so).
    """
    lines = [f".. list-table:: {title}", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(map(str, widths))}")
    lines.append("")
    for row in [header, *body]:
        for i, cell in enumerate(row):
            line = f"   {'* -' if i == 0 else '  -'} {cell}"
            lines.append(line if keep_trailing_space else line.rstrip())
    return "\n".join(lines)


def rst_text(text):
    """Escape what reStructuredText would read as markup inside a cell."""
    return re.sub(r"([\\`*_|])", r"\\\1", str(text))


def spread(values, fmt):
    """The mean and, if they differ, the range of the values."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    if len(values) == 1 or min(values) == max(values):
        return format(values[0], fmt)
    return (
        f"{format(float(np.mean(values)), fmt)} "
        f"({format(min(values), fmt)}–{format(max(values), fmt)})"
    )


def median(values, fmt=None):
    """Median of the values; by default 3 significant figures or so."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    value = float(np.median(values))
    if fmt is None:
        fmt = ".3f" if value < 1 else ".2f" if value < 10 else ".1f"
        fmt = ".0f" if value >= 100 else fmt
    return format(value, fmt)


class Name(str):
    """A string shown without quotes in a call's keyword arguments."""

    def __repr__(self):
        return str(self)


def kwargs(params):
    """``key=value, ...`` as the arguments of a call."""
    return ", ".join(f"{key}={value!r}" for key, value in params.items())


def smoke_warning(*lines):
    """The warning a ``--quick`` run's page starts with; ``lines`` say how."""
    return [".. warning::", "", *(f"   {line}" for line in lines), ""]


# --- the command line ---------------------------------------------------------


def add_methods(parser, methods):
    """``--methods``: a subset of ``methods`` (by default all of them)."""
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(methods),
        default=list(methods),
        metavar="METHOD",
        help=f"subset of {', '.join(methods)} (default: all)",
    )


def add_run_options(parser, quick_help):
    """``--threads``, ``--quick``, ``--json`` and ``--write``."""
    parser.add_argument("--threads", type=int, default=None, help="PyTorch threads")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--write", type=Path, help="rewrite the results part of this .rst page"
    )


def set_threads(args):
    """Apply ``--threads``; ``args.torch_threads``: the count every method
    starts with."""
    if args.threads:
        torch.set_num_threads(args.threads)
    args.torch_threads = torch.get_num_threads()


# --- the docs page ------------------------------------------------------------


def page_block(script, parts, smoke=()):
    """The page's results: ``script``'s begin marker, the warning of a
    ``--quick`` run when ``smoke`` holds its lines (see
    :func:`smoke_warning`), each of ``parts`` followed by a blank line, and
    the end marker."""
    lines = [begin_marker(script), ""]
    if smoke:
        lines += smoke_warning(*smoke)
    for part in parts:
        lines += [part, ""]
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


def write_results(path, block, title, script):
    """:func:`replace_results` between the markers ``script`` writes."""
    replace_results(path, block, title, begin_marker(script))


def replace_results(path, block, title, begin, end=END_MARKER):
    """Put ``block`` between the ``begin`` and ``end`` lines of ``path``.

    The rest of the page, written by hand, is kept; a page without the
    markers gets the block at its end, and a missing page is made with
    ``title``.
    """
    path = Path(path)
    if path.exists():
        text = path.read_text()
    else:
        text = f"{title}\n{'=' * len(title)}\n\n"
    if begin in text and end in text:
        head = text[: text.index(begin)]
        tail = text[text.index(end) + len(end) :].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


@contextlib.contextmanager
def busy_processes(n):
    """Start ``n`` processes spinning a core each; kill them on the way out."""
    procs = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        time.sleep(0.5)  # let them start spinning
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
