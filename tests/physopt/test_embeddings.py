"""Input embeddings (Fourier features, periodic): the map they compute, frozen, and the networks they make."""

from __future__ import annotations

import math

import pytest
import torch

from physopt import MLP, ConfigurationError, parse_embedding
from physopt.curvature import FlatParameters
from problems import resolve_problem
from solvers import PINN


def test_random_fourier_features_are_cos_and_sin_of_gaussian_frequencies():
    g = torch.Generator().manual_seed(0)
    embedding = parse_embedding("fourier:16:10", 2, generator=g)
    B = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 10
    x = torch.tensor([[0.3, -0.7], [1.1, 0.2]], dtype=torch.float64)
    linear, sine = embedding.layers()
    got = sine(linear.double()(x))
    expected = torch.cat([torch.cos(2 * math.pi * x @ B.T), torch.sin(2 * math.pi * x @ B.T)], 1)
    assert torch.allclose(got, expected, atol=1e-12)
    net = MLP(2, 1, width=8, depth=1, embedding=embedding).double()
    assert not any(p.requires_grad for p in net.layers[0].parameters())  # untrained
    assert all(not name.startswith("layers.0.") for name in FlatParameters(net).names)
    assert "layers.0.weight" in net.state_dict()  # saved with the model: it loads back the same network


def test_axis_frequencies_and_periodic_embeddings():
    axes = parse_embedding("fourier_axes:3:2", 2)
    assert axes.frequencies[:3, 0].tolist() == pytest.approx([2 * math.pi * 2 * k for k in (1, 2, 3)])
    periodic = parse_embedding("periodic:4", 2, periods={0: 2 * math.pi})
    net = MLP(2, 1, width=8, depth=2, embedding=periodic).double()
    x = torch.rand(50, 2, dtype=torch.float64)
    shifted = x + torch.tensor([2 * math.pi, 0.0], dtype=torch.float64)
    assert torch.allclose(net(x), net(shifted), atol=1e-12)  # exactly periodic in x
    assert not torch.allclose(net(x), net(x + torch.tensor([0.0, 0.5], dtype=torch.float64)))  # t passes through
    assert periodic.n_out == 2 * 4 + 1


@pytest.mark.parametrize("spec, message", [("wavelet:3", "unknown embedding 'wavelet'"),
                                           ("fourier:0:1", "M, K >= 1 and S > 0"), ("fourier:8", "fourier:M:S"),
                                           ("periodic:3", "needs a problem with Periodic conditions")])
def test_bad_embeddings_are_clear_errors(spec, message):
    with pytest.raises(ConfigurationError, match=message):
        parse_embedding(spec, 2)


def test_a_pinn_with_a_periodic_embedding_is_periodic_and_taylor_mode_sees_through_it():
    problem = resolve_problem("convection1d")(beta=1.0)
    solver = PINN(problem, embedding="periodic:3", hidden="16,16", points=64, boundary_points=16, steps=3,
                  optimizer="adam", dtype="float64")
    solution = solver.solve()
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    left = torch.stack([torch.zeros_like(t), t], 1)
    right = torch.stack([torch.full_like(t, 2 * math.pi), t], 1)
    assert torch.allclose(solution(left), solution(right), atol=1e-12)
    taylor = PINN(problem, embedding="periodic:3", hidden="16,16", points=64, boundary_points=16, dtype="float64",
                  derivatives="taylor")
    assert torch.allclose(taylor.loss()[0], PINN(problem, embedding="periodic:3", hidden="16,16", points=64,
                                                 boundary_points=16, dtype="float64").loss()[0], rtol=1e-12)
