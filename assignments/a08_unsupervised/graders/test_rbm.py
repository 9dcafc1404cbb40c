"""Hidden graders of a08's restricted Boltzmann machine (``RBM``) and of the trained RBM.

Why these checks: the samplers are checked exactly, not statistically: each ``sample_*`` call is one
``rng.random(mean.shape)`` draw compared with the mean, so the student's model, given a generator
the grader seeded, must reproduce the reference's bits over two calls that continue one stream. The
conditionals and the free energy are compared with ``reference.numpy`` (the free energy also with
pre-activations of about +-1000, where a naive softplus overflows). Composite methods cost their own
points only: ``gibbs_*``, ``cd_update`` and ``get_pseudo_likelihood_cost`` pass when they match the
reference driven by the same generator *or* what the student's own samplers (and free energy, and
pseudo-likelihood) do in a twin built from the same seed; the twin's CD step takes its gradients
from torch autograd of ``mean F(x) - mean F(chain end)``. CD-2 is checked with its reconstruction
monitoring cost (positive, as the notebook pins it); PCD over two calls, the persistent chain read
back after each (it must be written in place) and the pseudo-likelihood's bit index advancing and
wrapping. The trained RBM is scored by its exact log pseudo-likelihood (every bit flipped in turn,
computed incrementally) on held-out MNIST test images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.grade.api import (
    assign,
    check_close,
    check_close_to_one_of,
    check_true,
    check_unmodified,
    generator,
    points,
    probe,
    read,
    ref,
    step,
)
from reference.numpy import RBM
from reference.torch import rbm_cd_cost, value_and_grads

# N rows, N_VISIBLE visible and N_HIDDEN hidden units (different sizes: a W where W^T belongs fails).
N, N_VISIBLE, N_HIDDEN = 5, 9, 6
M = 4  # rows of the persistent chain (not N: the two means of the CD gradient must not be confused)
LR, K = 0.3, 2
PARAMS = ("W", "hbias", "vbias")


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**62))


def _params(rng: np.random.Generator, scale: float = 1.0) -> dict[str, np.ndarray]:
    return {"W": scale * rng.standard_normal((N_VISIBLE, N_HIDDEN)), "hbias": rng.standard_normal(N_HIDDEN),
            "vbias": rng.standard_normal(N_VISIBLE)}


def _bits(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return (rng.random((rows, cols)) < 0.5).astype(np.float64)


def _pixels(rng: np.random.Generator, rows: int = N) -> np.ndarray:
    """Values in [0, 1] that stay at least 0.05 from 0.5, so that rounding them to bits is never a tie."""
    x = rng.random((rows, N_VISIBLE))
    return np.where(np.abs(x - 0.5) < 0.05, x + np.sign(x - 0.5 + 1e-9) * 0.05, x)


def _reference(run, name: str = "rbm") -> RBM:
    """The reference RBM with the probe's parameters and a generator in the state the student's started in."""
    spec = run.step(name)
    return RBM(N_VISIBLE, N_HIDDEN, seed=spec.args[0].build(), **{k: v.copy() for k, v in spec.kwargs.items()})


def _plausible(outputs: list[np.ndarray]) -> bool:
    """Whether the outputs of the student's samplers on the twin can stand for what their composite method
    should return: finite arrays, none of them constant. (A sampler that returns zeros must not make a
    Gibbs step that returns zeros right; a sampler with a bug of its own still can.)"""
    arrays = [np.asarray(o, dtype=np.float64) for o in outputs]
    return all(a.size > 1 and bool(np.all(np.isfinite(a))) and np.ptp(a) > 0 for a in arrays)


def _rbm(seed: int, params: dict[str, np.ndarray], name: str = "rbm") -> Any:
    """The step building the student's RBM ``name`` from a generator of the grader's."""
    return step(name, "RBM", generator(seed), N_VISIBLE, N_HIDDEN, **params)


# --- probes --------------------------------------------------------------------------------------


@probe("RBM")
def rbm_prop(rng):
    return {"steps": [
        _rbm(_seed(rng), _params(rng)),
        step("up", ref("rbm").attr("propup"), _pixels(rng)),
        step("down", ref("rbm").attr("propdown"), _bits(rng, N, N_HIDDEN)),
    ]}


@probe("RBM")
def rbm_sample(rng):
    v, h = _pixels(rng), _bits(rng, N, N_HIDDEN)
    rbm = ref("rbm")
    return {"steps": [
        _rbm(_seed(rng), _params(rng)),
        step("h1", rbm.attr("sample_h_given_v"), v), step("h2", rbm.attr("sample_h_given_v"), v),
        step("v1", rbm.attr("sample_v_given_h"), h), step("v2", rbm.attr("sample_v_given_h"), h),
    ]}


def _gibbs(rng: np.random.Generator, method: str, first: str, second: str, start: np.ndarray) -> dict[str, Any]:
    """Two Gibbs steps on one generator, and a twin from the same seed replaying them with the student's samplers."""
    seed, params = _seed(rng), _params(rng)
    twin = ref("twin")
    return {"steps": [
        _rbm(seed, params),
        step("g1", ref("rbm").attr(method), start),
        step("g2", ref("rbm").attr(method), ref("g1").out(5)),
        _rbm(seed, params, "twin"),
        step("a1", twin.attr(first), start), step("b1", twin.attr(second), ref("a1").out(2)),
        step("a2", twin.attr(first), ref("b1").out(2)), step("b2", twin.attr(second), ref("a2").out(2)),
    ]}


@probe("RBM")
def rbm_gibbs_vhv(rng):
    return _gibbs(rng, "gibbs_vhv", "sample_h_given_v", "sample_v_given_h", _bits(rng, N, N_VISIBLE))


@probe("RBM")
def rbm_gibbs_hvh(rng):
    return _gibbs(rng, "gibbs_hvh", "sample_v_given_h", "sample_h_given_v", _bits(rng, N, N_HIDDEN))


@probe("RBM")
def rbm_free_energy(rng):
    huge = _params(rng)
    huge["W"] = 1000 * (0.5 + rng.random((N_VISIBLE, N_HIDDEN))) * rng.choice([-1.0, 1.0], N_HIDDEN)
    return {"steps": [
        _rbm(_seed(rng), _params(rng)),
        step("fe", ref("rbm").attr("free_energy"), _pixels(rng)),
        _rbm(_seed(rng), huge, "huge"),
        step("fe_huge", ref("huge").attr("free_energy"), _bits(rng, N, N_VISIBLE)),
    ]}


def _replay_update(twin, x: np.ndarray, start: Any, tag: str, monitor: str) -> list:
    """The twin's steps of one update: the positive phase, K Gibbs steps from ``start``, the monitoring cost."""
    steps = [step(f"{tag}_pos", twin.attr("sample_h_given_v"), x)]
    chain = start
    for k in range(K):
        steps.append(step(f"{tag}_g{k}", twin.attr("gibbs_hvh"), chain))
        chain = ref(f"{tag}_g{k}").out(5)
    steps.append(step(f"{tag}_up0", twin.attr("propup"), x))
    steps.append(step(f"{tag}_upk", twin.attr("propup"), ref(f"{tag}_g{K - 1}").out(2)))
    if monitor == "reconstruction":
        steps.append(step(f"{tag}_mon", twin.attr("get_reconstruction_cost"), x, ref(f"{tag}_g{K - 1}").out(0)))
    else:
        steps.append(step(f"{tag}_mon", twin.attr("get_pseudo_likelihood_cost"), x))
    return steps


@probe("RBM")
def rbm_cd(rng):
    seed, params, x = _seed(rng), _params(rng), _pixels(rng)
    return {"steps": [
        _rbm(seed, params),
        step("u", ref("rbm").attr("cd_update"), x, lr=LR, k=K),
        *(read(p, ref("rbm").attr(p)) for p in PARAMS),
        _rbm(seed, params, "twin"),
        *_replay_update(ref("twin"), x, ref("t_pos").out(2), "t", "reconstruction"),
    ]}


@probe("RBM")
def rbm_pcd(rng):
    """Two PCD-2 updates sharing one persistent chain; the twin replays each with the student's own pieces,
    tied before the second to the parameters and chain the first left."""
    seed, params = _seed(rng), _params(rng)
    x1, x2, chain = _pixels(rng), _pixels(rng), _bits(rng, M, N_HIDDEN)
    rbm, twin = ref("rbm"), ref("twin")
    return {"steps": [
        _rbm(seed, params),
        step("u1", rbm.attr("cd_update"), x1, lr=LR, k=K, persistent=chain),
        read("chain1", ref("u1").kwarg("persistent")),
        *(read(f"{p}1", rbm.attr(p)) for p in PARAMS),
        read("bit1", rbm.attr("bit_i_idx")),
        _rbm(seed, params, "twin"),
        *_replay_update(twin, x1, chain, "s", "pseudo-likelihood"),
        assign("tie", twin, {p: rbm.attr(p) for p in PARAMS}),
        *_replay_update(twin, x2, ref("u1").kwarg("persistent"), "t", "pseudo-likelihood"),
        step("u2", rbm.attr("cd_update"), x2, lr=LR, k=K, persistent=ref("u1").kwarg("persistent")),
        read("chain2", ref("u2").kwarg("persistent")),
        *(read(f"{p}2", rbm.attr(p)) for p in PARAMS),
        read("bit2", rbm.attr("bit_i_idx")),
    ]}


def _pl_chain(rng: np.random.Generator, params: dict[str, np.ndarray]) -> dict[str, Any]:
    """Bits 0 and 1, then (the index set to the last bit) the last bit and bit 0 again; the student's free
    energies of the rounded rows and of each flipped version, for the own-pieces path."""
    x = _pixels(rng)
    bits = np.round(x)
    rbm = ref("rbm")
    flips = {}
    for i in (0, 1, N_VISIBLE - 1):
        flipped = bits.copy()
        flipped[:, i] = 1.0 - flipped[:, i]
        flips[i] = flipped
    return {"steps": [
        _rbm(_seed(rng), params),
        step("pl1", rbm.attr("get_pseudo_likelihood_cost"), x), step("pl2", rbm.attr("get_pseudo_likelihood_cost"), x),
        read("bit_a", rbm.attr("bit_i_idx")),
        assign("to_last", rbm, {"bit_i_idx": N_VISIBLE - 1}),
        step("pl3", rbm.attr("get_pseudo_likelihood_cost"), x), step("pl4", rbm.attr("get_pseudo_likelihood_cost"), x),
        read("bit_b", rbm.attr("bit_i_idx")),
        step("f", rbm.attr("free_energy"), bits),
        *(step(f"f{i}", rbm.attr("free_energy"), flipped) for i, flipped in flips.items()),
    ]}


@probe("RBM")
def rbm_pl(rng):
    return _pl_chain(rng, _params(rng))


@probe("RBM")
def rbm_pl_large(rng):
    """Weights of hundreds and visible biases of +-1000: free energies about 1000 apart, where
    log(sigmoid(d)) gives -inf (exp(1000) overflows)."""
    params = _params(rng, 300.0)
    params["vbias"] = 1000.0 * rng.choice([-1.0, 1.0], N_VISIBLE)
    return _pl_chain(rng, params)


# --- conditionals and samplers ---------------------------------------------------------------------


@points(1, cell="check_rbm_conditionals")
def test_propup(result, tolerance):
    """RBM.propup: the pre-activation v W + hbias and P(h = 1 | v) on a batch of 5, leaving v as it was given."""
    run = result("rbm_prop")
    pre, mean = _reference(run).propup(run.step("up").args[0])
    check_close("RBM.propup: pre", run.step("up").returned(0), pre, tolerance("value"))
    check_close("RBM.propup: mean", run.step("up").returned(1), mean, tolerance("value"))
    check_unmodified("RBM.propup: vis", run.step("up"), 0)


@points(1, cell="check_rbm_conditionals")
def test_propdown(result, tolerance):
    """RBM.propdown: the pre-activation h W^T + vbias and P(v = 1 | h) on a batch of 5, leaving h as it was given."""
    run = result("rbm_prop")
    pre, mean = _reference(run).propdown(run.step("down").args[0])
    check_close("RBM.propdown: pre", run.step("down").returned(0), pre, tolerance("value"))
    check_close("RBM.propdown: mean", run.step("down").returned(1), mean, tolerance("value"))
    check_unmodified("RBM.propdown: hid", run.step("down"), 0)


def _check_sampler(run, method: str, names: tuple[str, str], tolerance) -> None:
    model = _reference(run)
    reference = {"h": model.sample_h_given_v, "v": model.sample_v_given_h}
    replayed = {s: None for s in ("h1", "h2", "v1", "v2")}
    for name in replayed:  # the calls in the probe's order: one generator carried through all four
        replayed[name] = reference[name[0]](run.step(name).args[0])
    for call, name in enumerate(names, start=1):
        expected = replayed[name]
        for i, what in enumerate(("pre", "mean", "sample")):
            check_close(f"RBM.{method}: {what} of call {call} (one rng.random(shape) draw per call, unit on where "
                        "u < mean)", run.step(name).returned(i), expected[i], tolerance("value"))
        dtype = np.asarray(run.step(name).returned(2)).dtype
        check_true(dtype == np.float64, f"RBM.{method}: the sample is {dtype}; expected float64 (0.0 and 1.0).")
        check_unmodified(f"RBM.{method}: its input", run.step(name), 0)


@points(2, cell="check_rbm_conditionals")
def test_sample_h_given_v(result, tolerance):
    """RBM.sample_h_given_v: two calls on a generator of the grader's give exactly the reference's pre-activations,
    means and float64 samples."""
    _check_sampler(result("rbm_sample"), "sample_h_given_v", ("h1", "h2"), tolerance)


@points(2, cell="check_rbm_conditionals")
def test_sample_v_given_h(result, tolerance):
    """RBM.sample_v_given_h: two calls (after two sample_h_given_v calls on the same generator) give exactly the
    reference's pre-activations, means and float64 samples."""
    _check_sampler(result("rbm_sample"), "sample_v_given_h", ("v1", "v2"), tolerance)


# --- Gibbs steps -----------------------------------------------------------------------------------


def _check_gibbs(run, method: str, tolerance) -> None:
    got = [run.step(name).returned(i) for name in ("g1", "g2") for i in range(6)]
    model = _reference(run)
    reference = [np.asarray(o) for o in getattr(model, method)(run.step("g1").args[0])]
    reference += [np.asarray(o) for o in getattr(model, method)(reference[5])]
    own = [run.step(name).returned(i) for pair in (("a1", "b1"), ("a2", "b2")) for name in pair for i in range(3)]
    paths = {"the reference driven by the same generator": reference}
    if _plausible(own):
        paths["your own samplers replayed on a twin"] = own
    check_close_to_one_of(f"RBM.{method}: the six outputs of two steps", got, paths, tolerance("value"))


@points(2, cell="check_rbm_gibbs")
def test_gibbs_vhv(result, tolerance):
    """RBM.gibbs_vhv: two steps on one generator, against the reference and against your own sample_h_given_v and
    sample_v_given_h replayed on a twin."""
    _check_gibbs(result("rbm_gibbs_vhv"), "gibbs_vhv", tolerance)


@points(1, cell="check_rbm_gibbs")
def test_gibbs_hvh(result, tolerance):
    """RBM.gibbs_hvh: two steps on one generator, against the reference and against your own sample_v_given_h and
    sample_h_given_v replayed on a twin."""
    _check_gibbs(result("rbm_gibbs_hvh"), "gibbs_hvh", tolerance)


# --- free energy -----------------------------------------------------------------------------------


@points(2, cell="check_rbm_free_energy")
def test_free_energy(result, tolerance):
    """RBM.free_energy: F(v) of a batch of 5, shape (5,), leaving v as it was given."""
    run = result("rbm_free_energy")
    expected = _reference(run).free_energy(run.step("fe").args[0])
    check_close("RBM.free_energy: F(v)", run.step("fe").returned(0), expected, tolerance("value"))
    check_unmodified("RBM.free_energy: v", run.step("fe"), 0)


@points(2, cell="check_rbm_free_energy")
def test_free_energy_huge_preactivations(result, tolerance):
    """RBM.free_energy: finite and right with hidden pre-activations of about +-1000 (softplus without overflow)."""
    run = result("rbm_free_energy")
    expected = _reference(run, "huge").free_energy(run.step("fe_huge").args[0])
    check_close("RBM.free_energy: F(v) with pre-activations of about +-1000", run.step("fe_huge").returned(0),
                expected, tolerance("value"))


# --- CD-k and PCD-k -------------------------------------------------------------------------------


def _autograd_step(params: dict[str, np.ndarray], x: np.ndarray, v_end: np.ndarray) -> list[np.ndarray]:
    """The parameters after one SGD step on mean F(x) - mean F(v_end), v_end held constant (torch autograd)."""
    _, grads = value_and_grads(rbm_cd_cost, [x, v_end, *(params[p] for p in PARAMS)], wrt=[2, 3, 4])
    return [params[p] - LR * g for p, g in zip(PARAMS, grads, strict=True)]


def _own_update(run, tag: str, params: dict[str, np.ndarray], x: np.ndarray) -> tuple[list[list[np.ndarray]], bool]:
    """What the student's pieces on the twin give for one update: the parameters after it (the gradient from
    autograd, and from the student's own propup means), the monitor and the chain's end; and whether those
    pieces look like samplers."""
    outputs = [run.step(f"{tag}_pos").returned(i) for i in range(3)]
    for k in range(K):
        outputs += [run.step(f"{tag}_g{k}").returned(i) for i in range(6)]
    last = f"{tag}_g{K - 1}"
    v_end = np.asarray(run.step(last).returned(2), dtype=np.float64)
    rest = [run.step(f"{tag}_mon").returned(0), run.step(last).returned(5)]
    s0, sk = (np.asarray(run.step(f"{tag}_{name}").returned(1), dtype=np.float64) for name in ("up0", "upk"))
    own_means = {"W": -(x.T @ s0 / len(x) - v_end.T @ sk / len(v_end)), "hbias": -(s0.mean(axis=0) - sk.mean(axis=0)),
                 "vbias": -(x.mean(axis=0) - v_end.mean(axis=0))}
    return ([[*_autograd_step(params, x, v_end), *rest], [*(params[p] - LR * own_means[p] for p in PARAMS), *rest]],
            _plausible(outputs))


OWN = "your own samplers replayed on a twin, with {} gradient"
GRADIENTS = ("autograd's", "your propup's means in the")


@points(3, cell="check_rbm_cd")
def test_cd_update(result, tolerance):
    """RBM.cd_update: CD-2 (persistent=None): W, hbias, vbias after the step and the reconstruction cost returned
    (positive), against the reference and against your own samplers on a twin with autograd's gradient."""
    run = result("rbm_cd")
    x = run.step("u").args[0]
    got = [*(run.step(p).returned(0) for p in PARAMS), run.step("u").returned(0)]
    model = _reference(run)
    monitor = model.cd_update(x, lr=LR, k=K)
    paths = {"the reference driven by the same generator": [*(getattr(model, p) for p in PARAMS), np.asarray(monitor)]}
    own, plausible = _own_update(run, "t", run.step("rbm").kwargs, x)
    if plausible:
        paths.update({OWN.format(g): values[:4] for g, values in zip(GRADIENTS, own, strict=True)})
    check_close_to_one_of("RBM.cd_update (CD-2): the parameters after the step and the reconstruction cost", got,
                          paths, tolerance("value"))
    check_true(float(run.step("u").returned(0)) > 0, "RBM.cd_update: CD must return the reconstruction cost, a "
                                                     "positive cross-entropy (the tutorial prints its negative).")
    check_unmodified("RBM.cd_update: x", run.step("u"), 0)


def _pcd_paths(run) -> tuple[list[Any], dict[str, list[np.ndarray]]]:
    got: list[Any] = []
    for call in ("1", "2"):
        got += [*(run.step(f"{p}{call}").returned(0) for p in PARAMS), run.step(f"u{call}").returned(0),
                run.step(f"chain{call}").returned(0)]
    model = _reference(run)
    chain = np.array(run.step("u1").kwargs["persistent"], dtype=np.float64)
    reference: list[np.ndarray] = []
    for name in ("u1", "u2"):
        monitor = model.cd_update(run.step(name).args[0], lr=LR, k=K, persistent=chain)
        reference += [*(getattr(model, p).copy() for p in PARAMS), np.asarray(monitor), chain.copy()]
    paths = {"the reference driven by the same generator": reference}
    first, ok1 = _own_update(run, "s", run.step("rbm").kwargs, run.step("u1").args[0])
    second, ok2 = _own_update(run, "t", {p: run.step(f"{p}1").returned(0) for p in PARAMS}, run.step("u2").args[0])
    if ok1 and ok2:
        paths.update({OWN.format(g) + " (and your pseudo-likelihood)": a + b
                      for g, a, b in zip(GRADIENTS, first, second, strict=True)})
    return got, paths


@points(3, cell="check_rbm_cd")
def test_pcd_update(result, tolerance):
    """RBM.cd_update: two PCD-2 updates sharing a persistent chain: the parameters after each, the pseudo-likelihood
    estimates returned and the chain written into persistent after each, against the reference and your own pieces."""
    got, paths = _pcd_paths(result("rbm_pcd"))
    check_close_to_one_of("RBM.cd_update (PCD-2, two calls): the parameters, the monitoring costs and the persistent chain",
                          got, paths, tolerance("value"))


@points(2, cell="check_rbm_cd")
def test_pcd_chain_in_place(result, tolerance):
    """RBM.cd_update: PCD writes the chain's last hidden sample into the persistent array it was given (in place),
    so the next call continues it; the monitoring cost is the (negative) pseudo-likelihood estimate."""
    run = result("rbm_pcd")
    got, paths = _pcd_paths(run)
    chains = [got[4], got[9]]
    start = run.step("u1").kwargs["persistent"]
    check_true(not all(np.array_equal(c, start) for c in chains),
               "RBM.cd_update: the persistent array never changed: write the chain's end into it "
               "(persistent[...] = ...), do not return it.")
    check_close_to_one_of("RBM.cd_update (PCD-2, two calls): the persistent chain after each call", chains,
                          {label: [e[4], e[9]] for label, e in paths.items()}, tolerance("value"))
    check_true(all(float(got[i]) < 0 for i in (3, 8)),
               "RBM.cd_update: PCD must return the pseudo-likelihood estimate, a negative log-probability.")


# --- pseudo-likelihood ----------------------------------------------------------------------------


def _pl_paths(run) -> tuple[list[Any], dict[str, list[np.ndarray]]]:
    got = [run.step(f"pl{c}").returned(0) for c in range(1, 5)]
    model = _reference(run)
    x = run.step("pl1").args[0]
    reference = [np.asarray(model.get_pseudo_likelihood_cost(x)) for _ in range(2)]
    model.bit_i_idx = N_VISIBLE - 1
    reference += [np.asarray(model.get_pseudo_likelihood_cost(x)) for _ in range(2)]
    paths = {"the reference": reference}
    energies = {i: np.asarray(run.step(f"f{i}").returned(0), dtype=np.float64) for i in (0, 1, N_VISIBLE - 1)}
    base = np.asarray(run.step("f").returned(0), dtype=np.float64)
    if all(np.all(np.isfinite(e)) and e.shape == (N,) for e in (base, *energies.values())):
        paths["your own free_energy"] = [np.asarray(np.mean(-N_VISIBLE * np.logaddexp(0.0, -(energies[i] - base))))
                                         for i in (0, 1, N_VISIBLE - 1, 0)]
    return got, paths


@points(2, cell="check_rbm_pl")
def test_pseudo_likelihood(result, tolerance):
    """RBM.get_pseudo_likelihood_cost: four estimates (bits 0, 1, the last bit, 0 again) against the reference and
    against your own free energies of the rounded and flipped rows, leaving x as it was given."""
    run = result("rbm_pl")
    got, paths = _pl_paths(run)
    check_close_to_one_of("RBM.get_pseudo_likelihood_cost: four estimates", got, paths, tolerance("value"))
    check_unmodified("RBM.get_pseudo_likelihood_cost: x", run.step("pl1"), 0)


@points(1, cell="check_rbm_pl")
def test_pseudo_likelihood_bit_index(result, tolerance):
    """RBM.get_pseudo_likelihood_cost: each call advances bit_i_idx by one, wrapping from the last bit to 0 (and the
    estimates are right)."""
    run = result("rbm_pl")
    got, paths = _pl_paths(run)
    check_close_to_one_of("RBM.get_pseudo_likelihood_cost: four estimates", got, paths, tolerance("value"))
    check_true(int(run.step("bit_a").returned(0)) == 2 and int(run.step("bit_b").returned(0)) == 1,
               "RBM.get_pseudo_likelihood_cost: bit_i_idx must advance by one per call, from n_visible - 1 back to 0.")


@points(1, cell="check_rbm_pl")
def test_pseudo_likelihood_large_gaps(result, tolerance):
    """RBM.get_pseudo_likelihood_cost: finite and right when free energies differ by hundreds (log sigmoid computed
    stably)."""
    got, paths = _pl_paths(result("rbm_pl_large"))
    check_close_to_one_of("RBM.get_pseudo_likelihood_cost: four estimates with weights of hundreds", got, paths, tolerance("value"))


# --- the trained RBM ------------------------------------------------------------------------------


def independent_bits_log_likelihood(B: np.ndarray) -> float:
    """The log-likelihood of the binary rows ``B`` (N, D) under independent bits with their own frequencies
    (clipped to [0.001, 0.999]): what the pseudo-likelihood of a model that ignores the other bits reaches."""
    q = np.clip(B.mean(axis=0), 1e-3, 1 - 1e-3)
    return float(np.mean((B * np.log(q) + (1 - B) * np.log(1 - q)).sum(axis=1)))


@points(2, cell="rbm_trained")
def test_rbm_test_pseudo_likelihood(exported, heldout, threshold, note):
    """The trained RBM: its exact log pseudo-likelihood (every bit) of held-out MNIST test images rounded to bits,
    as a fraction of the log-likelihood of the best model of independent bits (smaller is better)."""
    W, hbias, vbias = (np.asarray(exported(f"rbm_{p}"), dtype=np.float64) for p in PARAMS)
    X = np.asarray(heldout("mnist", "X_test"), dtype=np.float64)[: int(threshold("rbm_test_rows"))]
    check_true(W.ndim == 2 and W.shape[0] == X.shape[1] and hbias.shape == (W.shape[1],) and vbias.shape == (X.shape[1],),
               f"the exported RBM has the shapes W {W.shape}, hbias {hbias.shape}, vbias {vbias.shape}; expected W "
               f"({X.shape[1]}, n_hidden), hbias (n_hidden,), vbias ({X.shape[1]},).")
    check_true(bool(np.all(np.isfinite(W)) and np.all(np.isfinite(hbias)) and np.all(np.isfinite(vbias))),
               "the exported RBM's parameters are not all finite.")
    bits = np.round(X)
    pl = RBM(W.shape[0], W.shape[1], W=W, hbias=hbias, vbias=vbias, seed=0).exact_log_pseudo_likelihood(bits)
    baseline = independent_bits_log_likelihood(bits)
    most = threshold("rbm_pl_vs_independent")
    measured = (f"log pseudo-likelihood {pl:.2f} per test image, {pl / baseline:.3f} times that of the best model of "
                f"independent bits ({baseline:.2f})")
    check_true(pl >= most * baseline, f"{measured}; at most {most:g} times expected.")
    note(f"{measured} (at most {most:g} times)")
