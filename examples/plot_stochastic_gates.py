"""
Finding the informative features of a MADELON-like problem with stochastic gates
================================================================================

MADELON (NIPS 2003 feature selection challenge) hides a few informative
features, whose classes sit on the vertices of a hypercube, among hundreds
of noise features. :func:`~sklearn.datasets.make_classification` builds the
same kind of problem; with ``shuffle=False`` the informative features are the
first columns, so we can check what the selector finds.

:class:`~sk_memsel.StochasticGatesSelector` multiplies every feature by a
random gate in [0, 1] and trains a small network on the gated features, with
a penalty on the expected number of open gates. The gates of the noise
features fall behind those of the informative features, which stay open.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_memsel import StochasticGatesSelector
from sk_memsel.plot import plot_history, plot_scores

# The documentation build sets SK_MEMSEL_FAST_EXAMPLES=1: fewer samples and
# features, and 10 times fewer optimizer steps at 10 times the learning rates
# (400 steps at 0.01 instead of about 4,000 at 0.001 and 0.003), so that the
# gates travel as far as with the defaults and the whole gallery runs in
# minutes. Without it the selector runs with its defaults.
FAST = os.environ.get("SK_MEMSEL_FAST_EXAMPLES") == "1"

n_informative = 5
X, y = make_classification(
    n_samples=800 if FAST else 2000,
    n_features=50 if FAST else 200,
    n_informative=n_informative,
    n_redundant=0,
    n_clusters_per_class=2,
    shuffle=False,  # the informative features are columns 0..4
    random_state=0,
)
X = StandardScaler().fit_transform(X)
informative = np.arange(n_informative)

# %%
# Fit the gates
# -------------
# ``k=5`` with ``redundancy="keep"`` keeps the five features whose gates are
# most likely open (the default, ``"avoid"``, would read the five that
# together predict best, leaving out near-copies; these five features are
# independent, so both agree); ``gate_probabilities_`` holds the probability
# of every gate. With the
# default ``max_epochs="auto"`` the selector may train for about 4,000
# optimizer steps (500 epochs of 8 batches here), and stops earlier once the
# top five have not changed for ``settle_steps=500`` steps. It stops for the
# selection, not for the noise gates to close: they are then still falling
# (the printout gives how far they have come from 0.63, where every gate
# starts). ``settle_steps=None`` trains until every gate has stopped moving,
# several times longer, for probabilities that are themselves the answer.
fast = {"max_epochs": 100, "lr": 0.01, "gate_lr": 0.01} if FAST else {}
selector = StochasticGatesSelector(
    k=n_informative, redundancy="keep", random_state=0, **fast
)
selector.fit(X, y)
found = selector.get_support(indices=True)
print("selected features:", found)
print(
    "informative features recovered:", np.intersect1d(found, informative).size, "of 5"
)
noise = selector.gate_probabilities_[n_informative:]
print(f"noise gates: largest P(open) {noise.max():.3f}, median {np.median(noise):.3f}")

# %%
# Gate probabilities
# ------------------
# The gates of the selected features (red) are the most likely open; those of
# the noise features lie below them (the printout above gives their largest
# open probability).
ax = plot_scores(selector, top=15)
ax.figure.tight_layout()

# %%
# The gates close during training
# -------------------------------
# ``expected_open_gates`` is the sum of the gate probabilities after each
# epoch. It starts near 0.63 per feature (the gates start at ``mu=0.5``) and
# falls towards the five that matter; what is left above 5 is the open
# probability of the noise gates, small each but many. A curve still falling
# at the end means the noise gates were still closing when the selection
# settled: the selection had stopped changing, their probabilities had not.
axes = plot_history(selector, keys=["train_loss", "expected_open_gates"])
axes[0].figure.tight_layout()

# %%
# Fewer features, better neighbours
# ---------------------------------
# Nearest neighbours suffer from the noise features; on the selected five
# they find the hypercube's clusters.
knn = make_pipeline(StandardScaler(), KNeighborsClassifier())
for name, columns in [("all features", slice(None)), ("selected", found)]:
    scores = cross_val_score(knn, X[:, columns], y, cv=5)
    print(f"{name:>12}: k-NN accuracy {scores.mean():.3f}")
plt.show()
