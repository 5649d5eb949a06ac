"""The ``sk-memsel`` command line."""

import argparse
import sys
import time

__all__ = ["main"]


class CLIError(Exception):
    """A problem with the user's input, reported as one line on stderr."""


def _pixel_grid(support, shape):
    rows = []
    for r in range(shape[0]):
        cells = support[r * shape[1] : (r + 1) * shape[1]]
        rows.append(" ".join("#" if c else "." for c in cells))
    return "\n".join(rows)


def run_demo(k=16, plot="digits_selected_pixels.png", random_state=0, device="cpu"):
    """Select pixels of scikit-learn's 8x8 digits and compare accuracies.

    Parameters
    ----------
    k : int, default=16
        Number of pixels to select (of 64).
    plot : str or None, default="digits_selected_pixels.png"
        Where to save a picture of the chosen pixels (needs matplotlib);
        ``None`` saves nothing.
    random_state : int, default=0
    device : str, default="cpu"

    Returns
    -------
    result : dict
        ``selected`` (pixel indices), ``accuracy_selected``, ``accuracy_all``,
        ``accuracy_random`` and ``fit_seconds``.
    """
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from ._concrete import ConcreteAutoencoderSelector

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
    selector = ConcreteAutoencoderSelector(
        k=k, random_state=random_state, device=device
    ).fit(X_train)
    seconds = time.perf_counter() - start
    selected = selector.get_support(indices=True)

    def accuracy(columns):
        clf = LogisticRegression(max_iter=2000)
        clf.fit(X_train[:, columns], y_train)
        return clf.score(X_test[:, columns], y_test)

    rng = np.random.RandomState(random_state)
    random_cols = np.sort(rng.choice(X.shape[1], size=k, replace=False))
    result = {
        "selected": selected,
        "accuracy_selected": accuracy(selected),
        "accuracy_all": accuracy(np.arange(X.shape[1])),
        "accuracy_random": accuracy(random_cols),
        "fit_seconds": seconds,
    }
    print(f"Fitted in {seconds:.1f} s.")
    print(f"Selected pixels (index = 8 * row + column): {selected.tolist()}")
    print(_pixel_grid(selector.get_support(), (8, 8)))
    print("Test accuracy of a logistic regression on")
    print(f"  the {k} selected pixels: {result['accuracy_selected']:.3f}")
    print(f"  {k} random pixels:       {result['accuracy_random']:.3f}")
    print(f"  all 64 pixels:          {result['accuracy_all']:.3f}")
    if plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(Install matplotlib, or sk-memsel[plot], for a picture.)")
        else:
            fig, axes = plt.subplots(1, 2, figsize=(6, 3))
            axes[0].imshow(X_train.mean(axis=0).reshape(8, 8), cmap="gray_r")
            axes[0].set_title("mean digit")
            axes[1].imshow(selector.get_support().reshape(8, 8), cmap="Reds")
            axes[1].set_title(f"{k} selected pixels")
            for ax in axes:
                ax.set_xticks([])
                ax.set_yticks([])
            fig.tight_layout()
            fig.savefig(plot, dpi=100)
            plt.close(fig)
            print(f"Saved a picture of the selected pixels to {plot}")
    return result


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="sk-memsel",
        description="Neural feature selection for tables, from the command line.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="select pixels of scikit-learn's digits and compare accuracies",
        description="Select pixels of scikit-learn's 8x8 digits with the "
        "Concrete Autoencoder, report the accuracy with them against all "
        "pixels, and save a picture of the chosen pixels.",
    )
    demo.add_argument("--k", type=int, default=16, help="pixels to select (16)")
    demo.add_argument(
        "--plot",
        default="digits_selected_pixels.png",
        help="picture of the chosen pixels (digits_selected_pixels.png); '' for none",
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    return parser


def main(argv=None):
    """Entry point of the ``sk-memsel`` console script.

    Parameters
    ----------
    argv : list of str or None
        Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 when the input was refused.
    """
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            if not 1 <= args.k <= 64:
                raise CLIError(f"--k must be between 1 and 64, got {args.k}.")
            run_demo(
                k=args.k,
                plot=args.plot or None,
                random_state=args.random_state,
                device=args.device,
            )
    except (CLIError, ValueError, FileNotFoundError) as exc:
        print(f"sk-memsel: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
