"""Scale: data larger than memory (memory-mapped input) streams batch by batch."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from .test_common import FAST_PARAMS, public_estimators

ESTIMATORS = [cls for cls in public_estimators() if cls.__name__.endswith("Selector")]

# Runs in a fresh process so its peak memory is its own. Peak anonymous memory
# (RssAnon: the heap, numpy and torch buffers) is sampled from /proc in a
# thread while fitting and transforming; pages of the memory-mapped file are
# page cache that the system can drop, so they are not counted.
_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading, time
    import numpy as np
    import sk_memsel

    def anon_kb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])

    path, n, d, name, params = sys.argv[1:6]
    n, d = int(n), int(d)
    X = np.memmap(path, dtype=np.float64, mode="r", shape=(n, d))
    y = (np.arange(n) % 2).astype(np.int64)
    est = getattr(sk_memsel, name)(**json.loads(params))
    est.fit(X[:64], y[:64]) if name.startswith("Stochastic") else est.fit(X[:64])
    baseline = anon_kb()
    peak = [baseline]
    done = False

    def watch():
        while not done:
            peak[0] = max(peak[0], anon_kb())
            time.sleep(0.002)

    thread = threading.Thread(target=watch)
    thread.start()
    est.fit(X, y) if name.startswith("Stochastic") else est.fit(X)
    out = est.transform(X)
    done = True
    thread.join()
    print(json.dumps({"baseline_mb": baseline / 1024,
                      "peak_mb": peak[0] / 1024,
                      "out_shape": list(out.shape)}))
    """
)


@pytest.fixture(scope="module")
def big_memmap(tmp_path_factory):
    n, d = 20_000, 800  # 128 MB of float64; 64 MB even as float32
    path = tmp_path_factory.mktemp("mm") / "X.dat"
    X = np.memmap(path, dtype=np.float64, mode="w+", shape=(n, d))
    rng = np.random.RandomState(0)
    for start in range(0, n, 5_000):
        X[start : start + 5_000] = rng.normal(size=(5_000, d))
    X.flush()
    del X
    return path, n, d


@pytest.mark.slow
@pytest.mark.parametrize("cls", ESTIMATORS, ids=[c.__name__ for c in ESTIMATORS])
def test_fit_on_memmap_keeps_memory_bounded(big_memmap, cls):
    path, n, d = big_memmap
    params = {
        **FAST_PARAMS.get(cls.__name__, {}),
        "k": 5,
        "max_epochs": 1,
        "batch_size": 256,
        "random_state": 0,
    }
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(path), str(n), str(d), cls.__name__]
        + [json.dumps(params)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["out_shape"] == [n, 5]
    growth = figures["peak_mb"] - figures["baseline_mb"]
    # loading X as float32 at once takes 64 MB more (71 MB measured when the
    # same script is given an in-memory copy); streaming needs only the
    # batches, the checks' 16 MB chunks and the 20000 x 5 output (32 MB)
    assert growth < 48, figures


def test_memmap_gives_the_same_model_as_an_array(tmp_path):
    for cls in ESTIMATORS:
        rng = np.random.RandomState(0)
        X = rng.normal(size=(80, 6))
        y = (X[:, 0] > 0).astype(int)
        mm = np.memmap(tmp_path / "x.dat", dtype=np.float64, mode="w+", shape=X.shape)
        mm[:] = X
        mm.flush()
        mm = np.memmap(tmp_path / "x.dat", dtype=np.float64, mode="r", shape=X.shape)
        params = {**FAST_PARAMS.get(cls.__name__, {}), "random_state": 0}
        supervised = cls.__name__.startswith("Stochastic")
        a = cls(**params).fit(X, y) if supervised else cls(**params).fit(X)
        b = cls(**params).fit(mm, y) if supervised else cls(**params).fit(mm)
        np.testing.assert_array_equal(a.get_support(), b.get_support())
        np.testing.assert_array_equal(a.transform(X), b.transform(mm))


def test_an_hdf5_dataset_gives_the_same_model_as_an_array(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 6))
    y = (X[:, 0] > 0).astype(int)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["X"] = X
    with h5py.File(tmp_path / "x.h5", "r") as f:
        for cls in ESTIMATORS:
            params = {**FAST_PARAMS.get(cls.__name__, {}), "random_state": 0}
            supervised = cls.__name__.startswith("Stochastic")
            a = cls(**params).fit(X, y) if supervised else cls(**params).fit(X)
            b = (
                cls(**params).fit(f["X"], y)
                if supervised
                else cls(**params).fit(f["X"])
            )
            np.testing.assert_array_equal(a.get_support(), b.get_support())
            np.testing.assert_array_equal(a.transform(X), b.transform(f["X"]))


def test_memmap_with_nan_is_refused(tmp_path):
    X = np.random.RandomState(0).normal(size=(50, 4))
    X[37, 2] = np.nan
    mm = np.memmap(tmp_path / "x.dat", dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    for cls in ESTIMATORS:
        est = cls(**{**FAST_PARAMS.get(cls.__name__, {}), "random_state": 0})
        with pytest.raises(ValueError, match="NaN or infinity.*rows 0 to 49"):
            est.fit(mm, np.arange(50) % 2)
