"""Warnings that point at the user's line, not at sk_memsel's or scikit-learn's."""

import contextlib
import os
import sys
import warnings
from pathlib import Path

#: code between the user's call and the warning: sk_memsel itself, and the
#: wrappers a call passes through (scikit-learn's fit context, Pipeline,
#: GridSearchCV; skorch's training loop; skops's loader when it is in use),
#: and contextlib's decorators
_LIBRARIES = ("sk_memsel", "sklearn", "skorch", "skops")


def _library_paths():
    paths = [contextlib.__file__]
    for name in _LIBRARIES:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            paths.append(str(Path(module.__file__).parent) + os.sep)
    return tuple(paths)


def warn(message, category=UserWarning):
    """``warnings.warn`` attributed to the first caller outside the libraries.

    So that the file and line a warning names are the user's (their
    ``fit`` or ``search.fit`` call), whatever path led to it. On Python
    3.12 and later ``skip_file_prefixes`` would do the same.
    """
    libraries = _library_paths()
    level = 2  # 1 is this function, 2 its caller
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(libraries):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
