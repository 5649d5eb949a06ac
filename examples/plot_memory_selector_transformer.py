"""
Features from learned memory banks
==================================

:class:`~sk_memsel.MemorySelectorTransformer` keeps, for each of its
``out_features`` outputs, a bank of learned embeddings (memory slots). A
small network scores the slots of every bank from the sample; the sample's
features are the selected embeddings. Fitted with ``y`` inside a
:class:`~sklearn.pipeline.Pipeline`, it learns banks whose slots separate the
classes, and :meth:`~sk_memsel.MemorySelectorTransformer.select_memory` tells
which slot each sample chose, which makes the features easy to read.

Data: scikit-learn's 8x8 digits.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sk_memsel import MemorySelectorTransformer

# The documentation build sets SK_MEMSEL_FAST_EXAMPLES=1: fewer digits and
# epochs, so that the whole gallery runs in minutes.
FAST = os.environ.get("SK_MEMSEL_FAST_EXAMPLES") == "1"

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=500 if FAST else 0.75, stratify=y, random_state=0
)

# %%
# A transformer in a pipeline
# ---------------------------
# The pipeline passes ``y`` to the transformer, which learns supervised
# (through a linear head that it drops for ``transform``); a logistic
# regression then reads the ``out_features * embedding_size = 32`` features.
memory = MemorySelectorTransformer(
    out_features=8,
    memory_size=8,
    embedding_size=4,
    max_epochs=8 if FAST else 60,
    random_state=0,
)
pipeline = make_pipeline(memory, LogisticRegression(max_iter=2000))
pipeline.fit(X_train, y_train)
print(f"memory features (32 columns): accuracy {pipeline.score(X_test, y_test):.3f}")

raw = LogisticRegression(max_iter=2000).fit(X_train, y_train)
print(f"raw pixels (64 columns):      accuracy {raw.score(X_test, y_test):.3f}")

# %%
# Which slot does each digit choose?
# ----------------------------------
# ``select_memory`` returns, for every sample and output, the most probable
# slot of the bank (and, on request, the probabilities). For each digit
# class, the mean probability of every slot of the first bank: the slots
# specialise in groups of digits.
slots, probabilities = pipeline[0].select_memory(X_test, return_probabilities=True)
print("slots chosen by the first 5 test digits, one column per bank:")
print(slots[:5])

bank = 0
mean_probability = np.array(
    [probabilities[y_test == digit, bank].mean(axis=0) for digit in range(10)]
)
fig, ax = plt.subplots(figsize=(5, 4))
image = ax.imshow(mean_probability, cmap="viridis", vmin=0, vmax=1)
ax.set_xlabel(f"slot of bank {bank}")
ax.set_ylabel("digit")
ax.set_yticks(range(10))
ax.set_title("mean selection probability")
fig.colorbar(image, ax=ax)
fig.tight_layout()
plt.show()
