"""physopt.curvature against dense autograd references and exact linear algebra.

Everything runs in float64. Deterministic quantities (flat parameters, Jacobians,
Jacobian/Gram/Hessian-vector products, Lanczos relations) are compared with
``torch.autograd.functional`` or explicit matrices to 1e-10; the stochastic
estimators (Hutchinson trace and diagonal, stochastic Lanczos quadrature) use
fixed ``torch.Generator`` seeds and tolerances several standard errors wide,
derived from the estimator's exact variance where one is known.

Two residual maps of a small tanh MLP ``R^2 -> R`` are used throughout:

- a PINN-like residual ``r(theta)_i = Laplacian_x u_theta(x_i)`` built with
  :func:`physopt.laplacian` and :meth:`FlatParameters.call`;
- a regression residual ``r(theta)_i = u_theta(x_i) - y_i``.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.autograd.functional import hessian as dense_hessian
from torch.autograd.functional import jacobian as dense_jacobian
from torch.func import vmap

import physopt
from physopt.curvature import (
    FlatParameters,
    gram_matrix,
    gram_vector_product,
    hessian_vector_product,
    hutchinson_diagonal,
    hutchinson_trace,
    jacobian_vector_product,
    kernel_matrix,
    lanczos,
    lanczos_eigenvalues,
    per_point_jacobian,
    power_iteration,
    random_probes,
    residual_jacobian,
    spectral_density,
    vector_jacobian_product,
)
from physopt.curvature._matrices import _symmetric_product

F64 = torch.float64
TOL = 1e-10
N_POINTS = 12
K = 5


# --------------------------------------------------------------------------- helpers
def gen(seed: int) -> torch.Generator:
    """A seeded generator on the default device, where the estimators draw their probes (``--device``)."""
    return torch.Generator(device=torch.get_default_device()).manual_seed(seed)


def randn(*shape: int, seed: int) -> torch.Tensor:
    """Float64 test data, the same numbers on every device: drawn on the CPU, then moved to the default device."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64, device="cpu").to(torch.get_default_device())


def rand(*shape: int, seed: int) -> torch.Tensor:
    """Like :func:`randn`, uniform on [0, 1)."""
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64, device="cpu").to(torch.get_default_device())


def assert_close(actual, expected, tol: float = TOL):
    """``|actual - expected| <= tol * max(1, max|expected|)`` elementwise (absolute, scaled)."""
    actual = torch.as_tensor(actual, dtype=F64).detach()
    expected = torch.as_tensor(expected, dtype=F64).detach()
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    err = float((actual - expected).abs().max()) if expected.numel() else 0.0
    assert err <= tol * scale, f"max abs error {err:.3e} > {tol:.1e} * {scale:.3e}"


def make_mlp(seed: int = 0, widths=(2, 8, 8, 1)) -> torch.nn.Sequential:
    """A small float64 tanh MLP, initialised from ``seed`` without touching the global RNG."""
    layers = []
    with torch.random.fork_rng(), torch.device("cpu"):  # the same weights on every device: made on the CPU, then moved
        torch.manual_seed(seed)
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            if i:
                layers.append(torch.nn.Tanh())
            layers.append(torch.nn.Linear(a, b))
        net = torch.nn.Sequential(*layers)
    return net.to(device=torch.get_default_device(), dtype=F64)


def pinn_residual(fp: FlatParameters, X: torch.Tensor):
    """``theta -> (Laplacian of the network at each x_i)``, shape ``(N,)``."""
    return lambda th: vmap(lambda x: physopt.laplacian(lambda y: fp.call(th, y)[0])(x))(X)


def regression_residual(fp: FlatParameters, X: torch.Tensor, y: torch.Tensor):
    """``theta -> network(X) - y``, shape ``(N,)``."""
    return lambda th: fp.call(th, X)[:, 0] - y


def spd_operator(eigenvalues, seed: int):
    """``A = Q diag(d) Q^T`` with a random orthogonal ``Q``; returns ``(A, matvec)``."""
    d = torch.as_tensor(eigenvalues, dtype=F64, device=torch.get_default_device())  # SPREAD is made on the CPU at import
    n = d.numel()
    Q, _ = torch.linalg.qr(randn(n, n, seed=seed))
    A = (Q * d) @ Q.T
    A = 0.5 * (A + A.T)
    return A, lambda V: V @ A  # A symmetric: rows of V @ A are A v


def loop(fn, residual, theta, V):
    return torch.stack([fn(residual, theta, v) for v in V])


# --------------------------------------------------------------------------- fixtures
class Setup:
    """The network, its flat parameters, a parameter vector away from the module's, points, residuals."""

    def __init__(self):
        self.net = make_mlp(0)
        self.fp = FlatParameters(self.net)
        self.P = self.fp.size
        # evaluate away from the module's own parameters: the products must use theta, not the module
        self.theta = self.fp.vector() + 0.1 * randn(self.P, seed=1)
        self.X = rand(N_POINTS, 2, seed=2) * 2 - 1
        self.y = torch.sin(math.pi * self.X[:, 0]) * self.X[:, 1]
        self.residuals = {
            "pinn": pinn_residual(self.fp, self.X),
            "regression": regression_residual(self.fp, self.X, self.y),
        }
        self.J = {name: dense_jacobian(r, self.theta) for name, r in self.residuals.items()}


@pytest.fixture(scope="module")
def setup(request) -> Setup:
    # a module fixture is built before the per-test default device is set: build it on --device explicitly
    with torch.device(request.config.getoption("--device")):
        return Setup()


@pytest.fixture(params=["pinn", "regression"])
def case(request, setup):
    name = request.param
    return setup.residuals[name], setup.J[name]


# --------------------------------------------------------------------------- 1. FlatParameters
def test_flat_parameters_layout_and_round_trip():
    net = make_mlp(3)
    fp = FlatParameters(net)
    named = dict(net.named_parameters())
    assert fp.names == list(named)
    assert fp.shapes == [p.shape for p in named.values()]
    assert fp.sizes == [p.numel() for p in named.values()]
    assert fp.size == sum(p.numel() for p in net.parameters()) == 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1

    v = fp.vector()
    assert v.shape == (fp.size,) and v.dtype == F64 and not v.requires_grad
    assert torch.equal(v, torch.cat([p.detach().reshape(-1) for p in net.parameters()]))
    parts = fp.unflatten(v)
    assert list(parts) == fp.names
    for name, t in parts.items():
        assert torch.equal(t, named[name].detach())
    assert torch.equal(torch.cat([t.reshape(-1) for t in parts.values()]), v)

    # vector() is a copy: writing to it leaves the module alone
    before = net[0].weight.detach().clone()
    v.add_(1.0)
    assert torch.equal(net[0].weight.detach(), before)
    assert torch.equal(fp.parameters()[0], net[0].weight)


def test_flat_parameters_call_matches_module_and_leaves_it_unchanged():
    net = make_mlp(4)
    fp = FlatParameters(net)
    x = randn(7, 2, seed=5)
    v = fp.vector()
    assert_close(fp.call(v, x), net(x))

    other = v + 0.3 * randn(fp.size, seed=6)
    out = fp.call(other, x)
    assert torch.equal(fp.vector(), v)  # call does not modify the module
    assert all(isinstance(p, torch.nn.Parameter) for p in net.parameters())
    ref = copy.deepcopy(net)
    FlatParameters(ref).assign(other)
    assert_close(out, ref(x))
    assert float((out - net(x)).detach().abs().max()) > 1e-3

    # differentiable in theta
    g = torch.func.grad(lambda th: fp.call(th, x).sum())(other)
    assert g.shape == (fp.size,) and torch.isfinite(g).all()


def test_flat_parameters_assign_and_add():
    net = make_mlp(7)
    fp = FlatParameters(net)
    x = randn(5, 2, seed=8)
    v0 = fp.vector()
    new = randn(fp.size, seed=9)

    fp.assign(new)
    assert torch.equal(fp.vector(), new)
    assert_close(net(x), fp.call(new, x))
    assert all(isinstance(p, torch.nn.Parameter) and p.requires_grad for p in net.parameters())
    assert not net[0].weight.grad_fn

    delta = randn(fp.size, seed=10)
    fp.add_(delta)
    assert_close(fp.vector(), new + delta)
    fp.add_(delta, alpha=-2.5)
    assert_close(fp.vector(), new - 1.5 * delta)
    fp.assign(v0)
    assert torch.equal(fp.vector(), v0)


def test_flat_parameters_skips_frozen_parameters_and_keeps_buffers():
    net = make_mlp(11)
    net[0].requires_grad_(False)
    net.register_buffer("shift", torch.tensor(0.25, dtype=F64))
    fp = FlatParameters(net)
    assert fp.names == ["2.weight", "2.bias", "4.weight", "4.bias"]
    assert fp.size == 8 * 8 + 8 + 8 + 1
    x = randn(4, 2, seed=12)
    assert_close(fp.call(fp.vector(), x), net(x))
    assert "shift" not in fp.unflatten(fp.vector())


def test_flat_parameters_shared_parameter_object():
    # the same Parameter object in two modules: counted once, used by both
    a, b = torch.nn.Linear(3, 3).to(F64), torch.nn.Linear(3, 3).to(F64)
    b.weight = a.weight
    net = torch.nn.Sequential(a, torch.nn.Tanh(), b)
    fp = FlatParameters(net)
    assert fp.names == ["0.weight", "0.bias", "2.bias"]
    x = randn(4, 3, seed=13)
    theta = fp.vector() + 0.2
    out = fp.call(theta, x)
    assert all(isinstance(p, torch.nn.Parameter) for p in net.parameters())
    fp.assign(theta)
    assert_close(out, net(x))


@pytest.mark.xfail(
    strict=True,
    reason="FlatParameters.call relies on torch.func.functional_call (tie_weights=True); when one "
    "submodule is reachable under two names the module's Parameters are left replaced by plain "
    "tensors after the call (upstream pytorch/pytorch#164759), contradicting 'the module itself is "
    "not modified'",
)
def test_flat_parameters_call_does_not_modify_module_with_reused_submodule():
    lin = torch.nn.Linear(3, 3).to(F64)
    net = torch.nn.Sequential(lin, torch.nn.Tanh(), lin)
    fp = FlatParameters(net)
    x = randn(4, 3, seed=14)
    v = fp.vector()
    fp.call(v + 0.1, x)
    assert all(isinstance(p, torch.nn.Parameter) for p in net.parameters())
    assert torch.equal(fp.vector(), v)


def test_flat_parameters_wrong_shapes_raise():
    net = make_mlp(15)
    fp = FlatParameters(net)
    P = fp.size
    x = torch.randn(3, 2, dtype=F64)
    for bad in (torch.zeros(P + 1, dtype=F64), torch.zeros(P - 1, dtype=F64), torch.zeros(P, 1, dtype=F64),
                torch.zeros(1, P, dtype=F64), torch.zeros(2, P, dtype=F64), torch.zeros((), dtype=F64)):
        with pytest.raises(ValueError, match=str(P)):
            fp.unflatten(bad)
        with pytest.raises(ValueError):
            fp.call(bad, x)
    frozen = make_mlp(16).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        FlatParameters(frozen)
    with pytest.raises(ValueError):
        FlatParameters(torch.nn.Tanh())


@pytest.mark.parametrize("method", ["assign", "add_"])
@pytest.mark.parametrize("shape", ["P+1", "P-1", "Px1"])
def test_flat_parameters_assign_add_wrong_shape_raise_value_error(method, shape):
    fp = FlatParameters(make_mlp(17))
    P = fp.size
    bad = {"P+1": torch.zeros(P + 1, dtype=F64), "P-1": torch.zeros(P - 1, dtype=F64),
           "Px1": torch.zeros(P, 1, dtype=F64)}[shape]
    with pytest.raises(ValueError):
        getattr(fp, method)(bad)


# --------------------------------------------------------------------------- 2. Jacobians
def test_residual_jacobian_matches_autograd(setup, case):
    residual, J = case
    Jf = residual_jacobian(residual, setup.theta)
    assert Jf.shape == (N_POINTS, setup.P)
    assert_close(Jf, J)
    assert float(J.abs().max()) > 1e-2  # not a degenerate zero Jacobian


def test_per_point_jacobian_rows(setup):
    fp, theta, X = setup.fp, setup.theta, setup.X
    # network output at one point (regression residual up to the constant target)
    Jp = per_point_jacobian(lambda th, x: fp.call(th, x)[0], theta, X)
    assert Jp.shape == (N_POINTS, setup.P)
    assert_close(Jp, setup.J["regression"])
    for i in (0, 5, N_POINTS - 1):
        row = dense_jacobian(lambda th: fp.call(th, X[i])[0], theta)
        assert_close(Jp[i], row)
    # the pointwise PINN residual
    Jl = per_point_jacobian(lambda th, x: physopt.laplacian(lambda y: fp.call(th, y)[0])(x), theta, X)
    assert_close(Jl, setup.J["pinn"])


# --------------------------------------------------------------------------- 3. J v, J^T u
def test_jacobian_vector_product(setup, case):
    residual, J = case
    V = randn(K, setup.P, seed=20)
    single = jacobian_vector_product(residual, setup.theta, V[0])
    assert single.shape == (N_POINTS,)
    assert_close(single, J @ V[0])
    batch = jacobian_vector_product(residual, setup.theta, V)
    assert batch.shape == (K, N_POINTS)
    assert_close(batch, V @ J.T)
    assert_close(batch, loop(jacobian_vector_product, residual, setup.theta, V))


def test_vector_jacobian_product(setup, case):
    residual, J = case
    U = randn(K, N_POINTS, seed=21)
    single = vector_jacobian_product(residual, setup.theta, U[0])
    assert single.shape == (setup.P,)
    assert_close(single, J.T @ U[0])
    batch = vector_jacobian_product(residual, setup.theta, U)
    assert batch.shape == (K, setup.P)
    assert_close(batch, U @ J)
    assert_close(batch, loop(vector_jacobian_product, residual, setup.theta, U))


def test_products_are_adjoint(setup, case):
    residual, _ = case
    v = randn(setup.P, seed=22)
    u = randn(N_POINTS, seed=23)
    lhs = u @ jacobian_vector_product(residual, setup.theta, v)
    rhs = vector_jacobian_product(residual, setup.theta, u) @ v
    assert abs(float(lhs - rhs)) <= TOL * max(1.0, abs(float(lhs)))


# --------------------------------------------------------------------------- 4. Gram / Hessian products, dense matrices
def test_gram_vector_product(setup, case):
    residual, J = case
    G = J.T @ J
    V = randn(K, setup.P, seed=24)
    single = gram_vector_product(residual, setup.theta, V[0])
    assert single.shape == (setup.P,)
    assert_close(single, G @ V[0])
    batch = gram_vector_product(residual, setup.theta, V)
    assert batch.shape == (K, setup.P)
    assert_close(batch, V @ G)
    assert_close(batch, loop(gram_vector_product, residual, setup.theta, V))


LOSSES = {
    "sum_squares": lambda r: (r**2).sum(),
    "logsumexp": lambda r: torch.logsumexp(r, 0),
}


@pytest.mark.parametrize("loss_name", list(LOSSES))
def test_hessian_vector_product(setup, case, loss_name):
    residual, _ = case
    loss = lambda th: LOSSES[loss_name](residual(th))  # noqa: E731
    H = dense_hessian(loss, setup.theta)
    assert float(H.abs().max()) > 1e-3
    V = randn(K, setup.P, seed=25)
    single = hessian_vector_product(loss, setup.theta, V[0])
    assert single.shape == (setup.P,)
    assert_close(single, H @ V[0])
    batch = hessian_vector_product(loss, setup.theta, V)
    assert batch.shape == (K, setup.P)
    assert_close(batch, V @ H)
    assert_close(batch, loop(hessian_vector_product, loss, setup.theta, V))


def test_gram_and_kernel_matrices(setup, case):
    _, J = case
    G, Kmat = gram_matrix(J), kernel_matrix(J)
    assert G.shape == (setup.P, setup.P) and Kmat.shape == (N_POINTS, N_POINTS)
    assert_close(G, J.T @ J)
    assert_close(Kmat, J @ J.T)
    assert_close(G, G.T)
    assert_close(Kmat, Kmat.T)
    # the nonzero spectra coincide
    eg, ek = torch.linalg.eigvalsh(G), torch.linalg.eigvalsh(Kmat)
    assert_close(eg[-N_POINTS:], ek, tol=1e-9)
    # the Woodbury identity of the module docstring
    lam = 1e-2
    lhs = J.T @ torch.linalg.solve(Kmat + lam * torch.eye(N_POINTS, dtype=F64), torch.eye(N_POINTS, dtype=F64))
    rhs = torch.linalg.solve(G + lam * torch.eye(setup.P, dtype=F64), J.T)
    assert_close(lhs, rhs, tol=1e-8)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(40, 7), (7, 40), (12, 12)])
def test_gram_and_kernel_matrices_in_every_memory_layout(dtype, shape):
    """Tall CPU matrices take BLAS syrk (one triangle, mirrored): same values as the matmul, exactly symmetric."""
    J = randn(*shape, seed=31).to(dtype)
    tol = 1e-12 if dtype == F64 else 1e-4
    for M in (J, J.T.contiguous().T, J[:, ::2], J[::2]):  # C order, Fortran order, strided (the matmul fallback)
        G, Kmat = gram_matrix(M), kernel_matrix(M)
        assert G.dtype == dtype and torch.equal(G, G.T) and torch.equal(Kmat, Kmat.T)
        assert torch.allclose(G, M.T @ M, atol=tol * float(G.abs().max()), rtol=0)
        assert torch.allclose(Kmat, M @ M.T, atol=tol * float(Kmat.abs().max()), rtol=0)
    tall = J if shape[0] >= shape[1] else J.T
    if J.device.type == "cpu":
        assert _symmetric_product(tall) is not None and _symmetric_product(tall.T.contiguous().T) is not None
    else:  # syrk is the CPU path: elsewhere the symmetrized matmul above
        assert _symmetric_product(tall) is None


def test_gauss_newton_relation_nonlinear(setup, case):
    """Hessian of 0.5||r||^2 = J^T J + sum_i r_i Hess(r_i)."""
    residual, J = case
    theta = setup.theta
    r0 = residual(theta).detach()
    H = dense_hessian(lambda th: 0.5 * (residual(th) ** 2).sum(), theta)
    C = dense_hessian(lambda th: residual(th) @ r0, theta)  # sum_i r_i(theta0) Hess r_i
    G = gram_matrix(residual_jacobian(residual, theta))
    assert_close(H, G + C)
    # the residual-curvature term is genuinely there for these nonlinear residuals
    assert float((H - G).abs().max()) > 1e-3 * float(H.abs().max())
    # and the matrix-free products agree with the same split
    V = randn(3, setup.P, seed=26)
    hv = hessian_vector_product(lambda th: 0.5 * (residual(th) ** 2).sum(), theta, V)
    gv = gram_vector_product(residual, theta, V)
    assert_close(hv, gv + V @ C)


@pytest.mark.parametrize("kind", ["pinn", "regression"])
def test_gauss_newton_exact_for_linear_in_parameters_residual(setup, kind):
    """With only the last layer trainable both residuals are linear in theta: Hessian = J^T J exactly."""
    net = make_mlp(0)
    net[0].requires_grad_(False)
    net[2].requires_grad_(False)
    fp = FlatParameters(net)
    assert fp.names == ["4.weight", "4.bias"]
    residual = pinn_residual(fp, setup.X) if kind == "pinn" else regression_residual(fp, setup.X, setup.y)
    theta = fp.vector() + 0.5 * randn(fp.size, seed=27)
    H = dense_hessian(lambda th: 0.5 * (residual(th) ** 2).sum(), theta)
    J = residual_jacobian(residual, theta)
    assert float(J.abs().max()) > 1e-2
    assert_close(H, gram_matrix(J))
    V = randn(K, fp.size, seed=28)
    assert_close(hessian_vector_product(lambda th: 0.5 * (residual(th) ** 2).sum(), theta, V),
                 gram_vector_product(residual, theta, V))


# --------------------------------------------------------------------------- 5. Hutchinson
SPREAD = torch.linspace(1.0, 10.0, 40, dtype=F64)  # a spread spectrum: Hutchinson's relative variance is small


def exact_hutchinson_variance(A: torch.Tensor, distribution: str) -> float:
    """Var(v^T A v) for symmetric A: 2||A||_F^2 (Gaussian), 2(||A||_F^2 - sum A_ii^2) (Rademacher)."""
    fro2 = float((A**2).sum())
    if distribution == "gaussian":
        return 2 * fro2
    return 2 * (fro2 - float((torch.diagonal(A) ** 2).sum()))


def test_random_probes():
    R = random_probes(500, 30, "rademacher", generator=gen(30))
    assert R.shape == (500, 30) and R.dtype == F64
    assert set(R.unique().tolist()) == {-1.0, 1.0}
    Z = random_probes(4000, 6, "gaussian", generator=gen(31))
    assert Z.shape == (4000, 6) and Z.dtype == F64
    # E[v v^T] = I: entries of the sample second moment within 6 standard errors (<= sqrt(2/n))
    M = Z.T @ Z / 4000
    assert float((M - torch.eye(6, dtype=F64)).abs().max()) < 6 * math.sqrt(2 / 4000)
    assert torch.equal(random_probes(7, 5, generator=gen(32)), random_probes(7, 5, generator=gen(32)))
    assert random_probes(3, 4, "gaussian", dtype=torch.float32, generator=gen(33)).dtype == torch.float32
    with pytest.raises(ValueError, match="unknown probe distribution"):
        random_probes(3, 4, "uniform")


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_hutchinson_trace_converges(distribution):
    A, matvec = spd_operator(SPREAD, seed=34)
    n = 2000
    est, se = hutchinson_trace(matvec, 40, samples=n, batch=64, distribution=distribution, generator=gen(35))
    exact = float(torch.trace(A))
    assert abs(est - exact) <= 4 * se
    assert abs(est - exact) <= 0.05 * exact
    # the reported standard error is plausible: close to the exact sqrt(Var/n)
    expected_se = math.sqrt(exact_hutchinson_variance(A, distribution) / n)
    assert 0.8 * expected_se <= se <= 1.25 * expected_se


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_hutchinson_trace_on_pinn_gram(setup, distribution):
    residual, J = setup.residuals["pinn"], setup.J["pinn"]
    G = J.T @ J
    n = 2000
    est, se = hutchinson_trace(lambda V: gram_vector_product(residual, setup.theta, V), setup.P, samples=n,
                               batch=100, distribution=distribution, generator=gen(36))
    exact = float((J**2).sum())
    assert_close(torch.trace(G), exact)
    assert abs(est - exact) <= 4 * se
    # this Gram matrix is dominated by one eigenvalue, so the sample std has heavy tails: wider band
    expected_se = math.sqrt(exact_hutchinson_variance(G, distribution) / n)
    assert 0.7 * expected_se <= se <= 1.4 * expected_se


def test_hutchinson_trace_sample_count_and_exact_cases():
    A, matvec = spd_operator(SPREAD, seed=37)
    rows = []

    def counting(V):
        rows.append(V.shape[0])
        return matvec(V)

    hutchinson_trace(counting, 40, samples=1000, batch=64, generator=gen(38))
    assert sum(rows) == 1000 and max(rows) == 64 and rows[-1] == 1000 % 64
    rows.clear()
    hutchinson_diagonal(counting, 40, samples=130, batch=32, generator=gen(38))
    assert rows == [32, 32, 32, 32, 2]

    # Rademacher probes are exact on a diagonal operator: zero variance
    d = torch.linspace(-2.0, 3.0, 40, dtype=F64)
    est, se = hutchinson_trace(lambda V: V * d, 40, samples=50, generator=gen(39))
    assert abs(est - float(d.sum())) <= TOL and se <= TOL
    assert_close(hutchinson_diagonal(lambda V: V * d, 40, samples=50, generator=gen(39)), d)
    # a single sample has no standard error
    assert hutchinson_trace(matvec, 40, samples=1, generator=gen(40))[1] == math.inf


def test_hutchinson_is_reproducible_with_a_generator():
    _, matvec = spd_operator(SPREAD, seed=41)
    a = hutchinson_trace(matvec, 40, samples=100, generator=gen(42))
    b = hutchinson_trace(matvec, 40, samples=100, generator=gen(42))
    assert a == b
    assert torch.equal(hutchinson_diagonal(matvec, 40, samples=100, generator=gen(43)),
                       hutchinson_diagonal(matvec, 40, samples=100, generator=gen(43)))


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_hutchinson_diagonal_converges(distribution):
    A, matvec = spd_operator(SPREAD, seed=44)
    diag = torch.diagonal(A)
    off2 = (A**2).sum(1) - diag**2
    # per-sample variance of v_i (A v)_i: sum_{j != i} A_ij^2 (Rademacher), + 2 A_ii^2 (Gaussian)
    var = off2 if distribution == "rademacher" else off2 + 2 * diag**2

    errors = {}
    for n in (64, 4000):
        est = hutchinson_diagonal(matvec, 40, samples=n, batch=200, distribution=distribution, generator=gen(45))
        assert est.shape == (40,) and est.dtype == F64
        errors[n] = float((est - diag).norm())
        expected = math.sqrt(float(var.sum()) / n)  # sqrt(E||est - diag||^2)
        assert errors[n] <= 2 * expected
    assert errors[4000] <= 0.05 * float(diag.norm())
    assert errors[4000] < 0.4 * errors[64]  # expected ratio sqrt(64/4000) ~ 0.13


def test_hutchinson_diagonal_on_pinn_gram(setup):
    residual, J = setup.residuals["pinn"], setup.J["pinn"]
    G = J.T @ J
    n = 1000
    est = hutchinson_diagonal(lambda V: gram_vector_product(residual, setup.theta, V), setup.P, samples=n,
                              batch=100, generator=gen(46))
    var = (G**2).sum(1) - torch.diagonal(G) ** 2
    assert float((est - torch.diagonal(G)).norm()) <= 2 * math.sqrt(float(var.sum()) / n)


def test_hutchinson_unknown_distribution_raises():
    _, matvec = spd_operator(SPREAD, seed=47)
    with pytest.raises(ValueError, match="unknown probe distribution"):
        hutchinson_trace(matvec, 40, samples=10, distribution="uniform")
    with pytest.raises(ValueError, match="unknown probe distribution"):
        hutchinson_diagonal(matvec, 40, samples=10, distribution="sphere")


# --------------------------------------------------------------------------- 6. power iteration
def test_power_iteration_dense_spd():
    d = torch.cat([torch.tensor([20.0, 10.0], dtype=F64), torch.linspace(0.1, 5.0, 28, dtype=F64)])
    A, matvec = spd_operator(d, seed=50)
    value, vec = power_iteration(matvec, 30, iterations=200, generator=gen(51))
    top = float(torch.linalg.eigvalsh(A)[-1])
    assert isinstance(value, float)
    assert abs(value - top) <= 1e-6 * top
    assert vec.shape == (30,) and abs(float(vec.norm()) - 1) <= TOL
    assert float((A @ vec - value * vec).norm()) <= 1e-4 * top
    # with a tighter stopping tolerance and gap ratio 1/2 the Rayleigh quotient is far more accurate
    value, vec = power_iteration(matvec, 30, iterations=200, tol=1e-13, generator=gen(51))
    assert abs(value - top) <= 1e-9 * top
    assert float((A @ vec - value * vec).norm()) <= 1e-5 * top


def test_power_iteration_largest_magnitude_and_zero():
    d = torch.cat([torch.tensor([-12.0], dtype=F64), torch.linspace(-3.0, 4.0, 19, dtype=F64)])
    A, matvec = spd_operator(d, seed=52)  # symmetric, not definite: dominant eigenvalue is negative
    value, vec = power_iteration(matvec, 20, iterations=300, generator=gen(53))
    assert abs(value + 12.0) <= 1e-6 * 12.0
    assert float((A @ vec - value * vec).norm()) <= 1e-4 * 12.0
    value, vec = power_iteration(lambda V: torch.zeros_like(V), 20, generator=gen(54))
    assert value == 0.0 and torch.isfinite(vec).all()


def test_power_iteration_on_pinn_gram(setup):
    residual, J = setup.residuals["pinn"], setup.J["pinn"]
    top = float(torch.linalg.eigvalsh(J.T @ J)[-1])
    value, vec = power_iteration(lambda V: gram_vector_product(residual, setup.theta, V), setup.P,
                                 iterations=200, generator=gen(55))
    assert abs(value - top) <= 1e-6 * top
    assert float((J.T @ (J @ vec) - value * vec).norm()) <= 1e-4 * top


# --------------------------------------------------------------------------- 7. Lanczos
def tridiagonal(alpha, beta):
    return torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)


@pytest.mark.parametrize("steps", [10, 40])
def test_lanczos_relations(steps):
    d = torch.cat([torch.linspace(0.5, 3.0, 36, dtype=F64), torch.tensor([6.0, 8.0, 11.0, 15.0], dtype=F64)])
    A, matvec = spd_operator(d, seed=60)
    alpha, beta, Q = lanczos(matvec, 40, steps=steps, generator=gen(61))
    assert alpha.shape == (steps,) and beta.shape == (steps - 1,) and Q.shape == (steps, 40)
    assert torch.isfinite(alpha).all() and torch.isfinite(beta).all() and (beta > 0).all()
    assert_close(Q @ Q.T, torch.eye(steps, dtype=F64))
    assert_close(Q @ A @ Q.T, tridiagonal(alpha, beta), tol=1e-8)


def test_lanczos_start_vector_and_step_clipping():
    A, matvec = spd_operator(torch.linspace(1.0, 4.0, 10, dtype=F64), seed=62)
    start = torch.arange(1.0, 11.0, dtype=F64)
    keep = start.clone()
    alpha, beta, Q = lanczos(matvec, 10, steps=100, start=start)
    assert torch.equal(start, keep)
    assert alpha.shape == (10,) and Q.shape == (10, 10)  # steps clipped to dim
    assert_close(Q[0], start / start.norm())
    assert_close(alpha[0], start @ A @ start / (start @ start))
    assert_close(Q @ Q.T, torch.eye(10, dtype=F64))
    # with a full basis, T is similar to A
    assert_close(Q.T @ tridiagonal(alpha, beta) @ Q, A, tol=1e-8)


def test_lanczos_eigenvalues_exact_and_truncated():
    d = torch.cat([torch.linspace(0.5, 3.0, 36, dtype=F64), torch.tensor([6.0, 8.0, 11.0, 15.0], dtype=F64)])
    A, matvec = spd_operator(d, seed=63)
    ev = torch.linalg.eigvalsh(A)
    ritz = lanczos_eigenvalues(matvec, 40, steps=40, generator=gen(64))
    assert ritz.shape == (40,)
    assert (ritz[1:] >= ritz[:-1]).all()
    assert abs(float(ritz[-1] - ev[-1])) <= 1e-8 * float(ev[-1])
    assert abs(float(ritz[0] - ev[0])) <= 1e-8 * float(ev[-1])
    assert_close(ritz, ev, tol=1e-8)
    few = lanczos_eigenvalues(matvec, 40, steps=15, generator=gen(64))
    assert few.shape == (15,)
    assert abs(float(few[-1] - ev[-1])) <= 1e-6 * float(ev[-1])
    # Ritz values interlace: they lie inside the spectrum
    assert float(few[0]) >= float(ev[0]) - 1e-10 and float(few[-1]) <= float(ev[-1]) + 1e-10


def test_lanczos_early_termination_low_rank():
    B = randn(20, 3, seed=65)
    A = B @ B.T  # rank 3, dim 20
    nonzero = torch.linalg.eigvalsh(A)[-3:]
    alpha, beta, Q = lanczos(lambda V: V @ A, 20, steps=20, generator=gen(66))
    m = alpha.shape[0]
    assert m <= 4 and beta.shape == (m - 1,) and Q.shape == (m, 20)
    assert torch.isfinite(alpha).all() and torch.isfinite(beta).all() and torch.isfinite(Q).all()
    assert_close(Q @ Q.T, torch.eye(m, dtype=F64))
    ritz = lanczos_eigenvalues(lambda V: V @ A, 20, steps=20, generator=gen(66))
    assert ritz.shape == (m,) and torch.isfinite(ritz).all()
    assert_close(ritz[-3:], nonzero, tol=1e-9)

    # an operator with one distinct eigenvalue stops after one step
    alpha, beta, Q = lanczos(lambda V: 3.0 * V, 8, steps=8, generator=gen(67))
    assert alpha.shape == (1,) and beta.shape == (0,) and Q.shape == (1, 8)
    assert_close(alpha, torch.tensor([3.0], dtype=F64))
    assert_close(lanczos_eigenvalues(lambda V: 3.0 * V, 8, steps=8, generator=gen(67)),
                 torch.tensor([3.0], dtype=F64))


def test_lanczos_on_pinn_gram(setup):
    """Lanczos on the matrix-free Gram operator of the PINN residual: rank <= N, so it stops early."""
    residual, J = setup.residuals["pinn"], setup.J["pinn"]
    G = J.T @ J
    ev = torch.linalg.eigvalsh(G)
    matvec = lambda V: gram_vector_product(residual, setup.theta, V)  # noqa: E731
    alpha, beta, Q = lanczos(matvec, setup.P, steps=40, generator=gen(70))
    m = alpha.shape[0]
    assert m <= N_POINTS + 1
    assert torch.isfinite(alpha).all() and torch.isfinite(beta).all()
    assert_close(Q @ Q.T, torch.eye(m, dtype=F64))
    assert_close(Q @ G @ Q.T, tridiagonal(alpha, beta), tol=1e-8)
    ritz = torch.linalg.eigvalsh(tridiagonal(alpha, beta))
    assert abs(float(ritz[-1] - ev[-1])) <= 1e-8 * float(ev[-1])
    # the nonzero spectrum J^T J shares with the kernel matrix J J^T (all but the tiniest eigenvalues)
    ek = torch.linalg.eigvalsh(kernel_matrix(J))
    ek = ek[ek > 1e-6 * ek[-1]]
    assert 4 <= ek.numel() <= m
    assert_close(ritz[-ek.numel():], ek, tol=1e-9)
    few = lanczos_eigenvalues(matvec, setup.P, steps=6, generator=gen(71))
    assert abs(float(few[-1] - ev[-1])) <= 1e-6 * float(ev[-1])


# --------------------------------------------------------------------------- 8. spectral density
def trapezoid(y, x):
    return float(torch.trapezoid(y, x))


def test_spectral_density_two_clusters():
    low = 1.0 + 0.05 * torch.linspace(-1, 1, 30, dtype=F64)
    high = 5.0 + 0.05 * torch.linspace(-1, 1, 30, dtype=F64)
    A, matvec = spd_operator(torch.cat([low, high]), seed=80)
    grid = torch.linspace(-1.0, 7.0, 801, dtype=F64)
    rho = spectral_density(matvec, 60, grid, steps=30, vectors=16, generator=gen(81))
    assert rho.shape == grid.shape and rho.dtype == F64
    assert torch.isfinite(rho).all() and (rho >= 0).all()
    assert abs(trapezoid(rho, grid) - 1) <= 0.02
    # the weights of each start vector sum to 1 and the Gaussians sit well inside the fine grid,
    # where the trapezoid rule is spectrally accurate: the integral is 1 up to round-off
    assert abs(trapezoid(rho, grid) - 1) <= 1e-8
    # peaks at the clusters, nothing in the gap
    near_low, near_high = (grid - 1.0).abs() < 0.3, (grid - 5.0).abs() < 0.3
    gap = (grid - 3.0).abs() < 1.0
    assert abs(float(grid[near_low][rho[near_low].argmax()]) - 1.0) < 0.15
    assert abs(float(grid[near_high][rho[near_high].argmax()]) - 5.0) < 0.15
    assert float(rho[gap].max()) < 1e-6 * float(rho.max())
    assert grid[rho.argmax()].item() in set(grid[near_low | near_high].tolist())
    # each cluster holds half of the mass (random start vectors: +-0.15 is > 5 standard errors)
    left = grid <= 3.0
    assert abs(trapezoid(rho[left], grid[left]) - 0.5) <= 0.15
    # reproducible with a generator; an explicit sigma is honoured
    assert torch.equal(rho, spectral_density(matvec, 60, grid, steps=30, vectors=16, generator=gen(81)))
    wide = spectral_density(matvec, 60, grid, steps=30, vectors=4, sigma=0.5, generator=gen(82))
    assert abs(trapezoid(wide, grid) - 1) <= 0.02
    assert float(wide.max()) < float(rho.max())


def test_spectral_density_on_pinn_gram(setup):
    residual, J = setup.residuals["pinn"], setup.J["pinn"]
    top = float(torch.linalg.eigvalsh(J.T @ J)[-1])
    grid = torch.linspace(-0.1 * top, 1.1 * top, 601, dtype=F64)
    rho = spectral_density(lambda V: gram_vector_product(residual, setup.theta, V), setup.P, grid, steps=20,
                           vectors=4, generator=gen(83))
    assert torch.isfinite(rho).all() and (rho >= 0).all()
    assert abs(trapezoid(rho, grid) - 1) <= 0.02
    # rank <= N << P: almost all mass sits at zero
    assert abs(float(grid[rho.argmax()])) <= 0.05 * top
