"""
Memory-augmented attention on time series and on tables
=======================================================

:class:`~sk_memsel.MemoryAttentionTransformer` turns every time point of a
series (or every feature of a table) into a token, lets each token attend to
a learned memory, and pools the tokens into a fixed number of features. It
reads aeon's ``(n_samples, n_channels, n_timepoints)`` series and ordinary
``(n_samples, n_features)`` tables alike.

Data: aeon's BasicMotions (four activities, 6 channels, 100 time points) and
scikit-learn's 8x8 digits.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from aeon.datasets import load_basic_motions
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sk_memsel import MemoryAttentionTransformer

# The documentation build sets SK_MEMSEL_FAST_EXAMPLES=1: less data and fewer
# epochs, so that the whole gallery runs in minutes.
FAST = os.environ.get("SK_MEMSEL_FAST_EXAMPLES") == "1"

# %%
# Time series: BasicMotions
# -------------------------
# Each of the 100 time points is a token of 6 values. ``pooling="mean_max"``
# gives ``2 * units`` features: the mean and the maximum over the tokens.
X_train, y_train = load_basic_motions(split="train")
X_test, y_test = load_basic_motions(split="test")
attention = MemoryAttentionTransformer(
    units=16,
    memory_size=8,
    num_heads=2,
    depth=1,
    pooling="mean_max",
    max_epochs=8 if FAST else 40,
    random_state=0,
)
series = make_pipeline(attention, LogisticRegression(max_iter=2000))
series.fit(X_train, y_train)
print(f"BasicMotions: accuracy {series.score(X_test, y_test):.3f}")

# %%
# Tables: the digits
# ------------------
# On a table every feature (pixel) is a token with its own embedding. The
# same estimator, fitted here on 64 pixels.
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, train_size=500 if FAST else 0.75, stratify=y, random_state=0
)
tabular = make_pipeline(
    MemoryAttentionTransformer(
        units=16,
        memory_size=8,
        num_heads=2,
        depth=1,
        max_epochs=5 if FAST else 30,
        random_state=0,
    ),
    LogisticRegression(max_iter=2000),
)
tabular.fit(X_train, y_train)
print(f"digits: accuracy {tabular.score(X_test, y_test):.3f}")

# %%
# What the features look like
# ---------------------------
# The 16 pooled features of a few test digits, one row per digit class
# (mean over the test digits of that class).
features = tabular[0].transform(X_test)
mean_features = np.array([features[y_test == d].mean(axis=0) for d in range(10)])
fig, ax = plt.subplots(figsize=(6, 3.5))
image = ax.imshow(mean_features, aspect="auto", cmap="coolwarm")
ax.set_xlabel("feature")
ax.set_ylabel("digit")
ax.set_yticks(range(10))
fig.colorbar(image, ax=ax)
fig.tight_layout()
plt.show()
