"""Binary restricted Boltzmann machine trained by CD-k and persistent CD (seed 002, chapter 7).

Unit a08's RBM exercise: block Gibbs sampling, the free energy, the contrastive-divergence update
with hand-derived gradients and the likelihood proxies used to monitor training. The seed's chapter
stops before the training loop, so the monitoring costs follow the upstream tutorial (stated on
each method). Exact quantities by enumeration (log Z, log p(v), the full pseudo-likelihood) are
here too: graders and tests need them to check the sampler on tiny models.

Conventions: rows are examples; ``W`` (n_visible, n_hidden), ``hbias`` (n_hidden,), ``vbias``
(n_visible,); energy ``E(v, h) = -v.vbias - h.hbias - v W h``; free energy
``F(v) = -v.vbias - sum_j softplus(v W + hbias)_j``; float64; samples are 0/1 floats drawn from
``self.rng`` (a ``numpy.random.Generator``) in the order unit a08 pins, which its graders replay
exactly: each ``sample_*`` call makes one ``rng.random(mean.shape)`` draw ``u`` and samples
``u < mean``; ``cd_update`` always draws the positive phase's hidden sample first (PCD then ignores
it, as the tutorial's code computes it either way), then ``k`` Gibbs steps ``h -> v -> h``.
"""

from __future__ import annotations

import itertools

import numpy as np

from reference.numpy.mlp import glorot_bound, sigmoid

__all__ = ["RBM"]


def _softplus_sum(a: np.ndarray) -> np.ndarray:
    """Row sums of ``softplus(a) = max(a, 0) + log1p(exp(-|a|))`` (stable), computed in ``a``'s memory:
    about twice as fast as ``np.logaddexp(0, a)``, which the exact pseudo-likelihood calls 784 times."""
    positive = np.maximum(a, 0.0)
    np.abs(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    np.log1p(a, out=a)
    a += positive
    return a.sum(axis=1)


class RBM:
    """Bernoulli-Bernoulli RBM.

    Without ``W`` the weights are uniform in ±4 sqrt(6 / (n_visible + n_hidden)); biases default to
    zeros. ``seed`` is an int seed or a ``numpy.random.Generator``, used as it is: ``self.rng`` draws
    the initial weights and every sample. ``bit_i_idx`` is the bit that the next
    ``get_pseudo_likelihood_cost`` call flips (it cycles through 0 .. n_visible-1).
    """

    def __init__(
        self,
        n_visible: int = 784,
        n_hidden: int = 500,
        W: np.ndarray | None = None,
        hbias: np.ndarray | None = None,
        vbias: np.ndarray | None = None,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        if W is None:
            bound = glorot_bound(n_visible, n_hidden, "sigmoid")
            W = self.rng.uniform(-bound, bound, size=(n_visible, n_hidden))
        self.W = W
        self.hbias = np.zeros(n_hidden) if hbias is None else hbias
        self.vbias = np.zeros(n_visible) if vbias is None else vbias
        self.bit_i_idx = 0

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{"W": (n_visible, n_hidden), "hbias": (n_hidden,), "vbias": (n_visible,)}``."""
        return {"W": self.W, "hbias": self.hbias, "vbias": self.vbias}

    def _bernoulli(self, mean: np.ndarray) -> np.ndarray:
        """0/1 samples with the given success probabilities."""
        return (self.rng.random(mean.shape) < mean).astype(np.float64)

    def propup(self, vis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(pre, p(h=1|v))`` with ``pre = vis W + hbias``, both (N, n_hidden)."""
        pre = vis @ self.W + self.hbias
        return pre, sigmoid(pre)

    def sample_h_given_v(self, v0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pre_h, h_mean, h_sample)``, each (N, n_hidden)."""
        pre, mean = self.propup(v0)
        return pre, mean, self._bernoulli(mean)

    def propdown(self, hid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(pre, p(v=1|h))`` with ``pre = hid W^T + vbias``, both (N, n_visible)."""
        pre = hid @ self.W.T + self.vbias
        return pre, sigmoid(pre)

    def sample_v_given_h(self, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pre_v, v_mean, v_sample)``, each (N, n_visible)."""
        pre, mean = self.propdown(h0)
        return pre, mean, self._bernoulli(mean)

    def gibbs_hvh(self, h0: np.ndarray) -> tuple[np.ndarray, ...]:
        """One Gibbs step from the hidden state: ``(pre_v1, v1_mean, v1_sample, pre_h1, h1_mean, h1_sample)``."""
        pre_v1, v1_mean, v1_sample = self.sample_v_given_h(h0)
        pre_h1, h1_mean, h1_sample = self.sample_h_given_v(v1_sample)
        return pre_v1, v1_mean, v1_sample, pre_h1, h1_mean, h1_sample

    def gibbs_vhv(self, v0: np.ndarray) -> tuple[np.ndarray, ...]:
        """One Gibbs step from the visible state: ``(pre_h1, h1_mean, h1_sample, pre_v1, v1_mean, v1_sample)``."""
        pre_h1, h1_mean, h1_sample = self.sample_h_given_v(v0)
        pre_v1, v1_mean, v1_sample = self.sample_v_given_h(h1_sample)
        return pre_h1, h1_mean, h1_sample, pre_v1, v1_mean, v1_sample

    def free_energy(self, v: np.ndarray) -> np.ndarray:
        """``F(v) = -v.vbias - sum_j log(1 + exp((v W + hbias)_j))``, shape (N,)."""
        return -(v @ self.vbias) - np.logaddexp(0.0, v @ self.W + self.hbias).sum(axis=1)

    def cd_gradients(self, v0: np.ndarray, vk: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of ``mean F(v0) - mean F(vk)`` with the chain end ``vk`` held constant.

        Shapes: ``v0`` (N, n_visible) data, ``vk`` (M, n_visible) negative particles. With
        ``s(v) = sigmoid(v W + hbias)``: dW = -(v0^T s(v0) / N - vk^T s(vk) / M),
        dhbias = -(mean s(v0) - mean s(vk)), dvbias = -(mean v0 - mean vk). Subtracting them
        (SGD) lowers the free energy of the data and raises that of the model's samples.
        """
        s0 = self.propup(v0)[1]
        sk = self.propup(vk)[1]
        return {
            "W": -(v0.T @ s0 / v0.shape[0] - vk.T @ sk / vk.shape[0]),
            "hbias": -(s0.mean(axis=0) - sk.mean(axis=0)),
            "vbias": -(v0.mean(axis=0) - vk.mean(axis=0)),
        }

    def cd_update(
        self, x: np.ndarray, lr: float = 0.1, k: int = 1, persistent: np.ndarray | None = None
    ) -> float:
        """One CD-k (``persistent=None``) or PCD-k update on the minibatch ``x`` (N, n_visible).

        The positive phase samples h from ``x`` as given (not binarised), for CD and PCD alike. CD
        starts the chain from that sample; PCD starts from ``persistent`` (M, n_hidden) and writes
        the chain's final hidden sample back into it, so the chain carries over to the next call.
        After k ``gibbs_hvh`` steps, ``params -= lr * cd_gradients(x, v_k)``. Returns the tutorial's
        monitoring cost, computed before the update: ``get_pseudo_likelihood_cost(x)`` for PCD (a
        log pseudo-likelihood: negative, higher is better), ``get_reconstruction_cost(x, pre_v)`` of
        the chain's last visible pre-activation for CD (a cross-entropy: positive, lower is better).
        """
        if k < 1:
            raise ValueError(f"cd_update: k must be >= 1, got {k}")
        positive = self.sample_h_given_v(x)[2]
        chain = positive if persistent is None else persistent
        for _ in range(k):
            pre_v, _, v_sample, _, _, chain = self.gibbs_hvh(chain)
        grads = self.cd_gradients(x, v_sample)
        if persistent is None:
            monitor = self.get_reconstruction_cost(x, pre_v)
        else:
            monitor = self.get_pseudo_likelihood_cost(x)
            persistent[...] = chain
        for name, p in self.params.items():
            p -= lr * grads[name]
        return monitor

    def get_pseudo_likelihood_cost(self, x: np.ndarray) -> float:
        """The tutorial's stochastic log pseudo-likelihood: one bit per call, cycling.

        ``xi = round(x)``; with bit ``i = bit_i_idx`` flipped, returns
        ``mean_n(n_visible * log sigmoid(F(xi_flip) - F(xi)))`` and advances ``bit_i_idx``.
        Averaged over a full cycle it equals ``exact_log_pseudo_likelihood(round(x))``.
        """
        xi = np.round(x)
        flipped = xi.copy()
        i = self.bit_i_idx
        flipped[:, i] = 1.0 - flipped[:, i]
        delta = self.free_energy(flipped) - self.free_energy(xi)
        self.bit_i_idx = (i + 1) % self.W.shape[0]
        return float(np.mean(self.W.shape[0] * -np.logaddexp(0.0, -delta)))

    def exact_log_pseudo_likelihood(self, v: np.ndarray, chunk: int = 256) -> float:
        """``mean_n sum_i log P(v_i | v_-i)`` for binary rows ``v`` (N, n_visible), every bit visited.

        ``log P(v_i | v_-i) = log sigmoid(F(v with bit i flipped) - F(v))``. Flipping bit i moves
        the hidden pre-activation ``v W + hbias`` by ``s W[i]`` with ``s = 1 - 2 v_i``, so each bit
        costs one (rows, n_hidden) softplus, not a whole free energy: for 784 bits and 500 hidden
        units about 400 times less work than recomputing ``F`` per bit. Rows go ``chunk`` at a time.
        """
        total = 0.0
        for start in range(0, v.shape[0], chunk):
            rows = v[start:start + chunk]
            pre = rows @ self.W + self.hbias
            base = _softplus_sum(pre.copy())
            for i in range(v.shape[1]):
                sign = 1.0 - 2.0 * rows[:, i]
                flipped = _softplus_sum(pre + sign[:, None] * self.W[i])
                delta = -sign * self.vbias[i] - (flipped - base)  # F(flipped) - F(rows)
                total -= float(np.logaddexp(0.0, -delta).sum())
        return total / v.shape[0]

    def get_reconstruction_cost(self, x: np.ndarray, pre_sigmoid_nv: np.ndarray) -> float:
        """Mean over rows of the cross-entropy between ``x`` and ``sigmoid(pre_sigmoid_nv)`` (N, n_visible).

        Positive, lower is better; upstream returns the same number with the opposite sign
        (a log-likelihood). Computed from the pre-activation: ``softplus(a) - x a`` summed.
        """
        a = pre_sigmoid_nv
        return float(np.mean(np.sum(np.logaddexp(0.0, a) - x * a, axis=1)))

    def log_partition(self) -> float:
        """``log Z = log sum_v exp(-F(v))`` by enumerating all 2^n_visible binary vectors (tiny models)."""
        n_visible = self.W.shape[0]
        if n_visible > 20:
            raise ValueError(f"log_partition: 2^{n_visible} visible states is too many to enumerate")
        states = np.array(list(itertools.product((0.0, 1.0), repeat=n_visible)))
        neg_f = -self.free_energy(states)
        top = neg_f.max()
        return float(top + np.log(np.exp(neg_f - top).sum()))

    def log_likelihood(self, v: np.ndarray) -> np.ndarray:
        """Exact ``log p(v) = -F(v) - log Z`` for binary rows ``v`` (N, n_visible), shape (N,)."""
        return -self.free_energy(v) - self.log_partition()
