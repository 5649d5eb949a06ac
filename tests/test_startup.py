"""Start-up cost: ``import sk_memsel`` and the command line's quick answers
(``--help``, ``--version``, a refused command line) do not import torch.

Each check runs in a fresh interpreter, since this test process has torch
loaded already.
"""

import subprocess
import sys

import pytest

import sk_memsel

HEAVY = ("torch", "skorch", "sklearn", "pandas")

# (argv, exit status): answered without reading data or importing torch
QUICK = [
    (["--help"], 0),
    (["select", "--help"], 0),
    (["--version"], 0),
    (["select", "x.csv"], 2),  # no --k
    (["select", "x.csv", "--k", "two"], 2),
    (["select", "x.csv", "--k", "1", "-v", "-q"], 2),
    (["select", "x.csv", "--k", "0"], 1),
    (["select", "x.csv", "--k", "2", "--max-epochs", "0"], 1),
    (["select", "x.csv", "--k", "2", "--method", "gates"], 1),
    (["select", "x.csv", "--k", "2", "--task", "regression"], 1),
    (["select", "nope.csv", "--k", "2"], 1),
    (["select", "x.xlsx", "--k", "2"], 1),
    (["select", "x.csv", "--k", "2", "--random-state", "-1"], 2),
    (["select", "x.csv", "--k", "2", "--device", "gpu"], 2),
    (["demo", "--k", "0"], 1),
]


def run_python(code, **kwargs):
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_import_and_parser_do_not_import_torch():
    run_python(
        "import sys; import sk_memsel; import sk_memsel._cli as c; "
        "c.build_parser().parse_args(['select', 'x.csv', '--k', '1']); "
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
        "assert not heavy, heavy"
    )


def test_quick_answers_do_not_import_torch(tmp_path):
    # x.csv and friends need not exist: these answers come before any reading
    code = f"""
import contextlib, io, sys
from sk_memsel._cli import main
for argv, expected in {QUICK!r}:
    with contextlib.redirect_stdout(io.StringIO()):
        with contextlib.redirect_stderr(io.StringIO()):
            status = main(argv)
    assert status == expected, (argv, status)
    heavy = [m for m in {HEAVY!r} if m in sys.modules]
    assert not heavy, (argv, heavy)
"""
    run_python(code, cwd=tmp_path)


def test_python_m_help_imports_no_torch():
    """The whole start-up of ``python -m sk_memsel --help``, as -X importtime sees."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sk_memsel", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: sk-memsel" in result.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "sk_memsel._cli" in imported  # the check sees our imports at all
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


# ------------------------------------------------------- the lazy package
def test_public_names_import_and_are_listed():
    from sk_memsel import StochasticGatesSelector

    assert (
        StochasticGatesSelector.__module__ == "sk_memsel._selectors._stochastic_gates"
    )
    assert set(sk_memsel.__all__) <= set(dir(sk_memsel))
    assert "nn" in dir(sk_memsel)
    for name in sk_memsel.__all__:
        assert getattr(sk_memsel, name) is not None
    assert sk_memsel.nn.__name__ == "sk_memsel.nn"
    with pytest.raises(AttributeError, match="no attribute 'NoSuchSelector'"):
        sk_memsel.NoSuchSelector  # noqa: B018
