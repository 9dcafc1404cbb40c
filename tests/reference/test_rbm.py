"""RBM (a08) on tiny models where everything can be enumerated: free energy, conditionals, log Z and
the pseudo-likelihood against brute force over (v, h); CD gradients vs autograd and vs the exact
likelihood gradient; the CD-k / PCD update wiring; Gibbs sampling converging to p(v); training."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gradcheck import rel_error
from reference.numpy.rbm import RBM
from reference.torch.autograd import to_numpy, to_tensor, value_and_grads
from reference.torch.rbm import rbm_cd_cost, rbm_free_energy, rbm_propdown, rbm_propup
from tests.reference.conftest import TOL_EXACT

N_VIS, N_HID = 4, 3


def tiny_rbm(seed: int = 0, scale: float = 1.0) -> RBM:
    rng = np.random.default_rng(seed)
    return RBM(N_VIS, N_HID, W=scale * rng.normal(size=(N_VIS, N_HID)), hbias=rng.normal(size=N_HID),
               vbias=rng.normal(size=N_VIS), seed=seed + 100)


def states(n: int) -> np.ndarray:
    return np.array(list(itertools.product((0.0, 1.0), repeat=n)))


def energy(rbm: RBM, v: np.ndarray, h: np.ndarray) -> float:
    """E(v, h) = -v.b - h.c - v W h, written from the definition."""
    return -(v @ rbm.vbias) - (h @ rbm.hbias) - v @ rbm.W @ h


def joint(rbm: RBM) -> np.ndarray:
    """p(v, h) table (2^N_VIS, 2^N_HID) by brute force over every configuration."""
    table = np.array([[np.exp(-energy(rbm, v, h)) for h in states(N_HID)] for v in states(N_VIS)])
    return table / table.sum()


def test_init_bound():
    rbm = RBM(784, 500, seed=1234)
    assert np.abs(rbm.W).max() <= 0.2734344 and np.abs(rbm.W).max() > 0.95 * 0.2734344
    assert np.all(rbm.hbias == 0) and np.all(rbm.vbias == 0)


def test_free_energy_matches_brute_force():
    rbm = tiny_rbm()
    V = states(N_VIS)
    brute = np.array([-np.log(sum(np.exp(-energy(rbm, v, h)) for h in states(N_HID))) for v in V])
    assert rel_error(rbm.free_energy(V), brute) < TOL_EXACT[np.float64]


def test_log_likelihood_and_partition_match_enumeration():
    rbm = tiny_rbm()
    V = states(N_VIS)
    z = sum(np.exp(-energy(rbm, v, h)) for v in V for h in states(N_HID))
    assert rel_error(rbm.log_partition(), np.log(z)) < TOL_EXACT[np.float64]
    p_v = joint(rbm).sum(axis=1)
    assert rel_error(rbm.log_likelihood(V), np.log(p_v)) < TOL_EXACT[np.float64]


def test_conditionals_match_brute_force():
    rbm = tiny_rbm()
    table = joint(rbm)
    H, V = states(N_HID), states(N_VIS)
    p_h_given_v = (table @ H) / table.sum(axis=1, keepdims=True)  # (16, N_HID): P(h_j = 1 | v)
    assert rel_error(rbm.propup(V)[1], p_h_given_v) < TOL_EXACT[np.float64]
    p_v_given_h = (table.T @ V) / table.sum(axis=0)[:, None]
    assert rel_error(rbm.propdown(H)[1], p_v_given_h) < TOL_EXACT[np.float64]


def test_values_match_torch(device):
    rbm = tiny_rbm()
    V, H = states(N_VIS), states(N_HID)
    W, hb, vb = (to_tensor(a, device) for a in (rbm.W, rbm.hbias, rbm.vbias))
    Vt, Ht = to_tensor(V, device), to_tensor(H, device)
    assert rel_error(rbm.free_energy(V), to_numpy(rbm_free_energy(Vt, W, hb, vb))) < TOL_EXACT[np.float64]
    assert rel_error(rbm.propup(V)[1], to_numpy(rbm_propup(Vt, W, hb))) < TOL_EXACT[np.float64]
    assert rel_error(rbm.propdown(H)[1], to_numpy(rbm_propdown(Ht, W, vb))) < TOL_EXACT[np.float64]


def test_cd_gradients_match_autograd(rng, device):
    rbm = tiny_rbm()
    v0 = (rng.random((6, N_VIS)) < 0.5).astype(float)
    vk = (rng.random((5, N_VIS)) < 0.5).astype(float)
    grads = rbm.cd_gradients(v0, vk)
    _, (gW, gh, gv) = value_and_grads(rbm_cd_cost, [v0, vk, rbm.W, rbm.hbias, rbm.vbias], wrt=[2, 3, 4],
                                      device=device)
    for mine, theirs in ((grads["W"], gW), (grads["hbias"], gh), (grads["vbias"], gv)):
        assert rel_error(mine, theirs) < TOL_EXACT[np.float64]


def exact_nll_gradient(rbm: RBM, v0: np.ndarray) -> dict[str, np.ndarray]:
    """Gradient of -mean log p(v0), log Z by enumeration, differentiated by torch autograd."""
    params = [torch.tensor(a, requires_grad=True) for a in (rbm.W, rbm.hbias, rbm.vbias)]
    all_v = torch.tensor(states(N_VIS))
    log_z = torch.logsumexp(-rbm_free_energy(all_v, *params), dim=0)
    nll = (rbm_free_energy(torch.tensor(v0), *params) + log_z).mean()
    nll.backward()
    return {name: p.grad.numpy() for name, p in zip(("W", "hbias", "vbias"), params)}


def chain_end(rbm: RBM, v0: np.ndarray, k: int) -> np.ndarray:
    """The CD-k negative particles: h ~ p(h|v0), then k ``gibbs_hvh`` steps; returns v_k."""
    h = rbm.sample_h_given_v(v0)[2]
    for _ in range(k):
        _, _, v, _, _, h = rbm.gibbs_hvh(h)
    return v


def test_long_chain_cd_gradient_is_the_likelihood_gradient():
    """With k large the chain end samples the model, so the mean CD gradient is the exact gradient
    (CD-1 is biased: off by ~0.007 on vbias here, yet it still points the same way)."""
    rbm = tiny_rbm(scale=0.5)
    data = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]])
    v0 = np.repeat(data, 20_000, axis=0)
    exact = exact_nll_gradient(rbm, data)
    grads = rbm.cd_gradients(v0, chain_end(rbm, v0, k=30))
    for name in grads:
        assert np.allclose(grads[name], exact[name], atol=0.005), name
    cd1 = rbm.cd_gradients(v0, chain_end(rbm, v0, k=1))
    flat = np.concatenate([cd1[n].ravel() for n in exact])
    flat_exact = np.concatenate([exact[n].ravel() for n in exact])
    assert flat @ flat_exact > 0.95 * np.linalg.norm(flat) * np.linalg.norm(flat_exact)


def test_cd1_raises_the_visible_bias_of_always_on_units():
    """Data with bit 0 always on: dvbias_0 = -(1 - mean v_k[0]) < 0, so SGD raises vbias_0."""
    rbm = tiny_rbm()
    v0 = np.tile([1.0, 0.0, 1.0, 0.0], (200, 1))
    grads = rbm.cd_gradients(v0, chain_end(rbm, v0, k=1))
    assert grads["vbias"][0] < 0 and grads["vbias"][2] < 0
    assert grads["vbias"][1] > 0 and grads["vbias"][3] > 0


def test_cd_update_applies_cd_k_gradients():
    rbm = tiny_rbm()
    twin = copy.deepcopy(rbm)  # same generator state: the same samples
    x = (np.random.default_rng(3).random((8, N_VIS)) < 0.5).astype(float)
    rbm.cd_update(x, lr=0.1, k=3)
    grads = twin.cd_gradients(x, chain_end(twin, x, k=3))
    for name, p in rbm.params.items():
        assert np.allclose(p, twin.params[name] - 0.1 * grads[name]), name


def test_pcd_keeps_its_chain_between_calls():
    rbm = tiny_rbm()
    twin = copy.deepcopy(rbm)
    x = (np.random.default_rng(3).random((8, N_VIS)) < 0.5).astype(float)
    persistent = np.zeros((5, N_HID))
    chain = persistent.copy()
    for _ in range(3):
        rbm.cd_update(x, lr=0.1, k=2, persistent=persistent)
        twin.sample_h_given_v(x)  # the positive phase is drawn for PCD too (and not used)
        h = chain
        for _ in range(2):
            _, _, v, _, _, h = twin.gibbs_hvh(h)
        grads = twin.cd_gradients(x, v)
        for name, p in twin.params.items():
            p -= 0.1 * grads[name]
        chain = h
        assert np.array_equal(persistent, chain)  # the state written back is where the chain stopped
    for name, p in rbm.params.items():
        assert np.allclose(p, twin.params[name]), name


def test_gibbs_sampling_converges_to_the_model_distribution():
    rbm = tiny_rbm(scale=0.7)
    v = (rbm.rng.random((40_000, N_VIS)) < 0.5).astype(float)  # uniform start: TV 0.18 from p(v)
    for _ in range(30):
        v = rbm.gibbs_vhv(v)[5]
    codes = (v @ (2 ** np.arange(N_VIS)[::-1])).astype(int)
    empirical = np.bincount(codes, minlength=2**N_VIS) / v.shape[0]
    exact = np.exp(rbm.log_likelihood(states(N_VIS)))
    assert 0.5 * np.abs(empirical - exact).sum() < 0.02


def test_pseudo_likelihood_exact_and_stochastic():
    rbm = tiny_rbm()
    V = states(N_VIS)
    p_v = np.exp(rbm.log_likelihood(V))
    brute = np.zeros(len(V))
    for i in range(N_VIS):  # log P(v_i | v_-i) = log p(v) - log(p(v) + p(v with bit i flipped))
        flipped_index = np.arange(len(V)) ^ (1 << (N_VIS - 1 - i))
        brute += np.log(p_v) - np.log(p_v + p_v[flipped_index])
    assert rel_error(rbm.exact_log_pseudo_likelihood(V), brute.mean()) < TOL_EXACT[np.float64]
    assert rel_error(direct_log_pseudo_likelihood(rbm, V), brute.mean()) < TOL_EXACT[np.float64]
    x = V[[3, 9, 14]] * 0.9 + 0.05  # rounded to bits by the stochastic cost
    costs = [rbm.get_pseudo_likelihood_cost(x) for _ in range(N_VIS)]
    assert rbm.bit_i_idx == 0  # one full cycle
    assert np.mean(costs) == pytest.approx(rbm.exact_log_pseudo_likelihood(V[[3, 9, 14]]), rel=1e-12)


def test_sampling_draws_one_uniform_per_call_below_the_mean():
    """The pinned draw: one ``rng.random(mean.shape)`` per sample call, a unit on where it is below its mean."""
    rbm = tiny_rbm()
    rbm.rng = np.random.default_rng(11)
    replay = np.random.default_rng(11)
    v = states(N_VIS)
    _, h_mean, h = rbm.sample_h_given_v(v)
    assert np.array_equal(h, (replay.random(h_mean.shape) < h_mean).astype(float))
    _, v_mean, v1 = rbm.sample_v_given_h(h)
    assert np.array_equal(v1, (replay.random(v_mean.shape) < v_mean).astype(float))
    assert h.dtype == v1.dtype == np.float64


def test_cd_update_draws_the_positive_phase_for_pcd_too():
    rbm = tiny_rbm()
    twin = copy.deepcopy(rbm)
    x = (np.random.default_rng(4).random((6, N_VIS)) < 0.5).astype(float)
    persistent = np.zeros((6, N_HID))
    rbm.cd_update(x, lr=0.1, k=1, persistent=persistent)
    twin.sample_h_given_v(x)
    h = twin.gibbs_hvh(np.zeros((6, N_HID)))[5]
    assert np.array_equal(persistent, h)


def direct_log_pseudo_likelihood(rbm: RBM, v: np.ndarray) -> float:
    """The definition, one whole free energy per flipped bit (what the incremental version avoids)."""
    total = np.zeros(v.shape[0])
    for i in range(v.shape[1]):
        flipped = v.copy()
        flipped[:, i] = 1.0 - flipped[:, i]
        total -= np.logaddexp(0.0, -(rbm.free_energy(flipped) - rbm.free_energy(v)))
    return float(total.mean())


@pytest.mark.parametrize("chunk", [1, 7, 256])
def test_incremental_pseudo_likelihood_equals_the_direct_one(chunk):
    rng = np.random.default_rng(12)
    rbm = RBM(23, 9, W=3 * rng.normal(size=(23, 9)), hbias=rng.normal(size=9), vbias=rng.normal(size=23), seed=0)
    v = (rng.random((30, 23)) < 0.4).astype(float)
    assert rel_error(rbm.exact_log_pseudo_likelihood(v, chunk=chunk), direct_log_pseudo_likelihood(rbm, v)) < 1e-12


def test_incremental_pseudo_likelihood_stays_finite_for_huge_weights():
    rng = np.random.default_rng(13)
    rbm = RBM(10, 4, W=400 * rng.normal(size=(10, 4)), seed=0)
    v = (rng.random((8, 10)) < 0.5).astype(float)
    value = rbm.exact_log_pseudo_likelihood(v)
    assert np.isfinite(value) and rel_error(value, direct_log_pseudo_likelihood(rbm, v)) < 1e-12


def test_reconstruction_cost_is_summed_binary_cross_entropy(rng):
    rbm = tiny_rbm()
    x = rng.random((5, N_VIS))
    a = rng.normal(size=(5, N_VIS)) * 10
    expected = F.binary_cross_entropy_with_logits(torch.tensor(a), torch.tensor(x), reduction="sum").item() / 5
    assert rel_error(rbm.get_reconstruction_cost(x, a), expected) < TOL_EXACT[np.float64]


@pytest.mark.parametrize("persistent", [False, True])
def test_training_raises_likelihood_and_pseudo_likelihood(persistent):
    data = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]] * 10)
    rbm = RBM(N_VIS, N_HID, seed=7)
    chain = np.zeros((20, N_HID)) if persistent else None
    ll0 = rbm.log_likelihood(data).mean()
    pl0 = rbm.exact_log_pseudo_likelihood(data)
    for _ in range(600):
        rbm.cd_update(data, lr=0.1, k=1, persistent=chain)
    assert rbm.log_likelihood(data).mean() > ll0 + 1.0
    assert rbm.exact_log_pseudo_likelihood(data) > pl0 + 1.0
