"""Every registered optimizer keeps the AbstractOptimizer contract (a new one is covered by registering it).

On a tiny least-squares fit (a 1-4-1 tanh MLP through eight points, float64) built the way a solver
builds optimizers (:meth:`AbstractOptimizer.from_options`): steps make progress, a state_dict
round trip resumes exactly where the optimizer was, ``stop_reason`` is ``None`` or a sentence, and
bad construction arguments are one-line :class:`ConfigurationError`\\ s naming the optimizer.
"""

import copy
import inspect
import math

import pytest
import torch

from physopt import OPTIMIZERS, ConfigurationError
from physopt.curvature import FlatParameters, KroneckerBlock
from physopt.optim import LeastSquaresObjective
from seeded import randn

NAMES = sorted(OPTIMIZERS)
OPTIONS = {"lr": 1e-2, "lr_final": 1e-3, "damping": 0.0, "kfac_damping": 1e-3, "engd_solver": "auto", "engd_rcond": 1e-8}
STEPS = 20


class Fit:
    """r(θ) = (u_θ(x_n) - y_n) / √N for a 1-4-1 tanh MLP; groups and K-FAC factors as a PINN would provide them."""

    def __init__(self, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.model = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
        with torch.no_grad():
            for p in self.model.parameters():
                p.copy_(0.7 * randn(*p.shape, generator=gen, dtype=torch.float64))
        self.x = torch.linspace(-1, 1, 8, dtype=torch.float64)[:, None]
        self.y = torch.sin(2 * self.x[:, 0])
        self.flat = FlatParameters(self.model)

    def residual(self, theta):
        return (self.flat.call(theta, self.x)[:, 0] - self.y) / math.sqrt(len(self.y))

    def kronecker(self, theta):
        """Per layer (Σ_n g gᵀ) ⊗ (mean of ã ãᵀ): ã the layer input with a 1 appended, g the residual's output gradient."""
        p = self.flat.unflatten(theta.detach())
        n = len(self.y)
        ones = torch.ones(n, 1, dtype=theta.dtype)
        a0 = torch.cat([self.x, ones], 1)
        h = torch.tanh(self.x @ p["0.weight"].T + p["0.bias"])
        a1 = torch.cat([h, ones], 1)
        g1 = (p["2.weight"] * (1 - h**2)) / math.sqrt(n)
        g2 = ones / math.sqrt(n)
        return [KroneckerBlock(w, b, [(a.T @ a / n, g.T @ g)])
                for w, b, a, g in (("0.weight", "0.bias", a0, g1), ("2.weight", "2.bias", a1, g2))]

    def least_squares(self, groups=True, kronecker=True):
        return LeastSquaresObjective(
            self.flat, self.residual,
            groups=(lambda th: dict(zip("ab", self.residual(th).split(4)))) if groups else None,
            kronecker_fn=self.kronecker if kronecker else None,
        )

    def loss(self):
        r = (self.model(self.x)[:, 0] - self.y) / math.sqrt(len(self.y))
        return r @ r

    def optimizer(self, name, options=OPTIONS):
        return OPTIMIZERS[name].from_options(self.model.parameters(), self, options, STEPS)

    def closure(self, opt):
        def closure():
            for p in self.model.parameters():
                p.grad = None
            if opt.closure_needs_gradient:
                loss = self.loss()
                loss.backward()
                return loss
            with torch.no_grad():
                return self.loss()

        return closure

    def theta(self):
        return torch.cat([p.detach().reshape(-1) for p in self.model.parameters()])


@pytest.mark.parametrize("name", NAMES)
def test_steps_make_progress(name):
    fit = Fit()
    opt = fit.optimizer(name)
    closure = fit.closure(opt)
    losses = [float(fit.loss().detach())]
    for _ in range(5):
        reported = opt.step(closure)
        assert math.isclose(reported, losses[-1], rel_tol=1e-12)  # step returns the loss before it
        losses.append(float(fit.loss().detach()))
    if opt.second_order:  # accepted steps only: the loss never rises
        assert all(b <= a * (1 + 1e-12) for a, b in zip(losses, losses[1:])), losses
        assert losses[-1] < losses[0], losses
    else:
        assert losses[-1] < losses[0], losses
    assert opt.stop_reason is None or (isinstance(opt.stop_reason, str) and opt.stop_reason.strip())


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_resumes_the_same_step(name):
    fit = Fit()
    opt = fit.optimizer(name)
    closure = fit.closure(opt)
    for _ in range(3):
        opt.step(closure)
    state = copy.deepcopy(opt.state_dict())
    resumed_fit = Fit()
    with torch.no_grad():
        for p, q in zip(resumed_fit.model.parameters(), fit.model.parameters()):
            p.copy_(q)
    loss = opt.step(closure)
    resumed = resumed_fit.optimizer(name)
    resumed.load_state_dict(state)
    resumed_loss = resumed.step(resumed_fit.closure(resumed))
    assert math.isclose(resumed_loss, loss, rel_tol=1e-12)
    assert torch.allclose(resumed_fit.theta(), fit.theta(), rtol=1e-10, atol=1e-13)


def _positive_numeric_parameters(cls):
    for param in inspect.signature(cls.__init__).parameters.values():
        default = param.default
        if isinstance(default, (int, float)) and not isinstance(default, bool) and default > 0:
            yield param.name


@pytest.mark.parametrize("name", NAMES)
def test_bad_arguments_are_one_line_configuration_errors(name):
    cls, fit = OPTIMIZERS[name], Fit()
    objective = {} if cls.needs == "closure" else {"objective": fit.least_squares()}
    checked = []
    for param in _positive_numeric_parameters(cls):
        with pytest.raises(ConfigurationError) as err:
            cls(fit.model.parameters(), **objective, **{param: -1})
        assert name in str(err.value) or param in str(err.value)
        checked.append(param)
    for arg, option in cls.solver_options.items():
        if option == "steps":
            continue
        bad = "nope" if isinstance(OPTIONS.get(option), str) else -1.0
        with pytest.raises(ConfigurationError):
            fit.optimizer(name, {**OPTIONS, option: bad})
        checked.append(option)
    if cls.needs != "closure":
        with pytest.raises(ConfigurationError, match=name) as err:
            cls(fit.model.parameters())
        assert "\n" not in str(err.value)
        with pytest.raises(ConfigurationError, match=name):
            cls.from_options(fit.model.parameters(), object(), OPTIONS, STEPS)  # a solver without least_squares()
        checked.append("objective")
    assert checked, f"{name}: nothing to check; declare solver_options or validate a positive parameter"


@pytest.mark.parametrize("name", [n for n in NAMES if OPTIMIZERS[n].needs in ("groups", "kronecker")])
def test_an_objective_without_what_the_optimizer_needs_is_named(name):
    cls, fit = OPTIMIZERS[name], Fit()
    lacking = fit.least_squares(groups=cls.needs != "groups", kronecker=cls.needs != "kronecker")
    with pytest.raises(ConfigurationError, match=name) as err:
        cls(fit.model.parameters(), lacking)
    assert "\n" not in str(err.value) and ("groups" if cls.needs == "groups" else "Kronecker") in str(err.value)


def test_every_optimizer_declares_its_needs_and_its_options():
    from physopt import AbstractOptimizer
    from physopt._optimizers import NEEDS

    for name, cls in OPTIMIZERS.items():
        assert issubclass(cls, AbstractOptimizer) and cls.name == name
        assert cls.needs in NEEDS, f"{name}: needs={cls.needs!r}"
        params = inspect.signature(cls.__init__).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        assert takes_any or set(cls.solver_options) <= set(params), f"{name}: solver_options name unknown arguments"
        assert set(cls.solver_defaults) <= set(cls.solver_options)
        others = [other for other in OPTIMIZERS.values() if other is not cls and issubclass(cls, other)]
        assert not others, f"{name} subclasses the concrete {others}: share an abstract base instead"
