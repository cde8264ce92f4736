"""physopt.curvature's estimators: Hutchinson trace and diagonal, power iteration, Lanczos, spectral density.

Everything runs in float64. Deterministic quantities (the Lanczos relations,
exact cases) are compared with explicit matrices to 1e-10; the stochastic
estimators (Hutchinson trace and diagonal, stochastic Lanczos quadrature) use
fixed ``torch.Generator`` seeds and tolerances several standard errors wide,
derived from the estimator's exact variance where one is known. The PINN cases
use the Gram matrix of the PINN-like residual of ``curvature_setup.Setup`` (the
``setup`` fixture of ``tests/physopt/conftest.py``).
"""

from __future__ import annotations

import math

import pytest
import torch

from physopt.curvature import (
    gram_vector_product,
    hutchinson_diagonal,
    hutchinson_trace,
    kernel_matrix,
    lanczos,
    lanczos_eigenvalues,
    power_iteration,
    random_probes,
    spectral_density,
)

from curvature_setup import F64, N_POINTS, TOL, assert_close, randn


def gen(seed: int) -> torch.Generator:
    """A seeded generator on the default device, where the estimators draw their probes (``--device``)."""
    return torch.Generator(device=torch.get_default_device()).manual_seed(seed)


def spd_operator(eigenvalues, seed: int):
    """``A = Q diag(d) Q^T`` with a random orthogonal ``Q``; returns ``(A, matvec)``."""
    d = torch.as_tensor(eigenvalues, dtype=F64, device=torch.get_default_device())  # SPREAD is made on the CPU at import
    n = d.numel()
    Q, _ = torch.linalg.qr(randn(n, n, seed=seed))
    A = (Q * d) @ Q.T
    A = 0.5 * (A + A.T)
    return A, lambda V: V @ A  # A symmetric: rows of V @ A are A v


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
