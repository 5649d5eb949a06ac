"""Pictures of fitted sk_memsel estimators, drawn with matplotlib.

Three functions, each drawing on a matplotlib Axes (a new figure when none
is given) and returning what it drew on:

- :func:`plot_selected_pixels`: the pixels a selector chose, over an image;
- :func:`plot_scores`: feature scores (gate probabilities, selection
  probabilities) as a ranked bar chart;
- :func:`plot_history`: the training history, one curve per recorded value.

matplotlib is an optional dependency (``pip install sk-memsel[plot]``); it
is imported when a function is called, not when this module is imported.
"""

import numbers

import numpy as np

__all__ = ["feature_scores", "plot_history", "plot_scores", "plot_selected_pixels"]

# History entries that are bookkeeping rather than quantities to plot.
_HISTORY_SKIP = ("epoch", "batches", "train_batch_count", "valid_batch_count", "dur")


def _pyplot():
    """Import and return ``matplotlib.pyplot``, or say how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "sk_memsel.plot needs matplotlib: install sk-memsel[plot] "
            "(pip install 'sk-memsel[plot]') or matplotlib itself."
        ) from exc
    return plt


def _new_axes(ax, figsize):
    if ax is not None:
        return ax
    plt = _pyplot()
    _, ax = plt.subplots(figsize=figsize)
    return ax


def feature_scores(selector):
    """One score per input feature of a fitted selector, higher is better.

    Parameters
    ----------
    selector : fitted estimator
        A fitted sk_memsel selector, or any fitted estimator with
        ``feature_importances_``.

    Returns
    -------
    scores : ndarray of shape (n_features_in_,)
        The selector's ``feature_importances_``. For both sk_memsel
        selectors the ``k`` largest are the selected features (see their
        ``feature_importances_``).

    Raises
    ------
    TypeError
        When the estimator has no ``feature_importances_`` (it is not
        fitted, or does not score features).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_memsel.plot import feature_scores
    >>> class Fitted:
    ...     feature_importances_ = np.array([0.9, 0.1, 0.7])
    >>> feature_scores(Fitted()).tolist()
    [0.9, 0.1, 0.7]
    """
    scores = getattr(selector, "feature_importances_", None)
    if scores is None:
        raise TypeError(
            f"{type(selector).__name__} has no feature scores: expected a fitted "
            "selector with feature_importances_."
        )
    return np.asarray(scores, dtype=float)


def _as_mask(selector_or_mask, n_pixels):
    """Boolean mask of ``n_pixels`` from a selector, a mask or indices."""
    if hasattr(selector_or_mask, "get_support"):
        mask = np.asarray(selector_or_mask.get_support(), dtype=bool)
    else:
        values = np.asarray(selector_or_mask).ravel()
        if values.dtype == bool:
            mask = values
        elif values.size == n_pixels and np.isin(values, (0, 1)).all():
            mask = values.astype(bool)  # a 0/1 mask
        elif np.issubdtype(values.dtype, np.integer):
            if values.size and (values.min() < 0 or values.max() >= n_pixels):
                raise ValueError(
                    f"pixel indices must lie in [0, {n_pixels}), got "
                    f"{values.min()}..{values.max()}."
                )
            mask = np.zeros(n_pixels, dtype=bool)
            mask[values] = True
        else:
            raise TypeError(
                "selector_or_mask must be a fitted selector, a boolean mask or "
                f"an array of pixel indices, got dtype {values.dtype}."
            )
    if mask.size != n_pixels:
        raise ValueError(
            f"the mask has {mask.size} entries but image_shape has {n_pixels} pixels."
        )
    return mask


def plot_selected_pixels(
    selector_or_mask, image_shape, background=None, ax=None, color="red"
):
    """Show the selected pixels of an image data set over an image.

    Parameters
    ----------
    selector_or_mask : fitted selector, array-like of bool or of int
        A fitted selector (its ``get_support()`` is used), a boolean mask of
        the pixels, or the indices of the selected pixels, in the row-major
        (C) order of ``image_shape``.
    image_shape : tuple of int
        ``(height, width)`` of the images, e.g. ``(28, 28)`` for MNIST.
    background : array-like of shape (height * width,) or image_shape, \
            default=None
        Image drawn in grey under the selected pixels, for example the mean
        image ``X.mean(axis=0)``. ``None`` draws the selected pixels on
        white.
    ax : matplotlib Axes, default=None
        Where to draw; ``None`` creates a new figure.
    color : matplotlib color, default="red"
        Color of the selected pixels.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on; ``ax.images`` holds the background (when given)
        and the overlay of the selected pixels.

    See Also
    --------
    plot_scores : The score of every feature as a bar chart.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sk_memsel.plot import plot_selected_pixels
    >>> mean_image = np.linspace(0, 1, 64)
    >>> ax = plot_selected_pixels([0, 9, 18, 27], (8, 8), background=mean_image)
    >>> len(ax.images)
    2
    >>> ax.images[1].get_array().shape
    (8, 8, 4)
    """
    _pyplot()  # a clear message when matplotlib is missing
    from matplotlib.colors import to_rgba

    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width), got {image_shape!r}.")
    n_pixels = shape[0] * shape[1]
    mask = _as_mask(selector_or_mask, n_pixels).reshape(shape)
    ax = _new_axes(ax, (4, 4))
    if background is not None:
        background = np.asarray(background, dtype=float)
        if background.size != n_pixels:
            raise ValueError(
                f"background has {background.size} values but image_shape has "
                f"{n_pixels} pixels."
            )
        ax.imshow(background.reshape(shape), cmap="gray_r", interpolation="nearest")
    overlay = np.zeros((*shape, 4))
    overlay[mask] = to_rgba(color, alpha=0.85 if background is not None else 1.0)
    ax.imshow(overlay, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{int(mask.sum())} selected pixels of {n_pixels}")
    return ax


# Bars drawn when ``top`` is not given: up to this many names stay readable.
_MAX_BARS = 40
_SELECTED_COLOR = "tab:red"
_UNSELECTED_COLOR = "tab:gray"
_PLAIN_COLOR = "tab:blue"


def _text_width(text, fontsize):
    """Width in points of one line of ``text`` at ``fontsize``."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=fontsize)
    return text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0]


def _wrap_text(text, width, fontsize):
    """``text`` with line breaks, so that no line is wider than ``width`` points.

    Lines break between words; a word wider than ``width`` by itself (a long
    file name) is broken between characters.
    """
    lines = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if _text_width(candidate, fontsize) <= width or not candidate:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for char in word:  # only a word too long for a line of its own
                if line and _text_width(line + char, fontsize) > width:
                    lines.append(line)
                    line = ""
                line += char
        lines.append(line)
    return "\n".join(lines)


def _set_title(ax, text):
    """Set the title of ``ax``, wrapped to the width the Axes has now."""
    import matplotlib as mpl

    fontsize = mpl.rcParams["axes.titlesize"]
    width = ax.get_position().width * ax.figure.get_figwidth() * 72
    ax.set_title(_wrap_text(text, width, fontsize))


def _set_suptitle(fig, text):
    """Title ``fig`` with plain ``text``, wrapped to the figure's width.

    Plain: a ``$`` (in a file name, say) is drawn as it is, not as the start
    of matplotlib's math mode.
    """
    import matplotlib as mpl

    fontsize = mpl.rcParams["figure.titlesize"]
    width = fig.get_figwidth() * 72 - 4 * mpl.rcParams["font.size"]
    fig.suptitle(_wrap_text(text, width, fontsize).replace("$", r"\$"))


def _n_bars(n_features, n_selected, top):
    """How many bars :func:`plot_scores` draws.

    ``top`` when given; else every feature if there are at most
    ``_MAX_BARS``, otherwise the ``_MAX_BARS`` best (or all the selected
    ones, when there are more).
    """
    if top is None:
        top = max(_MAX_BARS, n_selected)
    if not isinstance(top, numbers.Integral) or isinstance(top, bool) or top < 1:
        raise ValueError(f"top must be a positive integer or None, got {top!r}.")
    return min(int(top), n_features)


def _scores_figsize(n_bars, width=7.0):
    """Size of a figure for a chart of ``n_bars`` bars, in inches."""
    return (width, max(2.5, 0.25 * n_bars + 1.6))


def _bar_order(values, selected):
    """Features from the top bar to the bottom one.

    The selected features first, then the others; within each, the highest
    score first and, at equal scores, the feature order. So no tie (nor a
    score of a foreign estimator that does not rank its selection first) can
    draw a feature that is not selected above one that is.
    """
    index = np.arange(values.size)
    if selected is None:
        return np.lexsort((index, -values))
    return np.lexsort((index, -values, ~selected))


def plot_scores(scores, feature_names=None, top=None, ax=None):
    """Draw feature scores as a ranked horizontal bar chart.

    Parameters
    ----------
    scores : array-like of shape (n_features,) or fitted selector
        One score per feature, higher is better, or a fitted selector whose
        ``feature_importances_`` are drawn (see :func:`feature_scores`);
        the bars of its selected features (``get_support()``) are drawn in
        red, the others in grey, with a legend that says so.
    feature_names : array-like of str, default=None
        Names of the features. ``None`` uses the selector's
        ``feature_names_in_`` when it has them, else ``x0``, ``x1``, ...
    top : int, default=None
        Draw only the ``top`` first bars. ``None`` draws every feature when
        there are at most 40, else the 40 first (or all the selected ones,
        when more are selected). When some are left out, the x axis label
        says how many.
    ax : matplotlib Axes, default=None
        Where to draw; ``None`` creates a new figure, sized for the bars,
        with the ``"constrained"`` layout.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on; ``ax.patches`` holds one bar per feature drawn,
        from the top bar to the bottom one. The selected features are on
        top, highest score first; below them the others, highest score
        first; equal scores keep the feature order. For the sk_memsel
        selectors, whose selection is the ``k`` best scores, this is the
        order of the scores.

    Notes
    -----
    The legend is drawn to the right of the Axes. In a figure of your own,
    use a layout engine (``plt.subplots(layout="constrained")``) or save
    with ``bbox_inches="tight"``, so that it is not cut off.

    See Also
    --------
    feature_scores : How the scores of a selector are read.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sk_memsel.plot import plot_scores
    >>> ax = plot_scores([0.1, 0.9, 0.5, 0.7], feature_names=list("abcd"), top=3)
    >>> len(ax.patches)
    3
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['b', 'd', 'c']
    >>> print(ax.get_xlabel())
    score
    (1 more feature not drawn)
    """
    selected = None
    label = "score"
    if hasattr(scores, "get_params"):  # a fitted estimator
        selector = scores
        values = feature_scores(selector)
        if hasattr(selector, "gate_probabilities_"):
            label = "gate probability"
        elif hasattr(selector, "selection_probabilities_"):
            label = "selection probability"
        if feature_names is None:
            feature_names = getattr(selector, "feature_names_in_", None)
        if hasattr(selector, "get_support"):
            selected = np.asarray(selector.get_support(), dtype=bool)
    else:
        values = np.asarray(scores, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {values.shape}.")
    n = values.size
    if selected is not None and selected.shape != (n,):
        raise ValueError(f"get_support() gives {selected.size} entries for {n} scores.")
    if feature_names is None:
        feature_names = [f"x{i}" for i in range(n)]
    feature_names = [str(name) for name in feature_names]
    if len(feature_names) != n:
        raise ValueError(
            f"{len(feature_names)} feature names for {n} scores; give one name "
            "per score."
        )
    n_selected = 0 if selected is None else int(selected.sum())
    n_bars = _n_bars(n, n_selected, top)
    order = _bar_order(values, selected)[:n_bars]
    if ax is None:
        plt = _pyplot()
        _, ax = plt.subplots(figsize=_scores_figsize(n_bars), layout="constrained")
    positions = np.arange(n_bars)[::-1]  # the first bar at the top
    if selected is None:
        ax.barh(positions, values[order], color=_PLAIN_COLOR)
    else:
        chosen = selected[order]
        for mask, color, name in (
            (chosen, _SELECTED_COLOR, "selected"),
            (~chosen, _UNSELECTED_COLOR, "not selected"),
        ):
            if mask.any():
                ax.barh(positions[mask], values[order][mask], color=color, label=name)
    ax.set_yticks(positions)
    ax.set_yticklabels([feature_names[i] for i in order])
    ax.set_ylim(-0.6, n_bars - 0.4)
    left_out = n - n_bars
    if left_out:
        note = f"{left_out} more feature{'s' if left_out > 1 else ''} not drawn"
        if selected is not None and (hidden := n_selected - int(chosen.sum())):
            note += f", {hidden} of them selected"
        label = f"{label}\n({note})"
    ax.set_xlabel(label)
    if selected is not None:
        # beside the Axes: inside, it would hide bars that all score alike
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        _set_title(ax, f"{n_selected} of {n} features selected")
    return ax


def _history_records(estimator_or_history):
    history = getattr(estimator_or_history, "history_", estimator_or_history)
    history = getattr(history, "history", history)  # a skorch net
    try:
        records = list(history)
    except TypeError:
        records = None
    if not records or not all(isinstance(r, dict) for r in records):
        raise TypeError(
            "plot_history needs a fitted sk_memsel estimator (with history_), "
            "a skorch net or History, or a list of per-epoch dicts."
        )
    return records


def _plottable(records, key):
    return all(
        isinstance(r.get(key), numbers.Real) and not isinstance(r.get(key), bool)
        for r in records
    )


def plot_history(estimator_or_history, keys=None, ax=None):
    """Plot the training history, one curve per recorded value.

    Parameters
    ----------
    estimator_or_history : fitted estimator, skorch History or list of dict
        A fitted sk_memsel estimator (its ``history_`` is read), a skorch net
        or ``History``, or a list with one dict per epoch.
    keys : list of str, default=None
        Which values to plot, e.g. ``["train_loss", "temperature"]``.
        ``None`` plots every number recorded at every epoch (the loss, and
        what the estimator records: ``temperature`` and ``convergence`` for
        the Concrete Autoencoder, ``expected_open_gates`` for stochastic
        gates...) except bookkeeping (epoch, batch counts, durations) and
        skorch's ``*_best`` flags.
    ax : matplotlib Axes or sequence of Axes, default=None
        Where to draw. ``None`` creates a figure with one panel per key
        (shared epoch axis). A single Axes gets every curve; a sequence
        needs one Axes per key.

    Returns
    -------
    axes : ndarray of matplotlib Axes of shape (len(keys),)
        ``axes[i]`` holds the curve of ``keys[i]``: a line with one point
        per epoch. A ``temperature`` panel has a logarithmic y axis.

    See Also
    --------
    plot_scores : The scores a fitted selector ends with.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sk_memsel.plot import plot_history
    >>> history = [{"epoch": e, "train_loss": 1 / e, "temperature": 10 / e}
    ...            for e in range(1, 6)]
    >>> axes = plot_history(history)
    >>> [ax.get_ylabel() for ax in axes]
    ['train_loss', 'temperature']
    >>> len(axes[0].lines[0].get_xdata())
    5
    """
    records = _history_records(estimator_or_history)
    if keys is None:
        keys = [
            key
            for key in records[0]
            if key not in _HISTORY_SKIP
            and not key.endswith("_best")
            and _plottable(records, key)
        ]
        if not keys:
            raise ValueError("the history records no numbers to plot.")
    else:
        keys = [keys] if isinstance(keys, str) else list(keys)
        available = sorted(k for k in records[0] if _plottable(records, k))
        for key in keys:
            if not _plottable(records, key):
                raise ValueError(
                    f"the history has no number {key!r} at every epoch; "
                    f"available: {available}."
                )
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(records)]
    if ax is None:
        plt = _pyplot()
        _, axes = plt.subplots(
            len(keys),
            1,
            sharex=True,
            squeeze=False,
            figsize=(6, 1.8 * len(keys) + 0.6),
        )
        axes = axes[:, 0]
    elif hasattr(ax, "plot"):  # one Axes for every curve
        axes = np.array([ax] * len(keys), dtype=object)
    else:
        axes = np.asarray(list(ax), dtype=object).ravel()
        if axes.size != len(keys):
            raise ValueError(f"{axes.size} Axes given for {len(keys)} keys.")
    single = len(keys) > 1 and all(a is axes[0] for a in axes)
    for key, panel in zip(keys, axes, strict=True):
        values = [float(r[key]) for r in records]
        panel.plot(epochs, values, marker="." if len(values) < 30 else None, label=key)
        if not single:
            panel.set_ylabel(key)
            if key == "temperature" and min(values) > 0:
                panel.set_yscale("log")
    if single:
        axes[0].legend()
    axes[-1].set_xlabel("epoch")
    return axes
