"""Pointwise differential operators against dense autograd references.

Every operator of :mod:`physopt` is compared, on small random tanh MLPs in
float64, with ``torch.autograd.functional`` (Jacobians, Hessians) or with
nested ``torch.autograd.grad`` (third and fourth derivatives). Coordinate
layouts, vmap, parameter gradients and derivative modes are tested in
``test_operators_in_use.py``.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from physopt import (
    biharmonic,
    directional_derivative,
    divergence,
    grad,
    hessian,
    jacobian,
    laplacian,
    partial,
)

from operator_refs import F64, MLP, N_INS, close, fields, point, ref_directional, ref_hessian, ref_jacobian, ref_nested


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


@pytest.mark.parametrize("out", [(), (1,), (5,), (2, 3)], ids=["scalar", "out1", "out5", "out2x3"])
def test_partial_in_reverse_and_forward_mode_matches_autograd(out):
    """A scalar field's partials are nested vector-Jacobian products, a vector field's nested jvps: both give the
    nested autograd values, with the field's output shape."""
    u, x = MLP(2, out), point(2, 8)
    for index in ((0,), (1, 0), (1, 1, 0)):
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
