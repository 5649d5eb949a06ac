"""The ``sk-memsel`` command line: outputs of ``select`` and ``demo``, and errors."""

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sk_memsel import _selectors
from sk_memsel._cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = ["--max-epochs", "3", "--quiet"]
REPORT_KEYS = {
    "input",
    "target",
    "method",
    "task",
    "k",
    "n_samples",
    "n_features",
    "names",
    "indices",
    "scores",
    "selected",
    "parameters",
    "fit_seconds",
    "n_epochs",
}


def make_table(n=60, seed=0):
    rng = np.random.RandomState(seed)
    df = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"f{i}" for i in range(6)])
    df["flag"] = rng.uniform(size=n) > 0.5  # a boolean feature is numeric
    df["label"] = np.where(df["f1"] + df["f4"] > 0, "yes", "no")
    df["amount"] = 3 * df["f2"] + 0.1 * rng.normal(size=n)
    return df


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables")
    df = make_table()
    df.to_csv(root / "data.csv", index=False)
    df.to_parquet(root / "data.parquet", index=False)
    return root, df


def run(argv, capsys):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


# ---------------------------------------------------------------- select
def test_select_gates_writes_names_table_report_and_plot(tables, tmp_path, capsys):
    root, df = tables
    out_csv, report, plot = (
        tmp_path / "sel.csv",
        tmp_path / "r.json",
        tmp_path / "p.png",
    )
    status, out, err = run(
        [
            "select",
            root / "data.csv",
            "--k",
            "3",
            "--target",
            "label",
            "--output",
            out_csv,
            "--report",
            report,
            "--plot",
            plot,
            *FAST,
        ],
        capsys,
    )
    assert status == 0, err
    names = out.split()
    assert len(names) == 3 and set(names) <= set(df.columns) - {"label"}
    data = json.loads(report.read_text())
    assert REPORT_KEYS <= set(data)
    assert data["method"] == "gates" and data["task"] == "classification"
    assert data["names"] == names
    assert [s["name"] for s in data["selected"]] == names
    assert data["scores"] == sorted(data["scores"], reverse=True)
    features = [c for c in df.columns if c != "label"]
    assert [features[i] for i in data["indices"]] == names
    assert data["parameters"]["k"] == 3 and data["parameters"]["max_epochs"] == 3
    assert 1 <= data["n_epochs"] <= 3  # at most --max-epochs, fewer if it settled
    written = pd.read_csv(out_csv)
    # the selected columns in the input's order, then the target, original values
    assert list(written.columns) == [c for c in df.columns if c in names] + ["label"]
    pd.testing.assert_frame_equal(written, df[list(written.columns)])
    assert plot.read_bytes().startswith(PNG_MAGIC)


def test_select_gates_redundancy_reaches_the_selector(tables, tmp_path, capsys):
    root, df = tables
    report = tmp_path / "r.json"
    argv = ["select", root / "data.csv", "--k", "2", "--target", "label"]
    argv += ["--redundancy", "avoid", "--report", report, *FAST]
    status, out, err = run(argv, capsys)
    assert status == 0, err
    data = json.loads(report.read_text())
    assert data["parameters"]["redundancy"] == "avoid"
    assert data["score"].startswith("gate probability above the gates' median")
    assert len(out.split()) == 2
    assert data["scores"] == sorted(data["scores"], reverse=True)


@pytest.mark.parametrize("method", ["gates", "concrete"])
def test_select_plot_of_thirty_columns(method, tmp_path, monkeypatch, capsys):
    """Every column drawn, selected ones on top, a legend, titles that fit."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgba

    from sk_memsel._cli import _select

    figures = []

    def keep(fig, path):
        figures.append(fig)
        save(fig, path)

    save = _select.save_figure
    monkeypatch.setattr(_select, "save_figure", keep)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 30))
    df = pd.DataFrame(X, columns=[f"feature_{i:02d}" for i in range(30)])
    df["y"] = (X[:, 3] + X[:, 7] - X[:, 12] > 0).astype(int)
    # a long name without spaces: the title must break inside it
    name = "a_rather_long_file_name_for_the_customer_churn_survey_2024_v2.csv"
    df.to_csv(tmp_path / name, index=False)
    plot = tmp_path / "scores.png"
    argv = ["select", tmp_path / name, "--k", "5", "--target", "y"]
    status, out, err = run([*argv, "--method", method, "--plot", plot, *FAST], capsys)
    assert status == 0, err
    assert plot.read_bytes().startswith(PNG_MAGIC)
    (fig,) = figures
    (ax,) = fig.axes
    assert len(ax.patches) == 30
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["selected", "not selected"]
    # a bar and its name are at the same height
    red = to_rgba("tab:red")
    ticks = ax.get_yticklabels()
    names = {round(tick.get_position()[1]): tick.get_text() for tick in ticks}
    centre = {bar: round(bar.get_y() + bar.get_height() / 2) for bar in ax.patches}
    selected = [y for bar, y in centre.items() if bar.get_facecolor() == red]
    others = [y for bar, y in centre.items() if bar.get_facecolor() != red]
    assert len(selected) == 5 and min(selected) > max(others)
    assert {names[y] for y in selected} == set(out.split())  # the printed names
    renderer = FigureCanvasAgg(fig).get_renderer()
    for text in (fig._suptitle, ax.title, legend):
        box = text.get_window_extent(renderer)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, text
        assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, text
    assert "churn" in fig._suptitle.get_text()


def test_select_unsupervised_parquet_uses_concrete(tables, tmp_path, capsys):
    root, df = tables
    numeric = df.drop(columns=["label"])
    numeric.to_parquet(tmp_path / "numeric.parquet", index=False)
    out_pq, report = tmp_path / "sel.parquet", tmp_path / "r.json"
    status, out, err = run(
        [
            "select",
            tmp_path / "numeric.parquet",
            "--k",
            "2",
            "--output",
            out_pq,
            "--report",
            report,
            *FAST,
        ],
        capsys,
    )
    assert status == 0, err
    names = out.split()
    assert len(names) == 2
    data = json.loads(report.read_text())
    assert data["method"] == "concrete" and data["task"] == "unsupervised"
    assert data["target"] is None and 0 <= data["convergence"] <= 1
    assert sorted(pd.read_parquet(out_pq).columns) == sorted(names)
    # three epochs do not converge: the warning is one line on stderr
    assert "Traceback" not in err


def test_select_regression_target_and_concrete_with_target(tables, tmp_path, capsys):
    root, df = tables
    df.drop(columns=["label"]).to_parquet(tmp_path / "numeric.parquet")
    report = tmp_path / "r.json"
    argv = ["select", tmp_path / "numeric.parquet", "--k", "1", "--target", "amount"]
    status, out, err = run([*argv, "--report", report, *FAST], capsys)
    assert status == 0, err
    assert json.loads(report.read_text())["task"] == "regression"
    assert len(out.split()) == 1
    # the concrete selector learns the target too when one is given
    status, out, err = run(
        [*argv, "--method", "concrete", "--task", "regression", "--report", report]
        + FAST,
        capsys,
    )
    assert status == 0, err
    data = json.loads(report.read_text())
    assert data["method"] == "concrete" and data["task"] == "regression"


def test_progress_goes_to_stderr_and_stdout_stays_the_names(tables, capsys):
    root, _ = tables
    argv = ["select", root / "data.csv", "--k", "2", "--target", "label"]
    status, out, err = run([*argv, "--max-epochs", "2", "-v"], capsys)
    assert status == 0, err
    assert len(out.splitlines()) == 2
    assert "epoch" in err and "train_loss" in err  # skorch's table, with -v
    assert "selecting 2 of 8 feature columns" in err
    assert "at most 2 epochs" in err
    assert re.search(r"fitted in [\d.]+ s, [12] epochs\.", err), err


@pytest.mark.parametrize(
    "flags, verbose", [([], 1), (["-v"], 2), (["--verbose"], 2), (["--quiet"], 0)]
)
def test_verbosity_flags_reach_the_selector(
    tables, monkeypatch, capsys, flags, verbose
):
    """Default: one progress line (1); -v: skorch's table per epoch (2)."""
    seen = {}
    real = _selectors.StochasticGatesSelector

    def record(**params):
        seen.update(params)
        return real(**params)

    monkeypatch.setattr(_selectors, "StochasticGatesSelector", record)
    root, _ = tables
    argv = ["select", root / "data.csv", "--k", "2", "--target", "label"]
    status, out, err = run([*argv, "--max-epochs", "1", *flags], capsys)
    assert status == 0, err
    assert seen["verbose"] == verbose
    assert len(out.splitlines()) == 2
    # --quiet: nothing on stderr but warnings and errors
    assert ("selecting 2 of 8" in err) == (verbose > 0), err
    assert ("fitted in" in err) == (verbose > 0), err


# ---------------------------------------------------------------- errors
def bad_inputs(root):
    """``(name, argv, files to write, expected message)`` of every error path."""
    csv = root / "data.csv"
    return [
        ("missing file", ["select", root / "nope.csv", "--k", "2"], "does not exist"),
        ("extension", ["select", root / "data.xlsx", "--k", "2"], "unknown file ext"),
        (
            "target",
            ["select", csv, "--k", "2", "--target", "nope"],
            "'nope' is not in .*'f0', 'f1'",
        ),
        ("non-numeric", ["select", csv, "--k", "2"], "non-numeric .*'label'"),
        (
            "k too large",
            ["select", csv, "--k", "9", "--target", "label"],
            "larger than the 8 feature columns",
        ),
        ("k zero", ["select", csv, "--k", "0", "--target", "label"], "at least 1"),
        ("empty file", ["select", root / "empty.csv", "--k", "1"], "is empty"),
        ("header only", ["select", root / "header.csv", "--k", "1"], "no rows"),
        (
            "target NaN",
            ["select", root / "nan_target.csv", "--k", "1", "--target", "y"],
            "'y' has 1 missing",
        ),
        (
            "feature NaN",
            ["select", root / "nan_feature.csv", "--k", "1", "--target", "y"],
            "'a' have missing",
        ),
        (
            "gates without target",
            ["select", csv, "--k", "2", "--method", "gates"],
            "needs --target",
        ),
        (
            "task without target",
            ["select", csv, "--k", "2", "--task", "regression"],
            "--task needs --target",
        ),
        (
            "redundancy without gates",
            ["select", csv, "--k", "2", "--redundancy", "avoid"],
            "--redundancy applies to --method gates only",
        ),
        (
            "output extension",
            ["select", csv, "--k", "2", "--target", "label", "--output", "o.txt"],
            "output o.txt: unknown file extension",
        ),
        (
            "output folder",
            ["select", csv, "--k", "2", "--output", root / "no" / "o.csv"],
            "does not exist",
        ),
        (
            "plot format",
            ["select", csv, "--k", "2", "--plot", root / "p.unknown"],
            "unknown picture format",
        ),
        (
            "not parquet",
            ["select", root / "text.parquet", "--k", "1"],
            "could not read",
        ),
        (
            # the flag the user typed, not the estimator's parameter name
            "device",
            ["select", csv, "--k", "2", "--target", "label", "--device", "bogus"],
            "argument --device: unknown device 'bogus'",
        ),
        (
            "random state",
            ["select", csv, "--k", "2", "--random-state", "-1"],
            "argument --random-state: must be between 0 and 4294967295, got -1",
        ),
        (
            "semicolons",
            ["select", root / "semicolons.csv", "--k", "1"],
            "one column 'a;b;y'; .* with ';', not ',': pass --sep ';'",
        ),
        (
            "commas in a tsv",
            ["select", root / "commas.tsv", "--k", "1"],
            "with ',', not tabs: pass --sep ','",
        ),
        (
            "sep of parquet",
            ["select", root / "data.parquet", "--k", "1", "--sep", ";"],
            "--sep applies to CSV and TSV input",
        ),
        ("sep too long", ["select", csv, "--k", "1", "--sep", ";;"], "one character"),
        (
            "index-col",
            ["select", csv, "--k", "1", "--index-col", "id"],
            "--index-col 'id' is not a column of .*'f0', 'f1'",
        ),
        (
            "index-col is target",
            ["select", csv, "--k", "1", "--index-col", "label", "--target", "label"],
            "--index-col and --target name the same column",
        ),
        ("no --k", ["select", csv], "required: --k"),
        ("k not int", ["select", csv, "--k", "two"], "invalid int value"),
        ("demo k", ["demo", "--k", "65"], "between 1 and 64"),
    ]


@pytest.fixture(scope="module")
def bad_root(tables):
    root, _ = tables
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("a,b,c\n")
    (root / "nan_target.csv").write_text("a,b,y\n1,2,0\n3,4,\n5,6,1\n")
    (root / "nan_feature.csv").write_text("a,b,y\n1,2,0\n,4,1\n5,6,1\n")
    (root / "text.parquet").write_text("this is not parquet\n")
    (root / "semicolons.csv").write_text("a;b;y\n1;2;0\n3;4;1\n5;6;1\n")
    (root / "commas.tsv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,1\n")
    return root


BAD_NAMES = [name for name, *_ in bad_inputs(Path("."))]


@pytest.mark.parametrize("case", range(len(BAD_NAMES)), ids=BAD_NAMES)
def test_bad_input_is_one_line_on_stderr(bad_root, case, capsys):
    _, argv, message = bad_inputs(bad_root)[case]
    status, out, err = run(argv, capsys)
    assert status != 0
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert err.startswith("sk-memsel")
    assert re.search(message, err), err


# ---------------------------------------------------------------- demo
def test_demo_prints_pixels_and_accuracies(tmp_path, monkeypatch, capsys):
    fast = functools.partial(
        _selectors.ConcreteAutoencoderSelector,
        max_epochs=2,
        hidden_layer_sizes=(16,),
        convergence_threshold=0,
    )
    monkeypatch.setattr(_selectors, "ConcreteAutoencoderSelector", fast)
    picture = tmp_path / "demo.png"
    status, out, err = run(["demo", "--k", "4", "--plot", picture], capsys)
    assert status == 0, err
    assert "Selected pixels" in out and "all 64 pixels" in out
    assert picture.read_bytes().startswith(PNG_MAGIC)


# ---------------------------------------------------------------- console script
def test_installed_console_script(tables, tmp_path):
    root, df = tables
    script = Path(sys.executable).with_name("sk-memsel")
    assert script.exists(), "reinstall the package: pip install -e ."
    result = subprocess.run(
        [
            str(script),
            "select",
            str(root / "data.csv"),
            "--k",
            "2",
            "--target",
            "label",
            "--max-epochs",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    names = result.stdout.split()
    assert len(names) == 2 and set(names) <= set(df.columns)
    assert "Traceback" not in result.stderr


# ------------------------------------------------ what must not be lost
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data.csv"
    make_table().to_csv(path, index=False)
    before = path.read_bytes()
    for name in ("output", "report", "plot"):
        other = "./data.csv" if name == "output" else path
        argv = ["select", path, "--k", "2", "--target", "label", f"--{name}", other]
        status, out, err = run([*argv, *FAST], capsys)
        assert status == 1
        assert "is the input table" in err and out == ""
    assert path.read_bytes() == before


def test_an_unwritable_report_is_refused_before_training(tables, tmp_path, capsys):
    root, _ = tables
    locked = tmp_path / "report.json"
    locked.write_text("{}")
    locked.chmod(0o444)
    try:
        if locked.open("a"):  # root can write anyway: nothing to test
            pytest.skip("read-only files are writable for this user")
    except PermissionError:
        pass
    argv = ["select", root / "data.csv", "--k", "2", "--target", "label"]
    status, out, err = run([*argv, "--report", locked, "--max-epochs", "3"], capsys)
    assert status == 1 and "cannot be written" in err
    assert "fitted in" not in err and out == ""  # refused before any training


def test_a_report_in_a_pseudo_file_system_is_refused_before_training(tables, capsys):
    root, _ = tables
    argv = ["select", root / "data.csv", "--k", "2", "--target", "label"]
    status, out, err = run([*argv, "--report", "/proc/x.json", *FAST], capsys)
    assert status == 1 and "cannot be written" in err and out == ""


def test_a_header_that_names_a_column_twice_is_refused(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text(
        "a,a,b,y\n" + "\n".join(f"{i},{i},{i % 3},{i % 2}" for i in range(30))
    )
    status, out, err = run(["select", path, "--k", "1", "--target", "y", *FAST], capsys)
    assert status == 1
    assert "names 'a' more than once" in err and out == ""


def test_ctrl_c_during_training_stops_without_output(
    tables, tmp_path, monkeypatch, capsys
):
    from skorch.callbacks import Callback

    class CtrlC(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt

    real = _selectors.StochasticGatesSelector
    monkeypatch.setattr(
        _selectors,
        "StochasticGatesSelector",
        lambda **params: real(**params, callbacks=[CtrlC()]),
    )
    root, _ = tables
    output = tmp_path / "out.csv"
    argv = ["select", root / "data.csv", "--k", "2", "--target", "label"]
    status, out, err = run([*argv, "--output", output, *FAST], capsys)
    assert status == 130 and "interrupted" in err
    assert out == "" and not output.exists()


# ------------------------------------------------ row labels are not features
def sorted_by_label(n=60):
    """make_table's rows sorted by class: the row number predicts the label."""
    df = make_table(n).sort_values("label", kind="stable").reset_index(drop=True)
    return df.drop(columns=["amount"])


def test_an_unnamed_first_column_is_row_labels_not_a_feature(tmp_path, capsys):
    df = sorted_by_label()
    df.index = df.index + 100  # labels, not positions
    path = tmp_path / "indexed.csv"
    df.to_csv(path)  # pandas' default: the index first, under an empty header
    report, output = tmp_path / "r.json", tmp_path / "out.csv"
    argv = ["select", path, "--k", "2", "--target", "label", "--max-epochs", "2"]
    status, out, err = run([*argv, "--report", report, "--output", output], capsys)
    assert status == 0, err
    assert "Unnamed" not in out
    data = json.loads(report.read_text())
    assert data["n_features"] == df.shape[1] - 1  # f0..f5 and flag: 7, not 8
    assert "first column, which has no name, read as row labels" in err
    # --output keeps the row labels where they were: first, without a name
    assert output.read_text().startswith(",")
    written = pd.read_csv(output, index_col=0)
    assert written.index.tolist() == df.index.tolist()
    assert list(written.columns) == [c for c in df.columns if c in out.split()] + [
        "label"
    ]


def test_a_column_of_row_numbers_warns_and_index_col_keeps_it_out(tmp_path, capsys):
    path = tmp_path / "numbered.csv"
    sorted_by_label().rename_axis("row").reset_index().to_csv(path, index=False)
    argv = ["select", path, "--k", "2", "--target", "label", *FAST]
    status, out, err = run(argv, capsys)
    assert status == 0, err
    # a warning even with --quiet: 'row' holds 0, 1, 2, ... and predicts the label
    assert "feature column 'row' holds the row numbers 0 to 59 in order" in err
    assert "pass --index-col row" in err
    report = tmp_path / "r.json"
    status, out, err = run([*argv, "--index-col", "row", "--report", report], capsys)
    assert status == 0, err
    assert "warning" not in err and "row" not in out.split()
    assert json.loads(report.read_text())["n_features"] == 7


# ------------------------------------------------ separators
def test_sep_reads_a_semicolon_file(tmp_path, capsys):
    path = tmp_path / "semi.csv"
    make_table().to_csv(path, sep=";", index=False)
    report = tmp_path / "r.json"
    argv = ["select", path, "--k", "2", "--target", "label", "--sep", ";", *FAST]
    status, out, err = run([*argv, "--report", report], capsys)
    assert status == 0, err
    assert json.loads(report.read_text())["n_features"] == 8
    assert set(out.split()) <= set(make_table().columns)


# ------------------------------------------------ flags, not parameter names
def test_an_estimator_refusal_names_the_flag():
    """The estimator's own message, with the parameter turned into the flag."""
    from sk_memsel._cli._common import CLIError, estimator_errors

    X, y = np.zeros((10, 3)), np.arange(10) % 2
    selector = _selectors.StochasticGatesSelector(k=1, random_state=-1)
    with pytest.raises(CLIError, match=r"^--random-state must be an int in the"):
        with estimator_errors():
            selector.fit(X, y)


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="this machine has a GPU"
)
def test_cuda_without_a_gpu_names_the_flag(tables, capsys):
    root, _ = tables
    argv = ["select", root / "data.csv", "--k", "2", "--target", "label"]
    status, out, err = run([*argv, "--device", "cuda", *FAST], capsys)
    assert status == 1 and out == ""
    assert "error: --device cuda was requested" in err
    assert "Use --device cpu, or --device auto" in err and "device=" not in err


def test_bad_seed_and_device_are_refused_without_importing_torch():
    code = """
import contextlib, io, sys
from sk_memsel._cli import main
for flags in (["--random-state", "-1"], ["--device", "gpu"]):
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["select", "x.csv", "--k", "1", *flags]) == 2
assert "torch" not in sys.modules
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


# ------------------------------------------------ the guessed task is shown
@pytest.mark.parametrize(
    "target, task, expected",
    [
        ("label", [], "'label' was read as a classification target with 2 classes"),
        # ratings saved as floats: whole numbers, read as five classes
        ("rating", [], "'rating' was read as a classification target with 5 "),
        ("amount", [], "'amount' was read as a regression target (guessed"),
        ("rating", ["--task", "regression"], "'rating' is a regression target."),
    ],
)
def test_the_task_of_the_target_is_printed(tmp_path, capsys, target, task, expected):
    df = make_table()
    df["rating"] = (np.arange(len(df)) % 5 + 1).astype(float)
    path = tmp_path / "data.csv"
    df.drop(columns=["label"] if target != "label" else []).to_csv(path, index=False)
    argv = ["select", path, "--k", "1", "--target", target, "--max-epochs", "1"]
    status, out, err = run([*argv, *task], capsys)
    assert status == 0, err
    assert expected in err, err
    if not task:
        other = "regression" if "classification" in expected else "classification"
        assert f"pass --task {other} if that is wrong" in err


# ------------------------------------------------ awkward names and files
def test_an_empty_header_cell_after_the_first_is_refused(tmp_path, capsys):
    path = tmp_path / "t.csv"
    df = make_table().drop(columns=["label"])
    df.columns = ["f0", "", *df.columns[2:]]
    df.to_csv(path, index=False)
    status, out, err = run(["select", path, "--k", "2", *FAST], capsys)
    assert status == 1 and "column(s) 2 of the header have no name" in err
    assert out == ""


def test_a_name_with_a_line_break_stays_on_one_line(tmp_path, capsys):
    path = tmp_path / "t.csv"
    df = make_table().drop(columns=["label", "flag"])
    df.columns = ["two\nlines", *df.columns[1:]]
    df.to_csv(path, index=False)
    k = df.shape[1]
    status, out, err = run(["select", path, "--k", k, *FAST], capsys)
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == k and "two\\nlines" in lines


def test_a_non_ascii_name_on_an_ascii_stdout_writes_the_output_first(tmp_path):
    path, output = tmp_path / "t.csv", tmp_path / "out.csv"
    df = make_table().drop(columns=["label", "flag"])
    df.columns = ["café", *df.columns[1:]]
    df.to_csv(path, index=False)
    k = df.shape[1]
    result = subprocess.run(
        [sys.executable, "-m", "sk_memsel", "select", str(path), "--k", str(k)]
        + [str(a) for a in FAST]
        + ["--output", str(output)],
        capture_output=True,
        env={**__import__("os").environ, "PYTHONIOENCODING": "ascii"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"caf\\xe9" in result.stdout.splitlines()
    assert "café" in pd.read_csv(output).columns


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_read_once(tmp_path):
    import os

    pipe = tmp_path / "t.csv"
    os.mkfifo(pipe)
    text = make_table().drop(columns=["label"]).to_csv(index=False)
    args = ["select", str(pipe), "--k", "2", *map(str, FAST)]
    child = subprocess.Popen(
        [sys.executable, "-m", "sk_memsel", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with open(pipe, "w") as f:  # the writer waits for the reader
        f.write(text)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err[-2000:]
    assert len(out.split()) == 2


def test_a_header_of_a_million_columns_without_rows_is_refused_at_once(
    tmp_path, capsys
):
    import time

    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n")
    start = time.perf_counter()
    status, out, err = run(["select", path, "--k", "2", *FAST], capsys)
    assert status == 1 and "no rows of data" in err
    assert time.perf_counter() - start < 10


def test_a_constant_regression_target_is_refused(tmp_path, capsys):
    path = tmp_path / "t.csv"
    df = make_table().drop(columns=["label"])
    df["amount"] = 2.5
    df.to_csv(path, index=False)
    argv = ["select", path, "--k", "2", "--target", "amount", *FAST]
    status, out, err = run(argv, capsys)
    assert status == 1 and "constant" in err
