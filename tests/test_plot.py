"""sk_memsel.plot: the pictures have the expected artists and save as PNG."""

import io
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from sk_memsel import ConcreteAutoencoderSelector, StochasticGatesSelector  # noqa: E402
from sk_memsel.plot import (  # noqa: E402
    feature_scores,
    plot_history,
    plot_scores,
    plot_selected_pixels,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_bytes(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def concrete():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(120, 16))
    return ConcreteAutoencoderSelector(
        k=4,
        max_epochs=4,
        hidden_layer_sizes=(8,),
        convergence_threshold=0,
        random_state=0,
    ).fit(X)


@pytest.fixture(scope="module")
def gates():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(120, 6)), columns=list("abcdef"))
    y = (X["a"] + X["b"] > 0).astype(int)
    return StochasticGatesSelector(
        k=2, hidden_layer_sizes=(), max_epochs=5, random_state=0
    ).fit(X, y)


# ---------------------------------------------------------------- pixels
def test_selected_pixels_of_a_selector_over_a_background(concrete):
    background = np.arange(16.0)
    ax = plot_selected_pixels(concrete, (4, 4), background=background)
    assert len(ax.images) == 2
    assert ax.images[0].get_array().shape == (4, 4)
    overlay = np.asarray(ax.images[1].get_array())
    assert overlay.shape == (4, 4, 4)
    drawn = overlay[..., 3].ravel() > 0
    np.testing.assert_array_equal(drawn, concrete.get_support())
    assert png_bytes(ax.figure).startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    "selection",
    [
        [1, 5, 10],
        np.isin(np.arange(12), [1, 5, 10]),
    ],
    ids=["indices", "mask"],
)
def test_selected_pixels_from_indices_or_mask_without_background(selection):
    fig, ax = plt.subplots()
    out = plot_selected_pixels(selection, (3, 4), ax=ax)
    assert out is ax
    assert len(ax.images) == 1
    drawn = np.flatnonzero(np.asarray(ax.images[0].get_array())[..., 3].ravel())
    assert drawn.tolist() == [1, 5, 10]
    assert png_bytes(fig).startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    "selection, shape, background, message",
    [
        ([0, 99], (3, 3), None, "indices must lie"),
        (np.zeros(8, dtype=bool), (3, 3), None, "9 pixels"),
        ([0, 1], (3, 3, 1), None, "height, width"),
        ([0, 1], (3, 3), np.zeros(5), "background has 5"),
        (np.array([0.5, 1.5]), (1, 2), None, "selector_or_mask"),
    ],
)
def test_selected_pixels_refuses_bad_input(selection, shape, background, message):
    with pytest.raises((ValueError, TypeError), match=message):
        plot_selected_pixels(selection, shape, background=background)


# ---------------------------------------------------------------- scores
def test_scores_of_an_array_are_ranked_and_cut_at_top():
    scores = np.array([0.2, 0.9, 0.1, 0.5, 0.7])
    ax = plot_scores(scores, top=3)
    assert len(ax.patches) == 3
    widths = sorted((bar.get_width() for bar in ax.patches), reverse=True)
    assert widths == [0.9, 0.7, 0.5]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["x1", "x4", "x3"]  # highest at the top
    assert png_bytes(ax.figure).startswith(PNG_MAGIC)


def test_scores_of_gates_use_names_and_mark_the_selection(gates):
    ax = plot_scores(gates)
    assert len(ax.patches) == 6
    assert ax.get_xlabel() == "gate probability"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == list("abcdef")
    assert labels[0] == gates.feature_names_in_[np.argmax(gates.gate_probabilities_)]
    strong = {matplotlib.colors.to_rgba("tab:red")}
    reds = [bar for bar in ax.patches if bar.get_facecolor() in strong]
    assert len(reds) == 2
    assert png_bytes(ax.figure).startswith(PNG_MAGIC)


def test_scores_of_the_concrete_selector(concrete):
    scores = feature_scores(concrete)
    np.testing.assert_array_equal(scores, concrete.feature_importances_)
    ax = plot_scores(concrete, top=5)
    assert len(ax.patches) == 5
    assert ax.get_xlabel() == "selection probability\n(11 more features not drawn)"
    # the k selected features are the k top bars, all drawn in the strong color
    strong = matplotlib.colors.to_rgba("tab:red")
    colors = [bar.get_facecolor() for bar in ax.patches]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    k = concrete.k
    assert set(labels[:k]) == {f"x{i}" for i in concrete.get_support(indices=True)}
    assert colors[:k] == [strong] * k and strong not in colors[k:]


def legend_labels(ax):
    legend = ax.get_legend()
    assert legend is not None, "no legend"
    return [text.get_text() for text in legend.get_texts()]


def bar_positions(ax):
    """The y position of the bars drawn red (selected) and the others."""
    strong = matplotlib.colors.to_rgba("tab:red")
    selected, others = [], []
    for bar in ax.patches:
        y = bar.get_y() + bar.get_height() / 2
        (selected if bar.get_facecolor() == strong else others).append(y)
    return np.array(selected), np.array(others)


def inside_figure(artist, fig):
    """Whether ``artist``, drawn with the Agg renderer, lies inside ``fig``."""
    renderer = fig.canvas.get_renderer()
    box = artist.get_window_extent(renderer)
    return (
        box.x0 >= fig.bbox.x0 - 0.5
        and box.x1 <= fig.bbox.x1 + 0.5
        and box.y0 >= fig.bbox.y0 - 0.5
        and box.y1 <= fig.bbox.y1 + 0.5
    )


def draw(fig):
    fig.canvas.draw()  # runs the layout engine, as saving does
    return fig


def test_scores_of_a_selector_have_a_legend_and_a_title_that_fit(gates):
    ax = plot_scores(gates)
    assert legend_labels(ax) == ["selected", "not selected"]
    assert ax.get_title() == "2 of 6 features selected"
    fig = draw(ax.figure)
    assert inside_figure(ax.title, fig)
    assert inside_figure(ax.get_legend(), fig)


def test_scores_without_a_selection_have_no_legend():
    assert plot_scores([0.3, 0.1]).get_legend() is None


class Scored:
    """A fitted selector of a kind sk_memsel does not know: scores and support."""

    def __init__(self, scores, support):
        self.feature_importances_ = np.asarray(scores, dtype=float)
        self.support = np.asarray(support, dtype=bool)

    def get_params(self, deep=True):
        return {}

    def get_support(self):
        return self.support


def test_scores_of_thirty_features_draw_every_bar():
    rng = np.random.RandomState(0)
    scores = rng.uniform(size=30)
    support = scores >= np.sort(scores)[-5]
    ax = plot_scores(Scored(scores, support))
    assert len(ax.patches) == 30
    assert len(ax.get_yticklabels()) == 30
    assert ax.get_xlabel() == "score"  # nothing left out
    selected, others = bar_positions(ax)
    assert len(selected) == 5 and selected.min() > others.max()


def test_scores_of_many_features_draw_the_best_and_say_how_many_are_left_out():
    scores = np.arange(100.0)
    ax = plot_scores(scores)
    assert len(ax.patches) == 40
    assert ax.get_xlabel() == "score\n(60 more features not drawn)"
    # a selection larger than 40 is drawn whole
    ax = plot_scores(Scored(scores, scores >= 50))
    assert len(ax.patches) == 50
    # a top smaller than the selection says how many selected are left out
    ax = plot_scores(Scored(scores, scores >= 90), top=4)
    assert len(ax.patches) == 4
    assert ax.get_xlabel() == "score\n(96 more features not drawn, 6 of them selected)"


@pytest.mark.parametrize(
    "scores, support",
    [
        # tied scores: feature 0 comes first, but feature 1 is the selected one
        ([0.5, 0.5, 0.9], [False, True, True]),
        # a foreign selector whose selection is not its best scores
        ([0.9, 0.1, 0.8, 0.2], [False, True, False, True]),
    ],
    ids=["tie", "not-ranked"],
)
def test_selected_bars_are_all_above_the_others(scores, support):
    ax = plot_scores(Scored(scores, support))
    selected, others = bar_positions(ax)
    assert len(selected) == sum(support)
    assert selected.min() > others.max()
    # and each group is ranked: the highest score at the top
    heights = {bar.get_y(): bar.get_width() for bar in ax.patches}
    widths = [heights[y] for y in sorted(heights, reverse=True)]
    chosen = np.asarray(support)
    expected = sorted(np.asarray(scores)[chosen], reverse=True) + sorted(
        np.asarray(scores)[~chosen], reverse=True
    )
    assert widths == expected


def test_selected_bars_of_both_selectors_are_above_the_others(gates, concrete):
    for selector in (gates, concrete):
        ax = plot_scores(selector)
        selected, others = bar_positions(ax)
        assert len(selected) == selector.k
        assert selected.min() > others.max()


def test_long_titles_are_wrapped_inside_the_figure():
    from matplotlib.figure import Figure

    from sk_memsel.plot import _set_suptitle, _set_title

    fig = Figure(figsize=(4, 3), layout="constrained")
    ax = fig.add_subplot()
    name = "a_file_name_with_no_spaces_that_is_far_wider_than_the_figure.csv"
    _set_suptitle(fig, f"stochastic gates: {name} ($5 budget)")
    _set_title(ax, "a title of many words that would not fit on one line " * 2)
    FigureCanvasAgg(fig)
    draw(fig)
    assert fig._suptitle.get_text().count("\n") >= 2
    assert "\\$5" in fig._suptitle.get_text()  # drawn as a dollar sign
    assert inside_figure(fig._suptitle, fig)
    assert inside_figure(ax.title, fig)


def test_feature_scores_of_gates_are_their_importances(gates):
    np.testing.assert_array_equal(feature_scores(gates), gates.feature_importances_)


def test_scores_refuse_bad_input():
    with pytest.raises(ValueError, match="one-dimensional"):
        plot_scores(np.ones((2, 2)))
    with pytest.raises(ValueError, match="3 feature names for 2"):
        plot_scores([1, 2], feature_names=list("abc"))
    with pytest.raises(ValueError, match="top"):
        plot_scores([1, 2], top=0)
    with pytest.raises(TypeError, match="no feature scores"):
        plot_scores(ConcreteAutoencoderSelector())


# ---------------------------------------------------------------- history
def test_history_of_the_concrete_selector_has_one_point_per_epoch(concrete):
    axes = plot_history(concrete)
    labels = [ax.get_ylabel() for ax in axes]
    assert labels == ["temperature", "train_loss", "convergence"]
    for ax in axes:
        assert len(ax.lines) == 1
        assert len(ax.lines[0].get_ydata()) == 4
    assert axes[0].get_yscale() == "log"
    assert png_bytes(axes[0].figure).startswith(PNG_MAGIC)


def test_history_keys_on_one_axes(gates):
    fig, ax = plt.subplots()
    axes = plot_history(gates, keys=["train_loss", "expected_open_gates"], ax=ax)
    assert all(a is ax for a in axes)
    assert len(ax.lines) == 2
    assert all(len(line.get_xdata()) == 5 for line in ax.lines)
    assert ax.get_legend() is not None


def test_history_from_a_skorch_net_and_a_list(gates):
    assert len(plot_history(gates.net_, keys="train_loss")[0].lines[0].get_xdata()) == 5
    records = [{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}]
    fig, (a, b) = plt.subplots(2)
    axes = plot_history(records, keys=["loss", "epoch"], ax=[a, b])
    assert list(axes) == [a, b]


def test_history_refuses_bad_input(gates):
    with pytest.raises(ValueError, match="no number 'nope'"):
        plot_history(gates, keys=["nope"])
    with pytest.raises(TypeError, match="fitted sk_memsel estimator"):
        plot_history(StochasticGatesSelector())
    with pytest.raises(ValueError, match="2 Axes given for 1 keys"):
        plot_history(gates, keys=["train_loss"], ax=plt.subplots(2)[1])


# ---------------------------------------------------------------- no matplotlib
def test_missing_matplotlib_says_what_to_install(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, name, None)
    for call in (
        lambda: plot_scores([1.0, 2.0]),
        lambda: plot_selected_pixels([0], (2, 2)),
        lambda: plot_history([{"loss": 1.0}]),
    ):
        with pytest.raises(ImportError, match=r"install sk-memsel\[plot\]"):
            call()
