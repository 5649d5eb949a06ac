"""
Tuning ``k`` and ``temperature`` with GridSearchCV
==================================================

:class:`~sk_memsel.ConcreteAutoencoderSelector` is an ordinary scikit-learn
selector, so it goes in a :class:`~sklearn.pipeline.Pipeline` in front of a
classifier, and :class:`~sklearn.model_selection.GridSearchCV` can choose how
many pixels of scikit-learn's 8x8 digits to keep (``k``) and the temperature
the Gumbel-softmax samples start from.

The selector learns without the labels (it keeps the pixels from which the
whole image is best reconstructed); the search scores each setting by the
accuracy of the logistic regression behind it.
"""

import os
import warnings

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from sk_memsel import ConcreteAutoencoderSelector
from sk_memsel.plot import plot_selected_pixels

# The documentation build sets SK_MEMSEL_FAST_EXAMPLES=1: less data, fewer
# epochs and a smaller grid, so that the whole gallery runs in minutes.
FAST = os.environ.get("SK_MEMSEL_FAST_EXAMPLES") == "1"
if FAST:
    # a handful of epochs is too few for the selector nodes to settle
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels in [0, 1]
if FAST:
    X, _, y, _ = train_test_split(X, y, train_size=500, stratify=y, random_state=0)

# %%
# The pipeline and the grid
# -------------------------
# The selector's parameters are reached as ``select__<name>``, as for any
# pipeline step. The fast build trains a few short epochs with a smaller
# decoder; the real run uses the selector's defaults.
settings = dict(max_epochs=8, batch_size=64, hidden_layer_sizes=(64,)) if FAST else {}
pipeline = Pipeline(
    [
        ("select", ConcreteAutoencoderSelector(random_state=0, **settings)),
        ("classify", LogisticRegression(max_iter=2000)),
    ]
)
grid = {
    "select__k": [4, 16] if FAST else [4, 8, 16, 32],
    "select__temperature": [1.0, 10.0],
}
search = GridSearchCV(pipeline, grid, cv=2 if FAST else 3)
search.fit(X, y)
print("best parameters:", search.best_params_)
print(f"best cross-validated accuracy: {search.best_score_:.3f}")

# %%
# Accuracy over the grid
# ----------------------
# More pixels help, with diminishing returns; the starting temperature
# matters much less than ``k``.
results = pd.DataFrame(search.cv_results_)
table = results.pivot(
    index="param_select__k",
    columns="param_select__temperature",
    values="mean_test_score",
)
print(table.round(3))

fig, ax = plt.subplots(figsize=(5, 3.5))
for temperature, scores in table.items():
    ax.plot(scores.index, scores.values, marker="o", label=f"temperature={temperature}")
ax.set_xscale("log", base=2)
ax.set_xlabel("k (pixels kept of 64)")
ax.set_ylabel("cross-validated accuracy")
ax.legend()
fig.tight_layout()

# %%
# The pixels of the best pipeline
# -------------------------------
# ``best_estimator_`` was refitted on all the data; its selector step
# reports the chosen pixels like any scikit-learn selector.
best_selector = search.best_estimator_.named_steps["select"]
print("selected pixels:", best_selector.get_support(indices=True))
ax = plot_selected_pixels(best_selector, (8, 8), background=X.mean(axis=0))
plt.show()
