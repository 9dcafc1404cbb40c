"""Convolution and max-pooling layers of unit a06, loop-based ("naive") and vectorized ("fast").

Graders compare student layers with these, so both versions exist: the naive ones read like the
math students write first (explicit loops over every output position) and serve as the obviously
correct yardstick; the fast ones are what a model trains with (ThreeLayerConvNet, LeNet) and what the
speed exercise measures against (``benchmarks/layers.py``). Both compute exactly the same thing:

* convolution is **cross-correlation**, as in PyTorch's ``conv2d`` (the kernel is not flipped):
  ``out[n, f, i, j] = b[f] + sum_{c, p, q} x_pad[n, c, i*stride + p, j*stride + q] * w[f, c, p, q]``;
* ``pad`` zeros are added on both sides of H and W;
* output sizes are ``1 + (H + 2*pad - HH) // stride`` (conv) and ``1 + (H - pool_height) // stride``
  (pool): rows or columns that do not fill a whole window are ignored, as PyTorch does;
* max-pool backward routes the upstream gradient to the **first** maximum of each window in row-major
  order, as PyTorch does. (The book's naive version credits every tied maximum and its fast version
  splits the gradient among ties; the three agree whenever the window has a unique maximum.)

The fast convolution is im2col through ``sliding_window_view`` plus one BLAS matrix product, and
col2im scatters with one strided slice-add per kernel offset (HH*WW of them) instead of ``np.add.at``.
The fast pooling is separable: a running maximum over the ``pool_width`` column offsets, then over
the ``pool_height`` row offsets, each a strided view; it covers tiling and overlapping windows alike
and measured faster here than the reshape-and-reduce trick for 2x2/2.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from reference.numpy.layers import relu_backward, relu_forward

__all__ = [
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
    "conv_forward_fast",
    "conv_backward_fast",
    "max_pool_forward_fast",
    "max_pool_backward_fast",
    "conv_relu_forward",
    "conv_relu_backward",
    "conv_relu_pool_forward",
    "conv_relu_pool_backward",
]


def _out_size(size: int, window: int, pad: int, stride: int) -> int:
    """Number of whole windows of ``window`` at ``stride`` along an axis of ``size`` padded by ``pad``."""
    span = size + 2 * pad - window
    if span < 0 or stride < 1:
        raise ValueError(
            f"a window of {window} with stride {stride} and pad {pad} does not fit an axis of {size}"
        )
    return 1 + span // stride


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    """Zero-pad the two spatial axes of an (N, C, H, W) array by ``pad`` on each side."""
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _offset_slice(offset: int, stride: int, count: int) -> slice:
    """The ``count`` positions ``offset + stride*i`` of an axis, as a slice."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


def conv_forward_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int]
) -> tuple[np.ndarray, tuple]:
    """Convolution (cross-correlation) with explicit loops over every output value.

    x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param {'stride', 'pad'}.
    Returns out (N, F, H', W') with H' = 1 + (H + 2*pad - HH) // stride (likewise W'), and
    cache = (x, w, b, conv_param).
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_img, _, height, width = x.shape
    n_filt, _, hh, ww = w.shape
    h_out, w_out = _out_size(height, hh, pad, stride), _out_size(width, ww, pad, stride)
    xp = _pad(x, pad)
    out = np.zeros((n_img, n_filt, h_out, w_out), dtype=np.result_type(x, w, b))
    for n in range(n_img):
        for f in range(n_filt):
            for i in range(h_out):
                for j in range(w_out):
                    window = xp[n, :, i * stride : i * stride + hh, j * stride : j * stride + ww]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``conv_forward_naive``, looping over every output value.

    dout (N, F, H', W'). Returns dx (N, C, H, W), dw (F, C, HH, WW), db (F,): each output value
    sends ``dout * w[f]`` back into its input window and ``dout * window`` into its filter.
    """
    x, w, _, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_img, _, height, width = x.shape
    n_filt, _, hh, ww = w.shape
    _, _, h_out, w_out = dout.shape
    xp = _pad(x, pad)
    dxp = np.zeros_like(xp, dtype=np.result_type(xp, dout))
    dw = np.zeros_like(w, dtype=np.result_type(w, dout))
    db = np.zeros(n_filt, dtype=dout.dtype)
    for n in range(n_img):
        for f in range(n_filt):
            for i in range(h_out):
                for j in range(w_out):
                    rows = slice(i * stride, i * stride + hh)
                    cols = slice(j * stride, j * stride + ww)
                    g = dout[n, f, i, j]
                    dw[f] += g * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += g * w[f]
                    db[f] += g
    dx = dxp[:, :, pad : pad + height, pad : pad + width]
    return dx, dw, db


def max_pool_forward_naive(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Max pooling with explicit loops over every output value.

    x (N, C, H, W), pool_param {'pool_height', 'pool_width', 'stride'}. Returns out (N, C, H', W')
    with H' = 1 + (H - pool_height) // stride (likewise W'), and cache = (x, pool_param).
    """
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n_img, chans, height, width = x.shape
    h_out, w_out = _out_size(height, ph, 0, stride), _out_size(width, pw, 0, stride)
    out = np.zeros((n_img, chans, h_out, w_out), dtype=x.dtype)
    for n in range(n_img):
        for c in range(chans):
            for i in range(h_out):
                for j in range(w_out):
                    out[n, c, i, j] = np.max(x[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw])
    return out, (x, pool_param)


def max_pool_backward_naive(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of ``max_pool_forward_naive``: dout (N, C, H', W') -> dx (N, C, H, W).

    Each window's gradient goes to its first maximum in row-major order (``np.argmax``).
    """
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n_img, chans, h_out, w_out = dout.shape
    dx = np.zeros_like(x, dtype=np.result_type(x, dout))
    for n in range(n_img):
        for c in range(chans):
            for i in range(h_out):
                for j in range(w_out):
                    window = x[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
    return dx


def conv_forward_fast(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int]
) -> tuple[np.ndarray, tuple]:
    """Vectorized convolution: im2col by a sliding-window view, then one batched matrix product.

    x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param {'stride', 'pad'}; same output and sizes
    as ``conv_forward_naive``. The columns have shape (N, C*HH*WW, H'*W'), so ``w.reshape(F, -1) @
    cols`` is already in (N, F, H'*W') order: no transpose of the output, forward or backward (on
    CPU those copies cost as much as the products). cache = (x, w, b, conv_param, cols).
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_img, chans, height, width = x.shape
    n_filt, _, hh, ww = w.shape
    h_out, w_out = _out_size(height, hh, pad, stride), _out_size(width, ww, pad, stride)
    windows = sliding_window_view(_pad(x, pad), (hh, ww), axis=(2, 3))[:, :, ::stride, ::stride]
    cols = windows.transpose(0, 1, 4, 5, 2, 3).reshape(n_img, chans * hh * ww, h_out * w_out)
    out = np.matmul(w.reshape(n_filt, -1), cols).astype(np.result_type(x, w, b), copy=False)
    out += b.reshape(1, -1, 1)
    return out.reshape(n_img, n_filt, h_out, w_out), (x, w, b, conv_param, cols)


def conv_backward_fast(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``conv_forward_fast``: dout (N, F, H', W') -> dx (N, C, H, W), dw, db (F,).

    dw and the column gradients are products with the cached columns; col2im adds the column
    gradient of each kernel offset (p, q) into the strided slice of the padded input it came from.
    """
    x, w, _, conv_param, cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_img, chans, height, width = x.shape
    n_filt, _, hh, ww = w.shape
    _, _, h_out, w_out = dout.shape
    dflat = dout.reshape(n_img, n_filt, h_out * w_out)
    db = dflat.sum(axis=(0, 2))
    dw = np.tensordot(dflat, cols, axes=([0, 2], [0, 2])).reshape(w.shape)
    dcols = np.matmul(w.reshape(n_filt, -1).T, dflat).reshape(n_img, chans, hh, ww, h_out, w_out)
    dxp = np.zeros((n_img, chans, height + 2 * pad, width + 2 * pad), dtype=dcols.dtype)
    for p in range(hh):
        for q in range(ww):
            dxp[:, :, _offset_slice(p, stride, h_out), _offset_slice(q, stride, w_out)] += dcols[:, :, p, q]
    return dxp[:, :, pad : pad + height, pad : pad + width].copy(), dw, db


def _first_max(views: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise maximum over same-shaped ``views`` and the index of the first view attaining it.

    For two views (windows of 2, the common case) the index is a bool array, True where the second
    view is strictly larger: two passes over the data instead of four."""
    if len(views) == 2:
        first, second = views
        return np.maximum(first, second), np.greater(second, first)
    best = views[0]
    arg = np.zeros(best.shape, dtype=np.min_scalar_type(len(views) - 1))
    for k, v in enumerate(views[1:], start=1):
        better = np.greater(v, best)
        best = np.where(better, v, best)
        if k == 1:
            arg = better.astype(arg.dtype)
        else:
            np.copyto(arg, k, where=better)
    return np.ascontiguousarray(best), arg


def _route(
    grad: np.ndarray, arg: np.ndarray, window: int, stride: int, shape: tuple[int, ...], axis: int
) -> np.ndarray:
    """Send ``grad`` back along ``axis`` to offset ``arg`` of each window: the inverse of ``_first_max``.

    ``arg`` holds offsets in [0, window); output position ``i`` of offset ``k`` came from input
    position ``k + stride * i``. When the windows
    do not overlap (stride >= window) every input position has at most one source, so it is written
    once; overlapping windows accumulate.
    """
    dst = np.zeros(shape, dtype=grad.dtype)
    index = [slice(None)] * len(shape)
    if arg.dtype == bool and stride >= window:
        # Two offsets that never overlap: the second gets grad where arg holds, the first the rest
        # (grad - grad * arg is exact), without building the masks arg == k.
        index[axis] = _offset_slice(1, stride, grad.shape[axis])
        second = np.multiply(grad, arg, out=dst[tuple(index)])
        index[axis] = _offset_slice(0, stride, grad.shape[axis])
        np.subtract(grad, second, out=dst[tuple(index)])
        return dst
    for k in range(window):
        index[axis] = _offset_slice(k, stride, grad.shape[axis])
        view = dst[tuple(index)]
        if stride >= window:
            np.multiply(grad, arg == k, out=view)
        else:
            view += grad * (arg == k)
    return dst


def max_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Vectorized max pooling, separable: first across each window's columns, then its rows.

    x (N, C, H, W), pool_param {'pool_height', 'pool_width', 'stride'}; same output as
    ``max_pool_forward_naive`` for any window and stride (tiling or overlapping).
    cache = (x.shape, pool_param, col_arg, row_arg): col_arg (N, C, H, W') is the first maximising
    column offset of each row segment, row_arg (N, C, H', W') the first maximising row offset.
    """
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    _, _, height, width = x.shape
    h_out, w_out = _out_size(height, ph, 0, stride), _out_size(width, pw, 0, stride)
    row_max, col_arg = _first_max([x[..., _offset_slice(q, stride, w_out)] for q in range(pw)])
    out, row_arg = _first_max([row_max[:, :, _offset_slice(p, stride, h_out)] for p in range(ph)])
    return out, (x.shape, pool_param, col_arg, row_arg)


def max_pool_backward_fast(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of ``max_pool_forward_fast``: dout (N, C, H', W') -> dx (N, C, H, W).

    Undoes the two stages in reverse order, sending each gradient to the first maximum (row-major)
    of its window, exactly like ``max_pool_backward_naive``.
    """
    x_shape, pool_param, col_arg, row_arg = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    drow = _route(dout, row_arg, ph, stride, col_arg.shape, axis=2)
    return _route(drow, col_arg, pw, stride, x_shape, axis=3)


def conv_relu_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int]
) -> tuple[np.ndarray, tuple]:
    """Fast convolution followed by ReLU. Shapes as ``conv_forward_fast``; cache = (conv_cache, relu_cache)."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``conv_relu_forward``: dout (N, F, H', W') -> dx, dw, db."""
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int], pool_param: dict[str, int]
) -> tuple[np.ndarray, tuple]:
    """Fast convolution, ReLU, then fast max pooling (the book's conv layer).

    x (N, C, H, W) -> out (N, F, H'', W''); cache = (conv_cache, relu_cache, pool_cache).
    """
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of ``conv_relu_pool_forward``: dout (N, F, H'', W'') -> dx, dw, db."""
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    da = relu_backward(ds, relu_cache)
    return conv_backward_fast(da, conv_cache)

