"""
Reading multivariate time series with a Differentiable Neural Computer
======================================================================

:class:`~sk_memsel.DNCTransformer` reads each sample as a sequence with a
Differentiable Neural Computer: an LSTM controller that writes to and reads
from an external memory as it goes. Input in aeon's layout, ``(n_samples,
n_channels, n_timepoints)``, first goes through a small convolutional
network that describes the shape of the series around each time point; the
DNC reads its tokens in at most 8 steps, and the features pool the
embedding's stages and the DNC's outputs over time.

Data: aeon's BasicMotions, accelerometer and gyroscope recordings (6
channels, 100 time points) of four activities: standing, walking, running
and playing badminton; 40 series to train on, 40 to test.
"""

import matplotlib.pyplot as plt
import numpy as np
from aeon.datasets import load_basic_motions
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sk_memsel import DNCTransformer

X_train, y_train = load_basic_motions(split="train")
X_test, y_test = load_basic_motions(split="test")
print("train:", X_train.shape, "test:", X_test.shape)

# %%
# The DNC in a pipeline
# ---------------------
# With the defaults the 100 time points are 64 tokens of 16 numbers
# (``conv_channels``), which the DNC, a controller of 48 units, reads in 8
# steps. The pipeline passes the labels, so the network learns to summarise
# the series for the classification. The defaults classify every test
# series over ``random_state`` 0 to 4 (:doc:`../benchmarks/transformers`).
dnc = DNCTransformer(random_state=0)
pipeline = make_pipeline(dnc, LogisticRegression(max_iter=2000))
pipeline.fit(X_train, y_train)
print(
    f"DNC features ({dnc.transform(X_test[:1]).shape[1]} columns): "
    f"accuracy {pipeline.score(X_test, y_test):.3f}"
)

# A baseline on the raw values, flattened to 600 columns
flatten = FunctionTransformer(lambda X: X.reshape(len(X), -1))
baseline = make_pipeline(flatten, StandardScaler(), LogisticRegression(max_iter=2000))
baseline.fit(X_train, y_train)
print(f"raw values (600 columns):  accuracy {baseline.score(X_test, y_test):.3f}")

# %%
# The test series in the DNC's feature space
# ------------------------------------------
# Two principal components of the features of the 40 test series: the
# activities form separate groups.
features = pipeline[0].transform(X_test)
points = PCA(n_components=2).fit_transform(features)
fig, ax = plt.subplots(figsize=(5, 4))
for activity in np.unique(y_test):
    chosen = y_test == activity
    ax.scatter(points[chosen, 0], points[chosen, 1], label=activity)
ax.set_xlabel("first principal component")
ax.set_ylabel("second principal component")
ax.legend()
fig.tight_layout()
plt.show()
