"""The collapsed Laplacian of a network through an ansatz (physopt.NetworkField) against exact autodiff."""

import numpy as np
import pytest
import torch
from torch.func import vmap

from physopt import MLP, NetworkField, STDEMode, derivative_mode, laplacian
from physopt._taylor_mode import unit_vectors
from physopt.curvature import MLPStructure
from problems import Ball, Box, automatic_ansatz
from problems._domain import AbstractDomain

from seeded import randn

F64 = torch.float64


def network(n, out=1, activation="tanh", seed=0):
    torch.manual_seed(seed)
    return MLP(n, out, hidden=[7, 6], activation=activation).double()


def field(net, ansatz=None, scale=1.0):
    return NetworkField(net, MLPStructure(net), dict(net.named_parameters()), ansatz, squeeze=net.n_out == 1, scale=scale)


def opaque(f):
    """The same field as a plain callable: every mode takes its generic path."""
    return lambda x: f(x)


def points(n, count=5, scale=0.4, seed=1):
    return randn(count, n, generator=torch.Generator().manual_seed(seed), dtype=F64) * scale


def nonlinear_ansatz(x, n):
    return (1 - (x * x).sum()) * n + torch.sin(x[0]) * n**2 + x[1] ** 3


ANSATZES = {"none": None, "nonlinear": nonlinear_ansatz}


@pytest.mark.parametrize("ansatz", list(ANSATZES))
@pytest.mark.parametrize("activation, scale", [("tanh", 1.0), ("sin", 1.0), ("gelu", 1.0), ("tanh", 7.5)])
def test_collapsed_laplacian_is_exact(ansatz, activation, scale):
    net = network(5, activation=activation)
    f = field(net, ANSATZES[ansatz], scale)
    xs = points(5)
    with derivative_mode("exact"):
        expected = vmap(laplacian(opaque(f)))(xs)
    with derivative_mode("taylor"):
        got = vmap(laplacian(f))(xs)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_collapsed_laplacian_of_a_vector_field_over_some_coordinates():
    net = network(4, out=2, activation="softplus")
    f = field(net, lambda x, n: torch.stack([n[0] * x[0], n[1] + n[0] ** 2]))
    xs = points(4)
    with derivative_mode("exact"):
        expected = vmap(laplacian(opaque(f), dims=(0, 2)))(xs)
    with derivative_mode("taylor"):
        got = vmap(laplacian(f, dims=(0, 2)))(xs)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


class _Problem:
    """Just what automatic_ansatz reads."""

    def __init__(self, domain, value):
        from problems import Dirichlet

        self.domain, self.conditions, self.time, self.n_space = domain, [Dirichlet(value)], None, domain.dim


@pytest.mark.parametrize("domain", [Ball([0.1, -0.2, 0.0], 1.3), Box([0, -1, 0], [1, 1, 2])])
def test_the_automatic_ansatz_rule_is_exact(domain):
    """u = g + B·N with constant g: the ansatz's own jets (closed form for a ball, generic for a box)."""
    hard = automatic_ansatz(_Problem(domain, 0.5))
    assert hasattr(hard.ansatz, "jets")
    f = field(network(3), hard.ansatz, scale=3.0)
    x0 = torch.as_tensor(domain.sample_interior(1, rng=1)[0], dtype=F64)
    torch.testing.assert_close(f(x0), hard.ansatz(x0, 3.0 * f.network(x0).squeeze(-1)))
    xs = torch.as_tensor(domain.sample_interior(6, rng=0), dtype=F64)
    with derivative_mode("exact"):
        expected = vmap(laplacian(opaque(f)))(xs)
    with derivative_mode("taylor"):
        got = vmap(laplacian(f))(xs)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_a_ball_boundary_factor_in_closed_form_matches_the_generic_jets():
    ball = Ball([0.3, -0.1, 0.2, 0.0], 0.8)
    x = torch.tensor([0.1, 0.2, -0.3, 0.4], dtype=F64)
    directions = points(4, count=3, scale=1.0, seed=5)
    closed = ball.boundary_factor_jets(x, directions)
    generic = AbstractDomain.boundary_factor_jets(ball, x, directions)
    for a, b in zip(closed, generic):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("estimator", ["sparse", "rademacher"])
def test_collapsed_stde_equals_the_nested_estimate_on_the_same_directions(estimator):
    """Same seed, same directions: the collapsed and the nested-jvp STDE Laplacians agree to round-off."""
    net = network(9)
    f = field(net, nonlinear_ansatz)
    xs = points(9)
    values = []
    for u in (f, opaque(f)):
        mode = STDEMode(samples=4, estimator=estimator, seed=3)
        with derivative_mode(mode):
            values.append(vmap(laplacian(u))(xs))
    torch.testing.assert_close(values[0], values[1], rtol=1e-10, atol=1e-10)


def test_directions_in_a_hundred_thousand_dimensions_form_no_square_matrix():
    """unit_vectors and the sparse draw are O(|J|·n): an n × n identity at n = 10⁵ would be 80 GB."""
    x = torch.zeros(100_000, dtype=torch.float32)
    rows = unit_vectors(x, (3, 99_999))
    assert rows.shape == (2, 100_000) and rows.sum() == 2 and rows[1, 99_999] == 1
    mode = STDEMode(samples=16, seed=0)
    directions, scale = mode.directions("sparse", x, tuple(range(100_000)))
    assert directions.shape == (16, 100_000) and scale == 100_000 / 16
    assert torch.equal(directions.sum(0).clamp(max=1), directions.sum(0)) and directions.sum() == 16
    chosen = directions.argmax(1).numpy()
    assert len(np.unique(chosen)) == 16
