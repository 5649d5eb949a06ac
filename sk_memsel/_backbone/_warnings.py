"""Warnings that point at the user's line, not at sk_memsel's or scikit-learn's."""

import contextlib
import os
import sys
import warnings
from pathlib import Path

import sklearn
import skorch

#: code between the user's call and the warning: sk_memsel itself, and the
#: wrappers a call passes through (scikit-learn's fit context, Pipeline,
#: GridSearchCV; skorch's training loop), and contextlib's decorators
_LIBRARIES = (contextlib.__file__,) + tuple(
    str(Path(module.__file__).parent) + os.sep
    for module in (sys.modules["sk_memsel"], sklearn, skorch)
)


def warn(message, category=UserWarning):
    """``warnings.warn`` attributed to the first caller outside the libraries.

    So that the file and line a warning names are the user's (their
    ``fit`` or ``search.fit`` call), whatever path led to it. On Python
    3.12 and later ``skip_file_prefixes`` would do the same.
    """
    level = 2  # 1 is this function, 2 its caller
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARIES):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
