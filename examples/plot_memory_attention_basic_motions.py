"""
Memory-augmented attention on time series and on tables
=======================================================

:class:`~sk_memsel.MemoryAttentionTransformer` cuts a sample into tokens,
lets each token attend to a learned memory, and pools the tokens into a fixed
number of features. It reads aeon's ``(n_samples, n_channels,
n_timepoints)`` series and ordinary ``(n_samples, n_features)`` tables
alike: on a series the tokens come from a small convolutional network that
describes the shape of the series around each time point, on a table each
feature is a token.

Data: aeon's BasicMotions (four activities, 6 channels, 100 time points) and
GunPoint (one channel, 150 time points), and scikit-learn's 8x8 digits.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from aeon.datasets import load_basic_motions, load_gunpoint
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_memsel import MemoryAttentionTransformer

# The documentation build sets SK_MEMSEL_FAST_EXAMPLES=1: less data and fewer
# epochs, so that the whole gallery runs in minutes.
FAST = os.environ.get("SK_MEMSEL_FAST_EXAMPLES") == "1"

# %%
# Time series: many channels and one
# -----------------------------------
# With the defaults, a series of up to 64 time points is 64 tokens (longer
# ones are max-pooled into 64), each describing 9 time points and more of
# all channels; the 64 features pool the tokens of every stage of the
# embedding and those out of the memory. The training budget is about 300
# optimizer steps, whatever the number of series (``max_epochs="auto"``).
for name, load in [("BasicMotions", load_basic_motions), ("GunPoint", load_gunpoint)]:
    X_train, y_train = load(split="train")
    X_test, y_test = load(split="test")
    series = make_pipeline(
        MemoryAttentionTransformer(
            max_epochs=10 if FAST else "auto",
            random_state=0,
        ),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    series.fit(X_train, y_train)
    print(f"{name} {X_train.shape}: accuracy {series.score(X_test, y_test):.3f}")

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
        max_epochs=5 if FAST else "auto",
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
