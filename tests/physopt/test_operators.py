"""Pointwise differential operators against dense autograd references.

Every operator of :mod:`physopt` is compared, on small random tanh MLPs in
float64, with ``torch.autograd.functional`` (Jacobians, Hessians) or with
nested ``torch.autograd.grad`` (third and fourth derivatives).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.func import vmap

import physopt
from physopt import (
    biharmonic,
    coordinate_layout,
    directional_derivative,
    divergence,
    grad,
    hessian,
    jacobian,
    laplacian,
    partial,
    time_derivative,
)

from seeded import rand, randn

F64 = torch.float64
TOL = dict(rtol=1e-10, atol=1e-10)

N_INS = (1, 2, 3)
OUT_SHAPES = ((), (1,), (2,), (3,))


# --------------------------------------------------------------------------- helpers
class MLP:
    """A small tanh MLP ``R^n -> R^out`` with explicit float64 parameters.

    Acts on one point ``(n,)`` or on a batch ``(B, n)`` (rows independent).
    """

    def __init__(self, n_in, out_shape=(), width=8, depth=2, seed=0):
        g = torch.Generator().manual_seed(1000 * seed + 17 * n_in + len(out_shape) + sum(out_shape))
        self.out_shape = tuple(out_shape)
        m = math.prod(self.out_shape)
        sizes = [n_in] + [width] * depth + [m]
        self.params = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            w = randn(b, a, generator=g, dtype=F64) / math.sqrt(a)
            bias = 0.5 * randn(b, generator=g, dtype=F64)
            self.params += [w.requires_grad_(), bias.requires_grad_()]

    def __call__(self, x):
        h = x
        for i in range(0, len(self.params) - 2, 2):
            h = torch.tanh(h @ self.params[i].T + self.params[i + 1])
        out = h @ self.params[-2].T + self.params[-1]
        return out.reshape(x.shape[:-1] + self.out_shape)


def point(n, seed=0):
    g = torch.Generator().manual_seed(123 + seed)
    return randn(n, generator=g, dtype=F64)


def close(actual, expected):
    torch.testing.assert_close(actual.detach(), expected.detach(), **TOL)


def ref_jacobian(u, x):
    return torch.autograd.functional.jacobian(u, x)


def ref_hessian(u, x):
    """Dense Hessian, shape ``out + (n, n)``, one scalar component at a time."""
    out = u(x).shape
    if out == ():
        return torch.autograd.functional.hessian(u, x)
    flat = [torch.autograd.functional.hessian(lambda y, k=k: u(y).reshape(-1)[k], x) for k in range(math.prod(out))]
    return torch.stack(flat).reshape(out + (x.shape[0], x.shape[0]))


def ref_nested(u, x, index):
    """``d^k u / dx_{i1} ... dx_{ik}`` by nested ``torch.autograd.grad``, shape ``out``."""
    x = x.detach().clone().requires_grad_(True)
    y = u(x)
    values = []
    for comp in y.reshape(-1):
        g = comp
        for i in index:
            (gx,) = torch.autograd.grad(g, x, create_graph=True)
            g = gx[i]
        values.append(g.detach())
    return torch.stack(values).reshape(y.shape)


def ref_directional(u, x, v, order):
    """``d^k/ds^k u(x + s v)`` at ``s = 0`` by nested ``torch.autograd.grad``."""
    x = x.detach().clone().requires_grad_(True)
    y = u(x)
    values = []
    for comp in y.reshape(-1):
        g = comp
        for _ in range(order):
            (gx,) = torch.autograd.grad(g, x, create_graph=True)
            g = (gx * v).sum()
        values.append(g.detach())
    return torch.stack(values).reshape(y.shape)


def fields():
    return [pytest.param(n, out, id=f"n{n}-out{'x'.join(map(str, out)) or 'scalar'}") for n in N_INS for out in OUT_SHAPES]


# --------------------------------------------------------------------------- first derivatives
@pytest.mark.parametrize("n, out", fields())
def test_jacobian_and_grad_match_autograd(n, out):
    u, x = MLP(n, out), point(n)
    expected = ref_jacobian(u, x)
    assert expected.shape == out + (n,)
    close(jacobian(u)(x), expected)
    close(grad(u)(x), expected)
    assert jacobian(u)(x).shape == out + (n,)


@pytest.mark.parametrize("n, out", fields())
def test_partial_first_order_is_a_jacobian_column(n, out):
    u, x = MLP(n, out), point(n, 1)
    jac = ref_jacobian(u, x)
    for i in range(n):
        close(partial(u, i)(x), jac[..., i])


@pytest.mark.parametrize("m", [1, 2, 3])
def test_vector_field_jacobian_has_shape_components_by_coordinates(m):
    n = 3
    u, x = MLP(n, (m,)), point(n, 2)
    j = jacobian(u)(x)
    assert j.shape == (m, n)
    for i in range(m):
        for k in range(n):
            close(j[i, k], ref_nested(u, x, (k,))[i])


# --------------------------------------------------------------------------- second derivatives
@pytest.mark.parametrize("n, out", fields())
def test_hessian_matches_autograd(n, out):
    u, x = MLP(n, out), point(n, 3)
    expected = ref_hessian(u, x)
    h = hessian(u)(x)
    assert h.shape == out + (n, n)
    close(h, expected)
    close(h, h.transpose(-1, -2))


@pytest.mark.parametrize("n, out", fields())
def test_laplacian_matches_hessian_trace_componentwise(n, out):
    u, x = MLP(n, out), point(n, 4)
    expected = torch.diagonal(ref_hessian(u, x), dim1=-2, dim2=-1).sum(-1)
    lap = laplacian(u)(x)
    assert lap.shape == out
    close(lap, expected)


@pytest.mark.parametrize("n", [2, 3])
def test_divergence_of_vector_field(n):
    u, x = MLP(n, (n,)), point(n, 5)
    expected = torch.diagonal(ref_jacobian(u, x)).sum()
    d = divergence(u)(x)
    assert d.shape == ()
    close(d, expected)


def test_divergence_of_gradient_is_laplacian():
    u, x = MLP(3, ()), point(3, 6)
    close(divergence(grad(u))(x), torch.trace(ref_hessian(u, x)))


@pytest.mark.parametrize("m", [1, 2, 4])
def test_divergence_needs_one_component_per_coordinate(m):
    u, x = MLP(3, (m,)), point(3)
    with pytest.raises(ValueError, match="3 components"):
        divergence(u)(x)


def test_divergence_of_scalar_field_raises():
    u, x = MLP(2, ()), point(2)
    with pytest.raises(ValueError, match="vector field"):
        divergence(u)(x)


# --------------------------------------------------------------------------- higher order
def _partial_cases():
    indices = [
        (0,),
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
        (0, 2),
        (0, 0, 0),
        (0, 0, 1),
        (0, 1, 2),
        (2, 1, 0),
        (1, 2, 2),
        (0, 0, 0, 0),
        (0, 0, 1, 1),
        (0, 1, 0, 1),
        (2, 2, 1, 0),
        (1, 1, 1, 2),
    ]
    cases = []
    for n in N_INS:
        for idx in indices:
            if max(idx) < n:
                for out in [(), (2,)]:
                    cases.append(pytest.param(n, out, idx, id=f"n{n}-{'x'.join(map(str, out)) or 'scalar'}-d{''.join(map(str, idx))}"))
    return cases


@pytest.mark.parametrize("n, out, index", _partial_cases())
def test_partial_matches_nested_autograd(n, out, index):
    u, x = MLP(n, out), point(n, 7)
    got = partial(u, *index)(x)
    assert got.shape == out
    close(got, ref_nested(u, x, index))


def test_partial_mixed_derivatives_commute():
    u, x = MLP(3, ()), point(3, 8)
    for index in [(0, 1, 2), (0, 0, 1, 2)]:
        values = torch.stack([partial(u, *p)(x) for p in set(itertools.permutations(index))])
        close(values, values[0].expand_as(values))


def test_partial_accepts_a_tuple_negative_indices_and_no_index():
    u, x = MLP(3, ()), point(3, 9)
    close(partial(u, (0, 2))(x), partial(u, 0, 2)(x))
    close(partial(u, [1, 1])(x), partial(u, 1, 1)(x))
    close(partial(u, -1)(x), ref_nested(u, x, (2,)))
    close(partial(u, -1, 0)(x), ref_nested(u, x, (2, 0)))
    assert partial(u) is u


def test_partial_index_out_of_range_raises():
    u, x = MLP(2, ()), point(2)
    with pytest.raises(IndexError, match="out of range"):
        partial(u, 2)(x)
    with pytest.raises(IndexError, match="out of range"):
        partial(u, 0, -3)(x)


@pytest.mark.parametrize("n, out", fields())
def test_biharmonic_matches_nested_autograd(n, out):
    u, x = MLP(n, out), point(n, 10)
    expected = sum(ref_nested(u, x, (i, i, j, j)) for i in range(n) for j in range(n))
    b = biharmonic(u)(x)
    assert b.shape == out
    close(b, expected)


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("n, out", fields())
def test_directional_derivative_matches_nested_autograd(n, out, order):
    u, x = MLP(n, out), point(n, 11)
    v = point(n, 12)
    got = directional_derivative(u, v, order)(x)
    assert got.shape == out
    close(got, ref_directional(u, x, v, order))


def test_directional_derivative_matches_dense_jacobian_and_hessian():
    u, x, v = MLP(3, (2,)), point(3, 13), point(3, 14)
    close(directional_derivative(u, v)(x), ref_jacobian(u, x) @ v)
    close(directional_derivative(u, v, 2)(x), torch.einsum("mij,i,j->m", ref_hessian(u, x), v, v))


def test_directional_derivative_accepts_a_list_or_a_float32_direction():
    u, x = MLP(2, ()), point(2, 15)
    v = [0.5, -2.0]
    expected = ref_directional(u, x, torch.tensor(v, dtype=F64), 2)
    close(directional_derivative(u, v, 2)(x), expected)
    got = directional_derivative(u, torch.tensor(v, dtype=torch.float32), 2)(x)
    assert got.dtype == F64
    close(got, expected)


def test_directional_derivative_order_zero_and_negative():
    u, x = MLP(2, ()), point(2)
    close(directional_derivative(u, [1.0, 0.0], 0)(x), u(x))
    with pytest.raises(ValueError, match="order"):
        directional_derivative(u, [1.0, 0.0], -1)


def test_directional_derivative_along_axis_is_partial():
    u, x = MLP(3, ()), point(3, 16)
    e1 = torch.tensor([0.0, 1.0, 0.0], dtype=F64)
    close(directional_derivative(u, e1, 3)(x), ref_nested(u, x, (1, 1, 1)))


# --------------------------------------------------------------------------- dims= selections
def test_dims_select_and_order_coordinates():
    u, x = MLP(3, (2,)), point(3, 17)
    jac, hess = ref_jacobian(u, x), ref_hessian(u, x)
    sel = [2, 0]
    close(grad(u, dims=sel)(x), jac[..., sel])
    close(jacobian(u, dims=(1,))(x), jac[..., [1]])
    close(hessian(u, dims=sel)(x), hess[..., sel, :][..., :, sel])
    close(laplacian(u, dims=sel)(x), hess[..., 0, 0] + hess[..., 2, 2])
    close(laplacian(u, dims=[1])(x), hess[..., 1, 1])
    close(grad(u, dims=[-1])(x), jac[..., [2]])
    expected_bih = sum(ref_nested(u, x, (i, i, j, j)) for i in sel for j in sel)
    close(biharmonic(u, dims=sel)(x), expected_bih)


def test_divergence_with_dims():
    u, x = MLP(3, (2,)), point(3, 18)
    jac = ref_jacobian(u, x)
    close(divergence(u, dims=[0, 2])(x), jac[0, 0] + jac[1, 2])


def test_dims_out_of_range_raises():
    u, x = MLP(2, ()), point(2)
    for op in (grad, jacobian, hessian, laplacian, biharmonic):
        with pytest.raises(IndexError, match="out of range"):
            op(u, dims=[0, 2])(x)


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


@pytest.mark.parametrize("name", ["taylor", "stde"])
def test_planned_derivative_modes_raise_not_implemented(name):
    with pytest.raises(NotImplementedError, match=name):
        physopt.get_derivative_mode(name)
    with pytest.raises(NotImplementedError, match="exact"):
        with physopt.derivative_mode(name):
            pass  # pragma: no cover


def test_available_derivative_modes():
    modes = physopt.available_derivative_modes()
    assert {"exact", "taylor", "stde"} <= set(modes)
    assert "not implemented" in modes["taylor"]
    assert "not implemented" not in modes["exact"]


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
