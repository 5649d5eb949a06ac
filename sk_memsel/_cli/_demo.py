"""The ``demo`` command: select pixels of scikit-learn's 8x8 digits."""

import time

from ._common import CLIError, estimator_errors, save_figure

_SHAPE = (8, 8)


def _pixel_grid(support, shape):
    rows = []
    for r in range(shape[0]):
        cells = support[r * shape[1] : (r + 1) * shape[1]]
        rows.append(" ".join("#" if c else "." for c in cells))
    return "\n".join(rows)


def _save_picture(selector, mean_image, k, path):
    """The chosen pixels over the mean digit, and the best pixel scores."""
    try:
        # an object-oriented Figure: no pyplot backend switched for the caller
        from matplotlib.figure import Figure
    except ImportError:
        print('(pip install "sk-memsel[cli]" for a picture.)')
        return
    from ..plot import _scores_figsize, _set_title, plot_scores, plot_selected_pixels

    n_pixels = _SHAPE[0] * _SHAPE[1]
    names = [f"pixel {i} ({i // _SHAPE[1]}, {i % _SHAPE[1]})" for i in range(n_pixels)]
    top = min(n_pixels, max(k, 20))  # the selected pixels and the best others
    _, height = _scores_figsize(top)
    fig = Figure(figsize=(10, max(4.0, height)))
    pixels, scores = fig.subplots(1, 2, width_ratios=(1, 1.3))
    plot_selected_pixels(selector, _SHAPE, background=mean_image, ax=pixels)
    _set_title(pixels, f"{k} selected pixels, over the mean digit")
    plot_scores(selector, feature_names=names, top=top, ax=scores)
    save_figure(fig, path)
    print(f"Saved a picture of the selected pixels to {path}")


def _accuracies(split, selected, random_state):
    """Test accuracies of a logistic regression: selected, random, all pixels."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X_train, X_test, y_train, y_test = split

    def accuracy(columns):
        clf = LogisticRegression(max_iter=2000)
        clf.fit(X_train[:, columns], y_train)
        return clf.score(X_test[:, columns], y_test)

    n_pixels = X_train.shape[1]
    rng = np.random.RandomState(random_state)
    random_cols = np.sort(rng.choice(n_pixels, size=len(selected), replace=False))
    return {
        "accuracy_selected": accuracy(selected),
        "accuracy_all": accuracy(np.arange(n_pixels)),
        "accuracy_random": accuracy(random_cols),
    }


def run_demo(k=16, plot="digits_selected_pixels.png", random_state=0, device="cpu"):
    """Select pixels of scikit-learn's 8x8 digits and compare accuracies.

    Parameters
    ----------
    k : int, default=16
        Number of pixels to select (of 64).
    plot : str or None, default="digits_selected_pixels.png"
        Where to save a picture of the chosen pixels and of the pixel scores
        (needs matplotlib); ``None`` saves nothing.
    random_state : int, default=0
    device : str, default="cpu"

    Returns
    -------
    result : dict
        ``selected`` (pixel indices), ``accuracy_selected``, ``accuracy_all``,
        ``accuracy_random`` and ``fit_seconds``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from .. import _selectors

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=random_state
    )
    print(
        f"Digits: {X.shape[0]} images of 8x8 pixels; selecting {k} of "
        f"{X.shape[1]} pixels without looking at the labels "
        "(Concrete Autoencoder)...",
        flush=True,
    )
    start = time.perf_counter()
    selector = _selectors.ConcreteAutoencoderSelector(
        k=k, random_state=random_state, device=device
    )
    with estimator_errors():
        selector.fit(X_train)
    seconds = time.perf_counter() - start
    selected = selector.get_support(indices=True)
    result = {
        "selected": selected,
        **_accuracies((X_train, X_test, y_train, y_test), selected, random_state),
        "fit_seconds": seconds,
    }
    print(f"Fitted in {seconds:.1f} s.")
    print(f"Selected pixels (index = 8 * row + column): {selected.tolist()}")
    print(_pixel_grid(selector.get_support(), _SHAPE))
    print("Test accuracy of a logistic regression on")
    print(f"  the {k} selected pixels: {result['accuracy_selected']:.3f}")
    print(f"  {k} random pixels:       {result['accuracy_random']:.3f}")
    print(f"  all 64 pixels:          {result['accuracy_all']:.3f}")
    if plot:
        _save_picture(selector, X_train.mean(axis=0), k, plot)
    return result


def run_demo_command(args):
    """Run ``sk-memsel demo`` with parsed arguments."""
    if not 1 <= args.k <= 64:
        raise CLIError(f"--k must be between 1 and 64, got {args.k}.")
    return run_demo(
        k=args.k,
        plot=args.plot or None,
        random_state=args.random_state,
        device=args.device,
    )
