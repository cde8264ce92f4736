"""DeepONet, PI-DeepONet and FNO: their forms against direct evaluations, and tiny trainings whose test error is asserted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physopt import ConfigurationError
from problems import FAMILIES, generate_operator_data
from solvers import FNO, PINN, DeepONet, DeepONetNetwork, PIDeepONet
from solvers._fno import subsample
from solvers._operator import EpochBatches, relative_l2_loss


def test_the_cartesian_product_form_is_every_function_at_every_point():
    torch.manual_seed(0)
    net = DeepONetNetwork(sensors=7, coordinates=2, latent=5, outputs=2, branch_width=6, trunk_width=6).double()
    u, y = torch.randn(4, 7, dtype=torch.float64), torch.rand(9, 2, dtype=torch.float64)
    out = net(u, y)
    assert out.shape == (4, 9, 2)
    for i in range(4):
        for j in range(9):
            b = net.branch(u[i]).reshape(2, 5)
            t = torch.tanh(net.trunk(y[j])).reshape(2, 5)
            assert torch.allclose(out[i, j], (b * t).sum(-1) + net.bias, atol=1e-13)


def test_relative_l2_loss_is_the_mean_of_the_draws_relative_errors():
    truth = torch.tensor([[3.0, 4.0], [1.0, 0.0]], dtype=torch.float64)
    predicted = truth + torch.tensor([[0.5, 0.0], [0.0, 0.1]], dtype=torch.float64)
    assert float(relative_l2_loss(predicted, truth)) == pytest.approx((0.5 / 5 + 0.1 / 1) / 2)


def test_epoch_batches_cover_every_draw_once_per_epoch_and_repeat_after_a_restart():
    batches = EpochBatches(10, 4, seed=3, device="cpu")
    assert batches.per_epoch == 3
    epoch = torch.cat([batches(k) for k in range(3)])
    assert sorted(epoch.tolist()) == list(range(10))
    assert not torch.equal(batches(3), batches(0)) or not torch.equal(batches(4), batches(1))
    assert torch.equal(EpochBatches(10, 4, seed=3, device="cpu")(4), batches(4))


def _pi(resolution=32, **options):
    family = FAMILIES["antiderivative"]()
    base = dict(latent=8, branch_width=16, trunk_width=16, branch_depth=2, trunk_depth=2, activation="tanh", steps=2,
                train=12, test=4, batch_size=6,
                resolution=resolution, points=10, dtype="float64")
    return PIDeepONet(family, **{**base, **options})


def _with_batch(solver, resolution, train, test, batch):
    """``solver`` with its data and the first step's batch drawn, as ``solve`` would have them."""
    solver.data = generate_operator_data(solver.problem, resolution, train, test)
    solver.inputs = solver.tensor(solver.data.train_inputs)
    solver.batches = EpochBatches(train, batch, 0, "cpu")
    solver.draw_batch(0)
    return solver


def test_the_batched_physics_residual_equals_a_loop_over_functions():
    """What DeepXDE computes with a Python loop over functions, in one vmap over the points."""
    solver = _with_batch(_pi(), 32, 12, 4, 6)
    batched = solver.residuals()["residual"].reshape(10, 6) * np.sqrt(60)
    b = solver.batch
    for i in range(6):
        def s_i(y, i=i):
            return solver.model(b["u"][i:i + 1], y[None])[0, 0, 0]
        for j in range(10):
            y = b["y"][j].requires_grad_(True)
            (ds,) = torch.autograd.grad(s_i(y), y)
            assert torch.allclose(batched[j, i], ds[0] - b["u_y"][i, j], atol=1e-12)


def test_pi_deeponet_is_a_least_squares_objective_for_gauss_newton():
    solver = _with_batch(_pi(), 32, 12, 4, 6)
    objective = solver.least_squares()
    theta = objective.flat.vector()
    r = objective.residual(theta)
    assert r.shape == (10 * 6 + 6,)  # residual points x functions + the initial condition per function
    assert float(r @ r) == pytest.approx(float(solver.loss()[0].detach()), rel=1e-12)


def test_a_second_order_optimizer_trains_pi_deeponet():
    solver = _pi(optimizer="lm", steps=15)
    solution = solver.solve([])
    adam = _pi(optimizer="adam", steps=15, lr=1e-3).solve([])
    assert solution.info["final_loss"] < 0.5 * adam.info["final_loss"], (solution.info["final_loss"], adam.info["final_loss"])


def test_pi_deeponet_needs_a_residual_and_fno_a_shared_grid():
    class NoPhysics(type(FAMILIES["burgers1d_operator"]())):
        pass
    with pytest.raises(ConfigurationError, match="needs a residual"):
        PIDeepONet(FAMILIES["burgers1d_operator"]())
    with pytest.raises(ConfigurationError, match="same grid"):
        FNO(FAMILIES["diffusion_reaction"]())
    with pytest.raises(ConfigurationError, match="problem family"):
        PINN(FAMILIES["darcy2d"]())


def test_fno_subsamples_periodic_and_closed_grids():
    x = np.arange(16)[None]
    assert subsample(x, 16, 4, True, 1).tolist() == [[0, 4, 8, 12]]
    y = np.arange(17)[None]
    assert subsample(y, 17, 5, False, 1).tolist() == [[0, 4, 8, 12, 16]]
    with pytest.raises(ConfigurationError, match="cannot subsample"):
        subsample(x, 16, 5, True, 1)


# ----- tiny trainings with their measured test errors (float32, a few seconds each) -----

def test_deeponet_learns_the_antiderivative():
    solution = DeepONet(FAMILIES["antiderivative"](), train=300, test=50, resolution=32, epochs=60, batch_size=50,
                        lr=3e-3, lr_final=3e-4).solve([])
    errors = solution.errors()
    assert errors["rel_l2"] < 0.35, errors  # measured 0.23 (360 steps of a 4 x 50 GELU DeepONet)
    assert errors["rel_l2_median"] <= errors["rel_l2"] + 1e-12 <= errors["rel_l2_worst"] + 2e-12


def test_deeponet_answers_inputs_at_another_resolution():
    family = FAMILIES["antiderivative"]()
    solution = DeepONet(family, train=300, test=50, resolution=32, epochs=30, batch_size=50, lr=3e-3).solve([])
    x32, x128 = family.input_axes(32)[0], family.input_axes(128)[0]
    u32, u128 = np.cos(3 * x32)[None], np.cos(3 * x128)[None]
    coarse, fine = solution(u32)[0].numpy(), solution(u128)[0].numpy()
    assert fine.shape == (128,)
    assert np.abs(np.interp(x32, x128, fine) - coarse).max() < 1e-3 * max(1.0, np.abs(coarse).max())


def test_pi_deeponet_learns_the_antiderivative_without_solved_draws():
    """Levenberg–Marquardt from the core, no solved draws: 1.4e-2 after 60 steps (Adam: 0.14 after 1,000)."""
    solution = PIDeepONet(FAMILIES["antiderivative"](), train=300, test=50, resolution=32, steps=40, batch_size=50,
                          points=32, latent=20, branch_width=20, trunk_width=20, branch_depth=2, trunk_depth=2,
                          activation="tanh", optimizer="lm").solve([])
    assert solution.errors()["rel_l2"] < 0.06, solution.errors()  # measured 0.024 (40 steps)


def test_fno_learns_burgers_and_answers_at_a_finer_resolution():
    family = FAMILIES["burgers1d_operator"](t_end=0.2)
    solver = FNO(family, train=100, test=20, resolution=64, train_resolution=32, epochs=15, batch_size=10,
                 modes=8, width=16, lr=5e-3, lr_final=5e-4)
    solution = solver.solve([])
    fine, coarse = solution.errors()["rel_l2"], solution.metrics()[0].value
    assert coarse < 0.05 and fine < 0.05, (coarse, fine)  # measured 0.0144 at 32 and 0.0141 at 64
    assert solution(solution.data.test_inputs).shape == (20, 64)


def test_the_pairwise_jacobian_equals_reverse_mode_of_the_batched_residual():
    from physopt.curvature import residual_jacobian

    for name in ("antiderivative", "diffusion_reaction"):
        family = FAMILIES[name]()
        solver = PIDeepONet(family, latent=6, branch_width=8, trunk_width=8, branch_depth=2, trunk_depth=2, train=6,
                            test=2, batch_size=3, resolution=12, points=5, constraint_points=4, dtype="float64")
        _with_batch(solver, 12, 6, 2, 3)
        objective = solver.least_squares()
        theta = objective.flat.vector()
        dense = residual_jacobian(objective.residual, theta)
        assert torch.allclose(objective.jacobian(theta), dense, atol=1e-12), name


def test_a_trunk_embedding_maps_the_coordinates_and_stays_untrained():
    solver = _with_batch(_pi(trunk_embedding="fourier:4:1"), 32, 12, 4, 6)
    first, _ = solver.model.trunk.layers[0], solver.model.trunk.layers[1]
    assert first.weight.shape == (8, 1) and not first.weight.requires_grad  # cos and sin of 4 frequencies of y
    objective = solver.least_squares()
    theta = objective.flat.vector()
    assert theta.numel() == sum(p.numel() for p in solver.model.parameters() if p.requires_grad)
    assert float(objective.residual(theta) @ objective.residual(theta)) == pytest.approx(
        float(solver.loss()[0].detach()), rel=1e-12)  # the physics residual differentiates through it
    before = first.weight.clone()
    solver.solve([])
    assert torch.equal(first.weight, before)
    with pytest.raises(ConfigurationError, match="unknown embedding"):
        _pi(trunk_embedding="wavelet:2")
