"""The project's own tooling: lint, formatting and the documentation build."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_lint_is_clean():
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_docs_build_without_warnings(tmp_path):
    result = run(
        "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "api.html").exists()
