"""Input data for training: out-of-core and sparse arrays, batch iteration,
GPU preloading."""

import math
import warnings

import numpy as np
import torch
from skorch.dataset import Dataset
from torch.utils.data import Subset

from ..nn._random import stream_generator


def _unwrap_dataset(dataset):
    """Return ``(X, y, indices)`` behind a skorch Dataset or a Subset of one."""
    indices = None
    while isinstance(dataset, Subset):
        sub = np.asarray(dataset.indices)
        indices = sub if indices is None else indices[sub]
        dataset = dataset.dataset
    if not isinstance(dataset, Dataset) or not hasattr(_rows_of(dataset.X), "shape"):
        return None
    n_samples = len(dataset)
    if indices is None:
        indices = np.arange(n_samples)
    return dataset.X, dataset.y, indices


#: the key of the row weights in a weighted training input (skorch's way of
#: carrying sample weights: X as a dict, read back in ``MemselNet.get_loss``)
WEIGHT_KEY = "sample_weight"


def with_weights(X, sample_weight):
    """The training input with its row weights: ``{"X": X, "sample_weight": w}``.

    ``X`` itself when there are no weights, so that an unweighted fit runs
    exactly as before.
    """
    return X if sample_weight is None else {"X": X, WEIGHT_KEY: sample_weight}


def peak_one(sample_weight):
    """Row weights divided by their largest (``None`` stays ``None``).

    The largest becomes exactly 1, so that sums of weights as large as 1e308
    cannot overflow; weighted means and spreads are the same for weights of
    any scale.
    """
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    return weights / weights.max()


def _rows_of(X):
    """The input array of a training input, weighted (a dict) or not."""
    return X["X"] if isinstance(X, dict) and WEIGHT_KEY in X else X


#: elements per chunk when checking an out-of-core array (32 MB of float64)
_CHUNK_ELEMENTS = 2**22

#: largest magnitude the networks train on in float32: beyond it a squared
#: error overflows, and hidden units saturate whatever the weights
LARGEST_TRAINABLE = 1e18


def row_chunks(X, multiple=1):
    """Slices of the rows of ``X``, about ``_CHUNK_ELEMENTS`` values each.

    What an out-of-core ``X`` is read by, one chunk at a time; a chunk's
    rows are a multiple of ``multiple``.
    """
    per_row = max(math.prod(X.shape[1:]), 1)
    size = max(1, _CHUNK_ELEMENTS // per_row // multiple) * multiple
    return [slice(start, start + size) for start in range(0, X.shape[0], size)]


class SparseRows:
    """A sparse matrix read as an array of dense rows.

    What the estimators train on and predict from when ``X`` is sparse:
    ``rows[i:j]`` (or an array of row indices) densifies those rows only, so
    that every consumer of an out-of-core array (the batch iterator, the
    chunked checks and reads) takes a sparse ``X`` unchanged and the whole
    matrix is never densified. A densified batch holds exactly the values of
    the same rows of the dense array, so the same ``random_state`` gives the
    same model whatever the layout ``X`` came in.

    Densifying one batch at a time was measured against multiplying the
    sparse batch into the first layer directly
    (``benchmarks/bench_sparse_first_layer.py``): on the CPU the sparse
    products were no faster for the concrete layer and twice as slow for
    the gates, whose noise is drawn per row, and they would sum in another
    order than the dense array.

    Parameters
    ----------
    matrix : scipy.sparse CSR matrix or array, float32
        Validated: CSR, finite, at least one row and one column.
    """

    def __init__(self, matrix):
        self.matrix = matrix

    @property
    def shape(self):
        return self.matrix.shape

    @property
    def dtype(self):
        return self.matrix.dtype

    @property
    def ndim(self):
        return 2

    def __len__(self):
        return self.matrix.shape[0]

    def __getitem__(self, rows):
        """The dense float32 rows ``rows`` (a slice, or an array of indices)."""
        return self.matrix[rows].toarray()

    def dense_batch(self, rows, device=None):
        """The rows as a dense float32 tensor, made on ``device``.

        On the CPU, SciPy densifies the rows. On a GPU the rows travel as a
        sparse tensor (a twentieth of the bytes at 5 % non-zero values) and
        are densified there.
        """
        if device is None or torch.device(device).type == "cpu":
            return torch.from_numpy(self[rows])
        block = _sparse_tensor(self.matrix[rows])
        return block.to(device, non_blocking=True).to_dense()


def _sparse_tensor(block):
    """A SciPy CSR matrix as a torch sparse CSR tensor (sharing its values)."""
    with warnings.catch_warnings():
        # torch calls its sparse CSR tensors "beta", once per process; only
        # their construction and to_dense are used here, which
        # tests/test_sparse.py checks against SciPy
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        # torch needs one index type for both; SciPy's usually is one, and
        # then nothing is copied
        index = np.promote_types(block.indptr.dtype, block.indices.dtype)
        return torch.sparse_csr_tensor(
            torch.from_numpy(block.indptr.astype(index, copy=False)),
            torch.from_numpy(block.indices.astype(index, copy=False)),
            torch.from_numpy(block.data),
            size=block.shape,
            check_invariants=False,  # SciPy's CSR, validated
        )


class _RowsOnDevice(SparseRows):
    """A :class:`SparseRows` whose training batches are densified on ``device``
    (see :func:`_preload`)."""

    def __init__(self, matrix, device):
        super().__init__(matrix)
        self.device = device


def check_trainable(X, why):
    """Refuse values beyond ``LARGEST_TRAINABLE``, saying ``why`` they fail.

    An in-memory ``X`` only (a sparse one through its stored values): an
    out-of-core one is read batch by batch, and a batch that overflows stops
    training with the loss guard's error.
    """
    if isinstance(X, SparseRows):
        X = X.matrix.data if X.matrix.nnz else np.zeros(1, np.float32)
    elif _is_out_of_core(X):
        return
    peak = float(max(X.max(), -X.min()))  # no copy of X, as abs() would make
    if peak > LARGEST_TRAINABLE:
        raise ValueError(
            f"X has values as large as {peak:.3g}: {why}. Scale the features "
            "first, for example with sklearn.preprocessing.StandardScaler."
        )


def _is_out_of_core(X):
    """Whether X should be read batch by batch instead of loaded at once."""
    if isinstance(X, np.memmap | SparseRows):
        return True
    return (
        not isinstance(X, np.ndarray)
        and hasattr(X, "shape")
        and hasattr(X, "dtype")
        and hasattr(X, "__getitem__")
        and not hasattr(X, "iloc")  # pandas
        and not hasattr(X, "tocsr")  # scipy sparse
        and not hasattr(X, "__array_namespace__")  # array API arrays, torch
        and type(X).__module__.split(".")[0] in _OUT_OF_CORE_MODULES
    )


#: libraries whose arrays stay on disk until sliced
_OUT_OF_CORE_MODULES = ("h5py", "zarr")


def _as_tensor(a, *, target=False):
    """Tensor view of an array slice, C-ordered (a copy when it is not, or
    when the array is read-only).

    Batches of a memory-mapped array of any real dtype (integers, booleans)
    are converted to float32 here, one batch at a time, as in-memory input
    is when it is validated; only the class codes of a ``target`` stay int64.
    Every batch is C-ordered whatever the layout of the array it comes from:
    PyTorch may sum a product in another order for another layout, and the
    results would depend on how the caller holds the data.
    """
    a = np.asarray(a)
    dtype = np.int64 if target and a.dtype == np.int64 else np.float32
    if a.dtype != dtype or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=dtype)
    elif not a.flags.writeable:
        a = a.copy()
    return torch.from_numpy(a)


def _numeric_target(y):
    """A regression target as float64 of shape (n_samples, n_outputs), checked."""
    try:
        y = y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "A regression target y must be numeric; it contains values "
            "that are not numbers."
        ) from exc
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity; remove or impute them.")
    return y.reshape(len(y), -1)


class ArrayBatchIterator:
    """Iterate over mini-batches of an in-memory dataset by slicing arrays.

    skorch's default :class:`torch.utils.data.DataLoader` fetches one sample at
    a time and collates them, which dominates the cost of training the small
    networks used here. This iterator slices whole batches out of the arrays
    instead. It accepts the same arguments as a DataLoader (``batch_size``,
    ``shuffle``) and falls back to a DataLoader for datasets it cannot slice.

    Shuffling draws from the thread's
    :func:`~sk_memsel.nn._random.random_stream`, which the estimators open
    from ``random_state`` during ``fit`` (outside one, from torch's global
    generator).

    Parameters
    ----------
    dataset : skorch.dataset.Dataset or torch.utils.data.Subset of one
    batch_size : int, default=128
        ``-1`` yields the whole dataset as one batch.
    shuffle : bool, default=False
    **kwargs
        Other DataLoader arguments; used only by the fallback.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, **kwargs):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.kwargs = kwargs
        self._arrays = _unwrap_dataset(dataset)

    def _n_samples(self):
        return len(self._arrays[2]) if self._arrays else len(self.dataset)

    def _batch_size(self):
        n = self._n_samples()
        return n if self.batch_size in (-1, None) else max(1, min(self.batch_size, n))

    def __len__(self):
        n, bs = self._n_samples(), self._batch_size()
        return (n + bs - 1) // bs if n else 0

    def __iter__(self):
        if self._arrays is None:
            kwargs = {"generator": stream_generator(purpose="order"), **self.kwargs}
            loader = torch.utils.data.DataLoader(
                self.dataset,
                batch_size=self._batch_size(),
                shuffle=self.shuffle,
                **kwargs,
            )
            yield from loader
            return
        X, y, indices = self._arrays
        # the row weights, when there are, are sliced with the rows
        weights = X.get(WEIGHT_KEY) if isinstance(X, dict) else None
        X = _rows_of(X)
        n, bs = len(indices), self._batch_size()
        if self.shuffle:
            order = torch.randperm(n, generator=stream_generator(purpose="order"))
            indices = indices[order.numpy()]
        contiguous = not self.shuffle and np.array_equal(indices, np.arange(n))
        if torch.is_tensor(X):
            batches = self._tensor_batches(X, y, indices, contiguous, weights)
            yield from batches
            return
        device = getattr(X, "device", None)  # a _RowsOnDevice's
        for start in range(0, n, bs):
            if contiguous:
                rows = slice(start, start + bs)
            else:
                # sorted rows read memory-mapped arrays sequentially
                rows = np.sort(indices[start : start + bs])
            if isinstance(X, SparseRows):  # densified one batch at a time
                Xb = X.dense_batch(rows, device)
            else:
                Xb = _as_tensor(X[rows])
            if y is None:
                yb = torch.zeros(len(Xb), dtype=torch.float32)
            elif y is X:  # a reconstruction: the batch is its own target
                yb = Xb
            else:
                yb = _as_tensor(y[rows], target=True)
            if weights is not None:
                Xb = {"X": Xb, WEIGHT_KEY: _as_tensor(weights[rows])}
            yield Xb, yb

    def _tensor_batches(self, X, y, indices, contiguous, weights=None):
        """Batches of a dataset already on its device (see ``_preload``).

        The rows of every batch are worked out on the CPU, in the same order
        as for arrays, and sent to the device in one copy per epoch; each batch
        is then gathered on the device with no copy from the host.
        """
        n, bs = len(indices), self._batch_size()
        if not contiguous:
            order = np.concatenate(
                [np.sort(indices[start : start + bs]) for start in range(0, n, bs)]
            )
            order = torch.from_numpy(order).to(X.device)
        for start in range(0, n, bs):
            rows = slice(start, start + bs) if contiguous else order[start : start + bs]
            Xb = X[rows]
            if y is None:
                yb = torch.zeros(len(Xb), dtype=torch.float32, device=X.device)
            else:  # a reconstruction (y is X) is its own target: no second gather
                yb = Xb if y is X else y[rows]
            if weights is not None:
                Xb = {"X": Xb, WEIGHT_KEY: weights[rows]}
            yield Xb, yb


#: device types on which an in-memory training set is copied to the device
#: once per fit, so that batches are gathered there instead of being copied
#: from the host one by one (the per-batch copies dominate small networks)
_PRELOAD_DEVICE_TYPES = ("cuda",)

#: the largest share of the GPU's free memory that the copy may take
_PRELOAD_MEMORY_FRACTION = 0.25


def _preload(X, y, device):
    """Copy an in-memory training set to ``device`` as tensors.

    Returns ``(X, y)`` as tensors on the device, or ``None`` when the data
    stay where they are: on the CPU, for out-of-core arrays (read batch by
    batch), and when the copy would take more than a quarter of the GPU's
    free memory. A weighted ``X`` (see :func:`with_weights`) comes back as
    the same dict, its rows and its weights copied. A sparse ``X``
    (:class:`SparseRows`) stays on the host and comes back as one whose
    batches are sent to the device sparse and densified there.
    """
    device = torch.device(device)
    if device.type not in _PRELOAD_DEVICE_TYPES:
        return None
    weights = X.get(WEIGHT_KEY) if isinstance(X, dict) else None
    X = _rows_of(X)
    if isinstance(X, SparseRows):
        # the matrix stays on the host; each batch is densified on the device
        on_device = _RowsOnDevice(X.matrix, device)
        return with_weights(on_device, weights), on_device if y is X else y
    arrays = [X] if y is None or y is X else [X, y]
    if weights is not None:
        arrays.append(weights)
    if not all(type(a) is np.ndarray for a in arrays):
        return None
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if sum(a.nbytes for a in arrays) > _PRELOAD_MEMORY_FRACTION * free:
            return None
    X_dev = _as_tensor(X).to(device)
    if y is X:
        y_dev = X_dev
    else:
        y_dev = None if y is None else _as_tensor(y, target=True).to(device)
    if weights is not None:
        X_dev = with_weights(X_dev, _as_tensor(weights).to(device))
    return X_dev, y_dev
