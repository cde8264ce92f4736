"""The pointwise operators in use: coordinate layouts, vmap, parameter gradients, batch errors and derivative modes.

Every value is compared, on small random tanh MLPs in float64, with
``torch.autograd.functional`` or nested ``torch.autograd.grad``; parameter
gradients with plain double backward. The operators themselves are tested in
``test_operators.py``.
"""

from __future__ import annotations

import pytest
import torch
from torch.func import vmap

import physopt
from physopt import (
    biharmonic, coordinate_layout, directional_derivative, divergence, grad, hessian, jacobian, laplacian, partial,
    time_derivative,
)

from operator_refs import F64, MLP, close, point, ref_hessian, ref_jacobian, ref_nested
from seeded import rand, randn


# --------------------------------------------------------------------------- coordinate layout
def test_layout_with_time_spatial_operators_skip_time():
    n_space = 2
    u, x = MLP(n_space + 1, ()), point(n_space + 1, 19)
    jac, hess = ref_jacobian(u, x), ref_hessian(u, x)
    with coordinate_layout(n_space, has_time=True):
        close(grad(u)(x), jac[:n_space])
        close(hessian(u)(x), hess[:n_space, :n_space])
        close(laplacian(u)(x), hess[0, 0] + hess[1, 1])
        close(biharmonic(u)(x), sum(ref_nested(u, x, (i, i, j, j)) for i in range(2) for j in range(2)))
        close(time_derivative(u)(x), jac[2])
        close(time_derivative(u, 2)(x), hess[2, 2])
        close(time_derivative(u, 3)(x), ref_nested(u, x, (2, 2, 2)))
        # partial takes raw indices, time included; dims= overrides the layout
        close(partial(u, 2, 0)(x), hess[2, 0])
        close(laplacian(u, dims=[2])(x), hess[2, 2])
        close(grad(u, dims=[0, 1, 2])(x), jac)
    # outside the block every coordinate is spatial again
    close(laplacian(u)(x), torch.trace(hess))
    close(grad(u)(x), jac)


def test_layout_with_time_vector_field():
    u, x = MLP(3, (2,)), point(3, 20)
    jac, hess = ref_jacobian(u, x), ref_hessian(u, x)
    with coordinate_layout(2, has_time=True):
        assert jacobian(u)(x).shape == (2, 2)
        close(jacobian(u)(x), jac[:, :2])
        close(divergence(u)(x), jac[0, 0] + jac[1, 1])
        close(laplacian(u)(x), hess[:, 0, 0] + hess[:, 1, 1])
        close(time_derivative(u)(x), jac[:, 2])


def test_layout_one_space_dimension_plus_time():
    u, x = MLP(2, ()), point(2, 21)
    hess = ref_hessian(u, x)
    with coordinate_layout(1, has_time=True):
        close(laplacian(u)(x), hess[0, 0])
        close(time_derivative(u)(x), ref_jacobian(u, x)[1])


def test_without_layout_all_coordinates_are_spatial_and_time_is_last():
    u, x = MLP(3, ()), point(3, 22)
    close(laplacian(u)(x), torch.trace(ref_hessian(u, x)))
    close(time_derivative(u)(x), ref_jacobian(u, x)[2])


def test_layout_without_time():
    u, x = MLP(3, ()), point(3, 23)
    with coordinate_layout(3):
        close(laplacian(u)(x), torch.trace(ref_hessian(u, x)))
        with pytest.raises(ValueError, match="time"):
            time_derivative(u)(x)


def test_layout_mismatching_the_point_raises():
    u, x = MLP(4, ()), point(4)
    with coordinate_layout(2, has_time=True):
        with pytest.raises(ValueError, match="4 coordinates"):
            laplacian(u)(x)


def test_layouts_nest_and_restore():
    u, x = MLP(3, ()), point(3, 24)
    hess = ref_hessian(u, x)
    with coordinate_layout(2, has_time=True):
        with coordinate_layout(3):
            close(laplacian(u)(x), torch.trace(hess))
        close(laplacian(u)(x), hess[0, 0] + hess[1, 1])
        with pytest.raises(RuntimeError):
            with coordinate_layout(3):
                raise RuntimeError("inside")
        close(laplacian(u)(x), hess[0, 0] + hess[1, 1])


def test_coordinate_layout_object():
    layout = physopt.CoordinateLayout(2, has_time=True)
    assert layout.n_coordinates == 3
    assert layout.space_dims == (0, 1)
    assert layout.time_index == 2
    assert physopt.CoordinateLayout(3).time_index is None
    with pytest.raises(ValueError, match="n_space"):
        physopt.CoordinateLayout(-1)


# --------------------------------------------------------------------------- vmap
def _operator_cases():
    v = torch.tensor([0.3, -1.2, 0.7], dtype=F64)
    return [
        pytest.param(lambda u: grad(u), (), id="grad"),
        pytest.param(lambda u: jacobian(u), (2,), id="jacobian"),
        pytest.param(lambda u: hessian(u), (), id="hessian"),
        pytest.param(lambda u: laplacian(u), (2,), id="laplacian"),
        pytest.param(lambda u: divergence(u), (3,), id="divergence"),
        pytest.param(lambda u: biharmonic(u), (), id="biharmonic"),
        pytest.param(lambda u: partial(u, 0, 1, 1), (), id="partial"),
        pytest.param(lambda u: time_derivative(u, 2), (), id="time_derivative"),
        pytest.param(lambda u: directional_derivative(u, v, 3), (2,), id="directional"),
    ]


@pytest.mark.parametrize("make, out", _operator_cases())
def test_vmap_over_points_equals_loop(make, out):
    u = MLP(3, out)
    xs = randn(5, 3, generator=torch.Generator().manual_seed(5), dtype=F64)
    op = make(u)
    batched = vmap(op)(xs)
    looped = torch.stack([op(x) for x in xs])
    assert batched.shape == looped.shape
    close(batched, looped)


def test_vmap_inside_a_layout():
    u = MLP(3, ())
    xs = randn(4, 3, generator=torch.Generator().manual_seed(6), dtype=F64)
    with coordinate_layout(2, has_time=True):
        batched = vmap(lambda x: time_derivative(u)(x) - laplacian(u)(x))(xs)
    expected = torch.stack([ref_jacobian(u, x)[2] - ref_hessian(u, x)[:2, :2].trace() for x in xs])
    close(batched, expected)


# --------------------------------------------------------------------------- parameter gradients
def _double_backward_param_grads(u, xs, loss_of):
    """Parameter gradients with plain batched autograd (no torch.func)."""
    xs = xs.detach().clone().requires_grad_(True)
    y = u(xs)  # (B,)
    (g,) = torch.autograd.grad(y.sum(), xs, create_graph=True)  # (B, n)
    second = []
    for i in range(xs.shape[1]):
        (gi,) = torch.autograd.grad(g[:, i].sum(), xs, create_graph=True)
        second.append(gi[:, i])
    loss = loss_of(y, g, torch.stack(second, -1))
    return torch.autograd.grad(loss, u.params, materialize_grads=True)


def test_parameter_gradient_of_squared_laplacian_matches_double_backward():
    u = MLP(2, (), width=6)
    xs = rand(16, 2, generator=torch.Generator().manual_seed(7), dtype=F64)
    loss = (vmap(laplacian(u))(xs) ** 2).sum()
    got = torch.autograd.grad(loss, u.params, materialize_grads=True)
    expected = _double_backward_param_grads(u, xs, lambda y, g, d2: (d2.sum(-1) ** 2).sum())
    # the output bias does not enter a second derivative; every other parameter does
    assert all(e.abs().max() > 1e-6 for e in expected[:-1])
    assert expected[-1].abs().max() == 0
    for a, b in zip(got, expected):
        close(a, b)


def test_parameter_gradient_of_heat_residual_in_layout_matches_double_backward():
    u = MLP(2, (), width=6, seed=1)
    xs = rand(16, 2, generator=torch.Generator().manual_seed(8), dtype=F64)
    with coordinate_layout(1, has_time=True):
        res = vmap(lambda x: time_derivative(u)(x) - 0.3 * laplacian(u)(x) + u(x) * grad(u)(x)[0])(xs)
    got = torch.autograd.grad((res**2).mean(), u.params, materialize_grads=True)
    expected = _double_backward_param_grads(
        u, xs, lambda y, g, d2: ((g[:, 1] - 0.3 * d2[:, 0] + y * g[:, 0]) ** 2).mean()
    )
    for a, b in zip(got, expected):
        close(a, b)


def test_backward_through_vmapped_operator_populates_parameter_grads():
    u = MLP(2, (2,), width=5, seed=2)
    xs = rand(8, 2, generator=torch.Generator().manual_seed(9), dtype=F64)
    (vmap(divergence(u))(xs) ** 2).sum().backward()
    # every parameter but the output bias (which no derivative sees) gets a nonzero gradient
    assert u.params[-1].grad is None
    for p in u.params[:-1]:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().max() > 0


# --------------------------------------------------------------------------- errors and modes
_BATCH_ERROR_OPS = [
    pytest.param(lambda u: grad(u), id="grad"),
    pytest.param(lambda u: jacobian(u), id="jacobian"),
    pytest.param(lambda u: hessian(u), id="hessian"),
    pytest.param(lambda u: laplacian(u), id="laplacian"),
    pytest.param(lambda u: divergence(u), id="divergence"),
    pytest.param(lambda u: biharmonic(u), id="biharmonic"),
]
_BATCH_ERROR_OPS += [
    pytest.param(lambda u: partial(u, 0), id="partial"),
    pytest.param(lambda u: time_derivative(u), id="time_derivative"),
    pytest.param(lambda u: directional_derivative(u, [1.0, 0.0]), id="directional"),
]


@pytest.mark.parametrize("make", _BATCH_ERROR_OPS)
def test_batch_input_raises_value_error_mentioning_vmap(make):
    u = MLP(2, (2,))
    xs = torch.rand(4, 2, dtype=F64)
    with pytest.raises(ValueError, match="vmap"):
        make(u)(xs)


def test_unknown_derivative_mode_lists_exact():
    with pytest.raises(ValueError, match="exact"):
        physopt.get_derivative_mode("no-such-mode")
    with pytest.raises(ValueError, match="exact"):
        with physopt.derivative_mode("no-such-mode"):
            pass  # pragma: no cover


@pytest.mark.parametrize("name, cls", [("taylor", "TaylorMode"), ("stde", "STDEMode")])
def test_taylor_and_stde_modes_resolve(name, cls):
    mode = physopt.get_derivative_mode(name)
    assert type(mode).__name__ == cls and mode.name == name
    with physopt.derivative_mode(name):
        assert isinstance(physopt.current_derivative_mode(), getattr(physopt, cls))


def test_available_derivative_modes():
    modes = physopt.available_derivative_modes()
    assert {"exact", "taylor", "stde"} <= set(modes)
    assert not any("not implemented" in text for text in modes.values())


def test_exact_mode_context():
    u, x = MLP(2, ()), point(2, 25)
    assert isinstance(physopt.current_derivative_mode(), physopt.ExactMode)
    with physopt.derivative_mode("exact"):
        assert isinstance(physopt.current_derivative_mode(), physopt.ExactMode)
        close(laplacian(u)(x), torch.trace(ref_hessian(u, x)))
    assert isinstance(physopt.current_derivative_mode(), physopt.ExactMode)
    mode = physopt.ExactMode()
    assert physopt.get_derivative_mode(mode) is mode


class _CountingMode(physopt.ExactMode):
    """Exact derivatives, counting which primitives the operators ask for."""

    name = "counting"

    def __init__(self):
        self.calls = []

    def jacobian(self, u):
        self.calls.append("jacobian")
        return super().jacobian(u)

    def hessian(self, u):
        self.calls.append("hessian")
        return super().hessian(u)

    def directional(self, u, v):
        self.calls.append("directional")
        return super().directional(u, v)

    def laplacian(self, u, dims):
        self.calls.append("laplacian")
        return super().laplacian(u, dims)


def test_operators_use_the_current_mode_and_the_mode_is_restored():
    u, x = MLP(2, ()), point(2, 26)
    mode = _CountingMode()
    with physopt.derivative_mode(mode):
        assert physopt.current_derivative_mode() is mode
        close(laplacian(u)(x), torch.trace(ref_hessian(u, x)))
        grad(u)(x)
        hessian(u)(x)
        partial(u, 0, 1)(x)
    assert mode.calls == ["laplacian", "jacobian", "hessian", "directional", "directional"]
    assert physopt.current_derivative_mode() is not mode
    with pytest.raises(KeyError):
        with physopt.derivative_mode(mode):
            raise KeyError("inside")
    assert physopt.current_derivative_mode() is not mode


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_derivatives_keep_the_dtype_of_the_point(dtype):
    # forward AD promoted the tangent of torch.pi * x[0] (a Python float times a 0-d tensor) to float64,
    # which broke float32 PINNs with an initial condition like sin(pi x) under lm (cholesky_solve of mixed dtypes)
    def u(x):
        return torch.sin(torch.pi * x[0]) * torch.exp(-x[1])

    x = torch.tensor([0.3, 0.2], dtype=dtype)
    for op in (partial(u, 0), partial(u, 1, 1), time_derivative(u), laplacian(u), grad(u)):
        assert op(x).dtype == dtype
