"""Optimizers: convergence on convex problems, visible stop reasons, schedules."""

import copy

import pytest
import seeded
import torch

from physopt import LBFGS, OPTIMIZERS, Adam, ConfigurationError, StallRule, parse_schedule


def quadratic(seed=0, n=6):
    g = torch.Generator().manual_seed(seed)
    a = seeded.randn(n, n, generator=g, dtype=torch.float64)
    A = a @ a.T + n * torch.eye(n, dtype=torch.float64)
    b = seeded.randn(n, generator=g, dtype=torch.float64)
    x_star = torch.linalg.solve(A, b)
    return A, b, x_star


def make_closure(x, A, b):
    def closure():
        x.grad = None
        loss = 0.5 * x @ A @ x - b @ x
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("name, steps, tol", [("adam", 3000, 1e-6), ("lbfgs", 60, 1e-7)])
def test_optimizer_reaches_quadratic_optimum(name, steps, tol):
    A, b, x_star = quadratic()
    x = torch.zeros(len(b), dtype=torch.float64, requires_grad=True)
    opts = {"lr": 0.05, "lr_final": 1e-4, "steps": steps} if name == "adam" else {}
    opt = OPTIMIZERS[name]([x], **opts)
    closure = make_closure(x, A, b)
    for _ in range(steps):
        opt.step(closure)
        if opt.stop_reason:
            break
    assert torch.allclose(x.detach(), x_star, atol=tol, rtol=0)


def test_lbfgs_says_why_it_stopped():
    A, b, _ = quadratic(1)
    x = torch.zeros(len(b), dtype=torch.float64, requires_grad=True)
    opt = LBFGS([x])
    closure = make_closure(x, A, b)
    for _ in range(500):
        opt.step(closure)
        if opt.stop_reason:
            break
    assert opt.stop_reason is not None
    assert "lbfgs" in opt.stop_reason


def test_lbfgs_line_search_is_not_starved():
    """torch's default max_eval (= 1 for max_iter=1) makes every line search fail; ours must not."""
    A, b, x_star = quadratic(2, n=20)
    x = torch.zeros(len(b), dtype=torch.float64, requires_grad=True)
    opt = LBFGS([x])
    closure = make_closure(x, A, b)
    losses = [opt.step(closure) for _ in range(15)]
    assert losses[-1] < losses[1] - 1e-3


def test_adam_state_roundtrip():
    A, b, _ = quadratic()
    x1 = torch.zeros(len(b), dtype=torch.float64, requires_grad=True)
    opt1 = Adam([x1], lr=0.1, lr_final=0.01, steps=20)
    c1 = make_closure(x1, A, b)
    for _ in range(10):
        opt1.step(c1)
    x2 = x1.detach().clone().requires_grad_(True)
    opt2 = Adam([x2], lr=0.1, lr_final=0.01, steps=20)
    opt2.load_state_dict(copy.deepcopy(opt1.state_dict()))  # as from a checkpoint file
    c2 = make_closure(x2, A, b)
    for _ in range(10):
        opt1.step(c1)
        opt2.step(c2)
    assert torch.equal(x1, x2)


def test_parse_schedule():
    assert parse_schedule("adam", 10) == [("adam", 10)]
    assert parse_schedule("adam+lbfgs", 11) == [("adam", 6), ("lbfgs", 5)]
    assert parse_schedule("adam+lm", 2000) == [("adam", 500), ("lm", 1500)]
    assert parse_schedule("adam:20, lbfgs:5", 0) == [("adam", 20), ("lbfgs", 5)]
    with pytest.raises(ConfigurationError, match="unknown optimizer 'sgd'"):
        parse_schedule("sgd", 10)
    with pytest.raises(ConfigurationError, match="step count"):
        parse_schedule("adam:x", 10)
    with pytest.raises(ConfigurationError, match="steps"):
        parse_schedule("adam", -1)


def test_adam_rejects_bad_learning_rate():
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ConfigurationError, match="learning rate"):
        Adam([x], lr=0.0)


def test_stall_rule_stops_once_the_loss_falls_less_than_rtol_over_the_window():
    rule = StallRule(rtol=0.25, window=3)
    losses = [8.0, 4.0, 2.0, 1.0, 0.9, 0.8, 0.75]  # halves, then 1.0 -> 0.75 over the last 3 steps: exactly 25%
    reasons = [rule.update("lm", loss) for loss in losses]
    assert reasons[:-1] == [None] * 6
    assert reasons[-1].startswith("lm: loss fell by less than 25% over the last 3 steps (1.000e+00 -> 7.500e-01")


def test_stall_rule_judges_the_best_loss_and_restarts_per_phase():
    rule = StallRule(rtol=0.5, window=2)
    # a rejected step repeats or raises the loss: the best so far counts, so a spike neither stops nor hides a stall
    assert [rule.update("engd", x) for x in (1.0, 5.0, 0.4)] == [None, None, None]
    assert rule.update("engd", 0.3) is None  # best two steps ago 1.0 (the spike to 5.0 does not count), now 0.3
    assert rule.update("engd", 0.3) is not None  # best 0.4 -> 0.3 over two steps: 25% < 50%
    rule.restart()
    assert [rule.update("lm", x) for x in (1.0, 1.0)] == [None, None]  # a new phase needs a full window first
    assert StallRule(0.5, 0).update("lm", 1.0) is None  # window 0: never stops
    for rtol, window in ((1.0, 5), (-0.1, 5), (0.1, -1)):
        with pytest.raises(ConfigurationError, match="stall_"):
            StallRule(rtol, window)


def test_a_stalled_second_order_phase_ends_and_the_next_phase_runs(monkeypatch):
    from physopt import AbstractOptimizer
    from solvers import TrainingState, train

    class Creep(AbstractOptimizer):
        """Shrinks the parameter by 0.1% a step: progress, but too slow to be worth the steps."""

        name = "creep"
        second_order = True

        def step(self, closure):
            loss = float(closure().detach())
            with torch.no_grad():
                self.params[0].mul_(0.999)
            return loss

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    monkeypatch.setitem(OPTIMIZERS._classes, "creep", Creep)  # registered for this test only
    model = torch.nn.Linear(1, 1, bias=False).double()
    torch.nn.init.constant_(model.weight, 1.0)

    def loss_fn():
        loss = (model.weight**2).sum()
        return loss, {"w": loss}

    state = train(TrainingState(model, [("creep", 500), ("adam", 5)]), loss_fn, lambda name, n: {},
                  stall=StallRule(0.05, 20))
    # the loss falls 0.2% a step, 3.9% over 20 steps < 5%: the phase ends after its first full window
    assert state.notes == [state.notes[0]] and state.notes[0].startswith("creep: loss fell by less than 5% over the last 20 steps")
    assert state.step == 21 + 5  # then adam (first-order: never stopped by the rule) runs its 5 steps
    assert state.stop_reason.endswith("finished the schedule after 26 steps")
