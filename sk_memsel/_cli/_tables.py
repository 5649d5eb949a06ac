"""Tables in and out: CSV, TSV and Parquet files, and the checks on them.

pandas is imported only by the functions that read or split a table, so the
checks on paths answer before any heavy import.
"""

import csv
import io
import os
import stat
from pathlib import Path

from ._common import CLIError, first_line

_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


def table_format(path, what):
    """``"csv"``, ``"tsv"`` or ``"parquet"``, by the extension of ``path``."""
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        known = ", ".join(sorted(_FORMATS))
        raise CLIError(
            f"{what} {path}: unknown file extension {suffix or '(none)'!r}; "
            f"use one of {known}."
        )
    return _FORMATS[suffix]


def check_input(path):
    """The input's format (by extension), once it is known to be a file."""
    fmt = table_format(path, "input")
    if not Path(path).exists():
        raise CLIError(f"input file {path} does not exist.")
    if Path(path).is_dir():
        raise CLIError(f"input {path} is a directory, not a file.")
    return fmt


def check_writable(path, what, input_path=None):
    """Refuse an output path that cannot be written, before any training.

    The file is opened for appending (created and removed again when it did
    not exist), so a folder without write permission, a read-only file or a
    path inside a pseudo file system fails now, not after the fit. An output
    that is the input table itself is refused: it would overwrite the data.
    """
    target = Path(path)
    parent = target.resolve().parent
    if not parent.is_dir():
        raise CLIError(f"{what} {path}: the folder {parent} does not exist.")
    if input_path is not None and target.exists():
        if os.path.samefile(target, input_path):
            raise CLIError(
                f"{what} {path} is the input table; write to another file so "
                "that the input is kept."
            )
    existed = target.exists()
    try:
        with open(target, "a"):
            pass
    except OSError as exc:
        raise CLIError(f"{what} {path} cannot be written: {first_line(exc)}") from None
    if not existed:
        target.unlink()


def _parquet_engine_error(verb, path, exc):
    return CLIError(
        f'{verb} {path} needs a Parquet engine: pip install "sk-memsel[cli]" '
        f"({first_line(exc)})."
    )


#: separators a CSV/TSV may use instead of the expected one, by how to name them
_SEPARATORS = {
    ",": ("','", "','"),
    ";": ("';'", "';'"),
    "\t": ("tabs", "tab"),
    "|": ("'|'", "'|'"),
}
#: the name pandas gives a column whose header cell is empty (the first one)
_UNNAMED = "Unnamed: 0"


def read_table(path, sep=None):
    """Read a CSV/TSV or Parquet file (by extension) into a DataFrame.

    ``sep`` separates the columns of a CSV/TSV file; by default ``","`` for
    ``.csv`` and a tab for ``.tsv``.
    """
    fmt = check_input(path)
    source = path
    if not stat.S_ISREG(os.stat(path).st_mode):
        # a named pipe (or another stream) can be read only once: read it
        # whole, then check its header and parse it from memory
        try:
            source = io.BytesIO(Path(path).read_bytes())
        except OSError as exc:
            raise CLIError(f"could not read {path}: {first_line(exc)}") from None
    if fmt != "parquet":
        sep = sep or ("\t" if fmt == "tsv" else ",")
        _check_header(source, path, sep)
    import pandas as pd

    try:
        if fmt == "parquet":
            return pd.read_parquet(source)
        return pd.read_csv(source, sep=sep)
    except pd.errors.EmptyDataError:
        raise CLIError(f"input file {path} is empty.") from None
    except ImportError as exc:
        raise _parquet_engine_error("reading", path, exc) from None
    except (ValueError, OSError) as exc:
        raise CLIError(f"could not read {path} as {fmt}: {first_line(exc)}") from None


def _check_header(source, path, sep):
    """Refuse a CSV/TSV header that names a column twice, leaves one unnamed
    or is split wrongly, and a file of a header and no rows.

    pandas would rename the second ``a`` to ``a.1``, and an unnamed column
    (other than the first, the row labels) ``Unnamed: 3``: the selection
    would then name a column the file does not have. A header that reads as
    one column holding another separator (``a;b;c``) is a file separated by
    that one: pandas would read every row as one text column. Without rows
    pandas takes time quadratic in the columns (a minute for a million), so
    the refusal comes from here. ``source`` is the path, or the bytes of a
    stream already read.
    """
    try:
        if isinstance(source, io.BytesIO):
            f = io.TextIOWrapper(source, encoding="utf-8", errors="replace", newline="")
        else:
            f = open(source, newline="", encoding="utf-8", errors="replace")
        try:
            rows = csv.reader(f, delimiter=sep)
            header = next(rows, [])
            has_rows = any(any(cell.strip() for cell in row) for row in rows)
        finally:
            if isinstance(source, io.BytesIO):
                f.detach()
                source.seek(0)
            else:
                f.close()
    except (OSError, csv.Error):
        return  # pandas reports it
    if header and not has_rows:
        raise CLIError(f"input file {path} has no rows of data.")
    unnamed = [i for i, name in enumerate(header) if not name.strip() and i > 0]
    if unnamed:
        where = ", ".join(str(i + 1) for i in unnamed[:5])
        raise CLIError(
            f"input {path}: column(s) {where} of the header have no name; give "
            "every column a name (only the first may be empty: the row labels "
            "that DataFrame.to_csv() writes)."
        )
    seen, twice = set(), []
    for name in header:
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    if twice:
        names = ", ".join(repr(n) for n in twice[:5])
        raise CLIError(
            f"input {path}: the header names {names} more than once; give every "
            "column its own name."
        )
    one = header[0] if len(header) == 1 else ""
    found = [s for s in _SEPARATORS if s != sep and s in one]
    if found:
        other = max(found, key=header[0].count)
        said, typed = _SEPARATORS[other]
        expected = _SEPARATORS.get(sep, (repr(sep),))[0]
        shown = header[0] if len(header[0]) <= 40 else header[0][:37] + "..."
        raise CLIError(
            f"input {path}: the header reads as one column {shown!r}; the file "
            f"seems to separate its columns with {said}, not {expected}: pass "
            f"--sep {typed}."
        )


def set_row_labels(df, index_col, path):
    """``df`` with its row labels as the index, and whether they were guessed.

    The row labels are ``index_col`` when given, else a first column without a
    name: the index that ``DataFrame.to_csv()`` (and R's ``write.csv``) write
    with an empty header cell, which pandas reads back as ``"Unnamed: 0"``.
    Left among the features it would be selected whenever the rows are sorted
    by the target.
    """
    if index_col is not None:
        matches = [c for c in df.columns if str(c) == index_col]
        if not matches:
            raise CLIError(
                f"--index-col {index_col!r} is not a column of {path}; its "
                f"columns are {_names(df.columns)}."
            )
        return df.set_index(matches[0]), False
    if df.shape[1] and str(df.columns[0]).strip() in ("", _UNNAMED):
        return df.set_index(df.columns[0]).rename_axis(index=None), True
    return df, False


def has_row_labels(df):
    """Whether ``df``'s index holds row labels of the file, not 0, 1, 2, ..."""
    import pandas as pd

    index = df.index
    made_up = isinstance(index, pd.RangeIndex) and index.name is None
    return not (made_up and index.start == 0 and index.step == 1)


def row_number_columns(X):
    """Feature columns that hold the row numbers, 0 to n - 1 or 1 to n, in order.

    Such a column is an index saved as a named column (``reset_index()``, an
    ``id``), more likely than a measurement.
    """
    import numpy as np

    n = X.shape[0]
    if n < 3:
        return []
    found = []
    for column in X.columns:
        values = X[column].to_numpy()
        if values[0] in (0, 1) and np.array_equal(values, values[0] + np.arange(n)):
            found.append(column)
    return found


def write_table(df, path, index=False):
    """Write a DataFrame as CSV/TSV or Parquet (by extension).

    ``index`` writes its row labels too (the first column of a CSV/TSV).
    """
    fmt = table_format(path, "output")
    try:
        if fmt == "parquet":
            df.to_parquet(path, index=index)
        else:
            df.to_csv(path, sep="\t" if fmt == "tsv" else ",", index=index)
    except ImportError as exc:
        raise _parquet_engine_error("writing", path, exc) from None
    except (ValueError, OSError) as exc:
        raise CLIError(f"could not write {path}: {first_line(exc)}") from None


def _names(columns, limit=5):
    shown = ", ".join(repr(str(c)) for c in list(columns)[:limit])
    more = len(columns) - limit
    return shown + (f" ... ({more} more)" if more > 0 else "")


def _pop_target(df, target, path):
    """``df`` without the target column, and that column (no missing value)."""
    matches = [c for c in df.columns if str(c) == target]
    if not matches:
        raise CLIError(
            f"target column {target!r} is not in {path}; its columns are "
            f"{_names(df.columns)}."
        )
    y = df[matches[0]]
    n_missing = int(y.isna().sum())
    if n_missing:
        raise CLIError(
            f"target column {target!r} has {n_missing} missing value(s); "
            "drop those rows or fill them first."
        )
    return df.drop(columns=[matches[0]]), y


def _as_features(df, target, path):
    """The feature columns as float64, once all are finite numbers."""
    import numpy as np
    import pandas as pd

    if df.shape[1] == 0:
        raise CLIError(f"input file {path} has no feature columns besides the target.")
    types = pd.api.types
    bad = [
        c
        for c in df.columns
        if not (types.is_numeric_dtype(df[c]) or types.is_bool_dtype(df[c]))
    ]
    if bad:
        hint = "" if target is not None else ", or name a label column with --target"
        raise CLIError(
            f"non-numeric feature column(s) {_names(bad)}: encode them as "
            f"numbers (e.g. one-hot) or drop them{hint}."
        )
    X = df.astype(np.float64)
    not_finite = [c for c in X.columns if not np.isfinite(X[c].to_numpy()).all()]
    if not_finite:
        raise CLIError(
            f"feature column(s) {_names(not_finite)} have missing or infinite "
            "values; fill them (impute) or drop those rows or columns."
        )
    if len({str(c) for c in X.columns}) != X.shape[1]:
        raise CLIError(f"{path} has duplicate column names.")
    return X


def split_table(df, target, path):
    """Feature DataFrame (float) and target Series (``None`` without target).

    What the estimators cannot say, since they see arrays: which column is
    missing, not numeric or not finite.
    """
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise CLIError(f"input file {path} has no rows of data.")
    y = None
    if target is not None:
        df, y = _pop_target(df, target, path)
    return _as_features(df, target, path), y
