"""MLP jets, per-point Jacobians from layer copies, Kronecker factors and the Kronecker-sum solve, against dense autograd."""

import pytest
import torch
from torch.func import hessian, jacrev, vmap

from physopt import ConfigurationError
from physopt._nn import ACTIVATIONS, MLP
from physopt.curvature import FlatParameters, MLPStructure, kronecker_factors, layer_jacobians
from physopt.optim import kronecker_sum_solve

from seeded import randn


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_jets_equal_autograd_derivatives(activation):
    torch.manual_seed(0)
    model = MLP(3, 2, hidden=[7, 5], activation=activation).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    params = dict(model.named_parameters())
    structure = MLPStructure(model)
    value = model(x)
    grad, hess = vmap(jacrev(model))(x), vmap(hessian(model))(x)
    for order in (0, 1, 2):
        jets, _ = structure.jets(params, x, order)
        assert torch.allclose(jets.value, value, atol=1e-13)
        assert (jets.gradient is None) == (order < 1) and (jets.hessian is None) == (order < 2)
        if order >= 1:
            assert torch.allclose(jets.gradient, grad, atol=1e-13)
        if order == 2:
            assert torch.allclose(jets.hessian, hess, atol=1e-12)


def test_layer_copies_give_the_dense_per_point_jacobian():
    """r_n = Δu + u·∂₀u at x_n from jets; Σ_s g ã^T per layer equals jacrev of r_n over θ."""
    torch.manual_seed(1)
    model = MLP(2, 1, hidden=[6, 4]).double()
    flat = FlatParameters(model)
    structure = MLPStructure(model)
    x = torch.randn(5, 2, dtype=torch.float64)

    def residual(params, order=2, record=False):
        jets, records = structure.jets(params, x, order, record=record)
        u, g, h = jets.value[:, 0], jets.gradient[:, 0], jets.hessian[:, 0]
        return torch.diagonal(h, dim1=-2, dim2=-1).sum(-1) + u * g[:, 0], records

    theta = flat.vector()
    dense = jacrev(lambda th: residual(flat.unflatten(th))[0])(theta)
    params = {k: v.clone().requires_grad_() for k, v in flat.unflatten(theta).items()}
    r, records = residual(params, record=True)
    grads = torch.autograd.grad(r.sum(), [rec.outputs for rec in records])
    by_name = layer_jacobians(records, grads)
    ours = torch.cat([by_name[n] for n in flat.names], 1)
    assert torch.allclose(ours, dense, atol=1e-12)

    factors = kronecker_factors(records, grads)
    for rec, g, (A, B) in zip(records, grads, factors):
        a = torch.cat([rec.inputs, torch.zeros_like(rec.inputs[..., :1])], -1)
        a[:, 0, -1] = 1  # the bias enters the value copy only
        n_samples = a.shape[0] * a.shape[1]
        A_loop = sum(torch.outer(v, v) for v in a.reshape(-1, a.shape[-1])) / n_samples
        B_loop = sum(torch.outer(v, v) for v in g.reshape(-1, g.shape[-1]))
        assert torch.allclose(A, A_loop, atol=1e-12) and torch.allclose(B, B_loop, atol=1e-12)


def test_structure_refuses_networks_that_are_not_mlps():
    with pytest.raises(ConfigurationError, match="LayerNorm"):
        MLPStructure(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LayerNorm(3), torch.nn.Linear(3, 1)))
    with pytest.raises(ConfigurationError, match="not a chain"):
        MLPStructure(torch.nn.Bilinear(2, 2, 1))


def _spd(n, generator):
    M = randn(n, n, generator=generator, dtype=torch.float64)
    return M @ M.T + 0.1 * torch.eye(n, dtype=torch.float64)


@pytest.mark.parametrize("pairs", [1, 2])
def test_kronecker_sum_solve_matches_the_dense_solve(pairs):
    gen = torch.Generator().manual_seed(2)
    factors = [(_spd(4, gen), _spd(3, gen)) for _ in range(pairs)]
    V = randn(3, 4, generator=gen, dtype=torch.float64)
    dense = sum(torch.kron(B, A) for A, B in factors)
    expected = torch.linalg.solve(dense, V.reshape(-1)).reshape(3, 4)
    ours = kronecker_sum_solve(factors, V, damping=1e-24)
    assert torch.allclose(ours, expected, rtol=1e-9, atol=1e-9)
    # damping makes a singular first pair invertible and shrinks the solution
    singular = [(torch.zeros(4, 4, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64))] + factors[1:]
    damped = kronecker_sum_solve(singular, V, damping=1.0)
    assert torch.isfinite(damped).all() and damped.norm() <= V.norm() * (1 + 1e-12)
