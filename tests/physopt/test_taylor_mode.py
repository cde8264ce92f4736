"""Taylor mode (forward jets) against exact autodiff: operators, MLP jets, activation derivatives."""

import pytest
import torch
from torch.func import jacrev, jvp, vmap

import physopt
from physopt import (
    MLP,
    biharmonic,
    derivative_mode,
    diagonal_derivative,
    directional_derivative,
    hessian,
    jacobian,
    laplacian,
    partial,
    trace_hessian,
)
from physopt._jets import activation_derivatives, push_activation
from physopt._nn import ACTIVATIONS
from physopt.curvature import MLPStructure, forward_laplacian, taylor_coefficients

from seeded import randn

TOL = 1e-10


def mlp_field(n=3, out=1, activation="tanh", seed=0):
    torch.manual_seed(seed)
    net = MLP(n, out, hidden=[6, 5], activation=activation).double()
    return (lambda x: net(x).squeeze(-1)) if out == 1 else net


def smooth_field(x):
    """A non-MLP callable with every mixed partial non-zero."""
    return torch.sin(x[0] * x[1]) * torch.exp(0.3 * x[2]) + x[0] ** 3 * x[2] ** 2 + torch.cos(x.sum())


def points(n=3, count=4, seed=1):
    return randn(count, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 0.7


def fourth_tensor(u, x):
    return jacrev(jacrev(jacrev(jacrev(u))))(x)


FIELDS = {  # built in the test, on its device
    "mlp": mlp_field, "vector-mlp": lambda: mlp_field(out=2, activation="sin"), "callable": lambda: smooth_field,
}


def in_modes(op, u, xs):
    out = []
    for mode in ("exact", "taylor"):
        with derivative_mode(mode):
            out.append(vmap(op(u))(xs))
    return out


def close(a, b, tol=TOL):
    assert a.shape == b.shape, (a.shape, b.shape)
    err = (a - b).abs().max().item()
    assert err <= tol * (1 + b.abs().max().item()), err


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize("op", [
    laplacian, hessian, jacobian, lambda u: laplacian(u, dims=(0, 2)), lambda u: hessian(u, dims=(1, 2)),
    lambda u: partial(u, 0, 1), lambda u: partial(u, 0, 1, 2), lambda u: partial(u, 2, 2, 0, 1),
], ids=["laplacian", "hessian", "jacobian", "laplacian-dims", "hessian-dims", "u_01", "u_012", "u_2201"])
def test_taylor_equals_exact(field, op):
    exact, taylor = in_modes(op, FIELDS[field](), points())
    close(taylor, exact)


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_directional_derivatives_against_derivative_tensors(field, order):
    u, xs = FIELDS[field](), points(count=3)
    v = torch.tensor([0.3, -1.2, 0.8], dtype=torch.float64)
    with derivative_mode("taylor"):
        got = vmap(directional_derivative(u, v, order))(xs)
    d = jacrev
    f = u
    for _ in range(order):
        f = d(f)
    tensor = vmap(f)(xs)  # (N, out..., n, ..., n)
    for _ in range(order):
        tensor = tensor @ v
    close(got, tensor)


@pytest.mark.parametrize("field", list(FIELDS))
def test_biharmonic_and_diagonal_operators(field):
    u, xs = FIELDS[field](), points(count=2)
    T = vmap(lambda x: fourth_tensor(u, x))(xs)  # (N, out..., n, n, n, n)
    bih = torch.einsum("...iijj->...", T)
    diag4 = torch.einsum("...iiii->...i", T).sum(-1)
    diag3 = torch.einsum("...iii->...i", vmap(jacrev(jacrev(jacrev(u))))(xs)).sum(-1)
    with derivative_mode("taylor"):
        close(vmap(biharmonic(u))(xs), bih)
        close(vmap(diagonal_derivative(u, 4))(xs), diag4)
        close(vmap(diagonal_derivative(u, 3))(xs), diag3)
    with derivative_mode("exact"):
        close(vmap(biharmonic(u))(xs), bih)
        close(vmap(diagonal_derivative(u, 4))(xs), diag4)


@pytest.mark.parametrize("mode", ["exact", "taylor"])
def test_trace_hessian(mode):
    u, xs = smooth_field, points()
    A = randn(3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)  # not symmetric
    H = vmap(jacrev(jacrev(u)))(xs)
    with derivative_mode(mode):
        close(vmap(trace_hessian(u, A))(xs), torch.einsum("ij,nji->n", A, H))
        close(vmap(trace_hessian(u, torch.eye(2, dtype=torch.float64), dims=(0, 2)))(xs), H[:, 0, 0] + H[:, 2, 2])
        with pytest.raises(ValueError, match="3 x 3"):
            vmap(trace_hessian(u, torch.eye(2, dtype=torch.float64)))(xs)


def test_taylor_mode_inside_a_parameter_gradient():
    """Taylor-mode residuals differentiate in the network's parameters like exact ones."""
    torch.manual_seed(0)
    net = MLP(3, 1, hidden=[5, 5]).double()
    xs = points()
    grads = []
    for mode in ("exact", "taylor"):
        net.zero_grad()
        with derivative_mode(mode):
            u = lambda x: net(x).squeeze(-1)  # noqa: E731
            (vmap(laplacian(u))(xs).pow(2).sum() + vmap(u)(xs).pow(2).sum()).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]))
    close(grads[1], grads[0])


# ----- the jet engine ------------------------------------------------------------------------


@pytest.mark.parametrize("activation", list(ACTIVATIONS) + ["softplus-beta", "elu"])
def test_activation_derivatives_to_order_four(activation):
    act = {"softplus-beta": torch.nn.Softplus(beta=2.5), "elu": torch.nn.ELU()}.get(activation)
    act = act if act is not None else ACTIVATIONS[activation]()
    z = torch.linspace(-3, 3, 13, dtype=torch.float64) + 0.01
    got = activation_derivatives(act, z, 4)
    f = act
    for k in range(5):
        close(got[k], vmap(f)(z))
        f = (lambda g: lambda y: jvp(g, (y,), (torch.ones_like(y),))[1])(f)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_forward_laplacian_equals_exact(activation):
    torch.manual_seed(2)
    net = MLP(4, 2, hidden=[7, 6], activation=activation).double()
    xs = points(4, 5)
    value, grad, lap = forward_laplacian(net, xs)
    H = vmap(jacrev(jacrev(net)))(xs)  # (N, 2, 4, 4)
    close(value, net(xs))
    close(grad, vmap(jacrev(net))(xs))
    close(lap, torch.einsum("noii->no", H))
    # any directions, shared or per point: sum_r d_r^T H d_r
    g = torch.Generator().manual_seed(4)
    for D in (randn(3, 4, generator=g, dtype=torch.float64), randn(5, 3, 4, generator=g, dtype=torch.float64)):
        _, jd, ld = forward_laplacian(net, xs, D)
        Dn = D.expand(5, 3, 4)
        close(ld, torch.einsum("nri,noij,nrj->no", Dn, H, Dn))
        close(jd, torch.einsum("noi,nri->nor", vmap(jacrev(net))(xs), Dn))


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_taylor_coefficients_give_directional_derivatives(activation):
    """A 4-jet (x, v, 0, 0) gives y_k = d^k u[v, ..., v]; a curve jet (x, v1, v2) gives y_2 = v1^T H v1 + grad u . v2."""
    torch.manual_seed(3)
    net = MLP(3, 1, hidden=[6, 6], activation=activation).double()
    u = lambda x: net(x).squeeze(-1)  # noqa: E731
    xs = points(count=4)
    g = torch.Generator().manual_seed(5)
    v1, v2 = randn(4, 3, generator=g, dtype=torch.float64), randn(4, 3, generator=g, dtype=torch.float64)
    value, coeffs = taylor_coefficients(net, xs, [v1, torch.zeros_like(v1), torch.zeros_like(v1), torch.zeros_like(v1)])
    close(value.squeeze(-1), vmap(u)(xs))
    for k, y in enumerate(coeffs, start=1):
        with derivative_mode("taylor"):
            expected = vmap(lambda x, v, k=k: directional_derivative(u, v, k)(x))(xs, v1)
        close(y.squeeze(-1), expected)
    _, (y1, y2) = MLPStructure(net).taylor(dict(net.named_parameters()), xs, [v1, v2])
    H, G = vmap(jacrev(jacrev(u)))(xs), vmap(jacrev(u))(xs)
    close(y2.squeeze(-1), torch.einsum("ni,nij,nj->n", v1, H, v1) + (G * v2).sum(-1))


def test_push_activation_is_faa_di_bruno():
    """The order-4 rule against the fourth derivative of tanh(x(t)) for a polynomial curve x(t)."""
    c = [0.3, -0.7, 1.1, 0.4, -0.9]  # x(t) = sum c_k t^k / k!
    x = lambda t: sum(ck * t ** k / [1, 1, 2, 6, 24][k] for k, ck in enumerate(c))  # noqa: E731
    t0 = torch.zeros((), dtype=torch.float64)
    f = lambda t: torch.tanh(x(t))  # noqa: E731
    derivs = [f]
    for _ in range(4):
        derivs.append((lambda g: lambda t: jvp(g, (t,), (torch.ones_like(t),))[1])(derivs[-1]))
    s = activation_derivatives(torch.nn.Tanh(), torch.tensor(c[0], dtype=torch.float64), 4)
    ys = push_activation(s[1:], [torch.tensor(ck, dtype=torch.float64) for ck in c[1:]])
    for k in range(1, 5):
        close(ys[k - 1], derivs[k](t0))
    with pytest.raises(ValueError):
        push_activation(s[1:], [t0] * 5)


def test_taylor_mode_is_listed_and_resolves():
    assert "taylor" in physopt.available_derivative_modes()
    assert isinstance(physopt.get_derivative_mode("taylor"), physopt.TaylorMode)


def test_pinn_with_taylor_mode_gives_the_exact_loss():
    from problems import registered_problems
    from solvers import PINN

    options = dict(points=32, boundary_points=8, width=8, depth=2, steps=5, optimizer="adam", error_every=0,
                   checkpoint_every=0)
    losses = [PINN(registered_problems()["poisson_nd"](dim=3), derivatives=d, **options).solve().info["final_loss"]
              for d in ("exact", "taylor")]
    assert abs(losses[0] - losses[1]) <= 1e-10 * losses[0]


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_laplacian_of_an_mlp_module_takes_the_collapsed_jets(activation):
    torch.manual_seed(4)
    net = MLP(4, 2, hidden=[6, 5], activation=activation).double()
    seq = torch.nn.Sequential(*net.layers)
    xs = points(4, 3)
    exact, taylor = in_modes(lambda f: laplacian(f, dims=(0, 1, 3)), net, xs)
    close(taylor, exact)
    exact, taylor = in_modes(laplacian, seq, xs)
    close(taylor, exact)
    assert physopt._taylor_mode._mlp_structure(net) is not None
    assert physopt._taylor_mode._mlp_structure(smooth_field) is None
