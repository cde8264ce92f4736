"""Every registered solver keeps the solver contract (solvers/_base.py).

Parametrized over the registry, so a new solver is checked without an edit
here: a tiny solve reports what the command line and studies read, a run
interrupted and resumed from its checkpoint ends where an uninterrupted run
ends, and bad options are one-line errors.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from cases import StopAt, tiny_solver
from physopt import ConfigurationError
from solvers import (INFO_KEYS, AbstractSolution, AbstractSolver, Metric, load_checkpoint, registered_solvers,
                     resolve_solver)
from solvers._solution import SOLUTION_KINDS

# every registered solver, and the third-party solver of examples/ loaded from its file as a user would
EXAMPLE_SOLVER = Path(__file__).resolve().parents[2] / "examples" / "random_features_solver.py"
SOLVERS = sorted(registered_solvers().items()) + [("random_features (examples/)", resolve_solver(f"{EXAMPLE_SOLVER}:RandomFeatures"))]


@pytest.fixture(params=[cls for _, cls in SOLVERS], ids=[name for name, _ in SOLVERS])
def solver_cls(request):
    return request.param


def test_solvers_subclass_the_contract_and_declare_a_tiny_run(solver_cls):
    assert issubclass(solver_cls, AbstractSolver)
    assert solver_cls.summary()
    assert dataclasses.is_dataclass(solver_cls.Options)
    assert solver_cls.tiny_options, f"{solver_cls.__name__} declares no tiny_options for the conformance tests"


def test_a_tiny_solve_reports_what_the_command_line_reads(solver_cls):
    solver = tiny_solver(solver_cls)
    solution = solver.solve([])
    assert isinstance(solution, AbstractSolution) and solution.kind in SOLUTION_KINDS
    assert set(INFO_KEYS) <= set(solution.info), set(INFO_KEYS) - set(solution.info)
    assert isinstance(solution.info["stop_reason"], str) and solution.info["stop_reason"]
    errors = solution.errors()
    assert errors is not None and math.isfinite(errors["rel_l2"])
    for metric in solution.metrics():
        assert isinstance(metric, Metric) and metric.kind in ("error", "info") and metric.description
    assert isinstance(solver.enforcement(), list)
    if solution.kind == "operator":  # a problem family: input functions in, solutions out
        values = solution(solution.data.test_inputs[:3])
        assert values.shape == (3, *solver.problem.output_shape(solution.data.resolution)) and torch.isfinite(values).all()
        return
    points = solver.problem.error_points()[:7]
    values = solution(points)
    assert values.shape == (7, solver.problem.n_unknowns) and torch.isfinite(values).all()
    entries = solver.enforcement()
    assert len(entries) == len(solver.problem.conditions)
    assert all(set(e) == {"condition", "enforced", "term"} for e in entries)


def test_a_resumed_run_ends_where_an_uninterrupted_one_ends(solver_cls, tmp_path):
    straight = tiny_solver(solver_cls).solve([])
    pause = max(1, straight.info["steps"] // 2)
    path = tmp_path / "checkpoint.pt"
    tiny_solver(solver_cls).solve([StopAt(pause)], checkpoint_path=path)
    checkpoint = load_checkpoint(path)
    resumed = tiny_solver(solver_cls).solve(checkpoint=checkpoint)
    assert resumed.info["steps"] == straight.info["steps"]
    points = straight.data.test_inputs if straight.kind == "operator" else straight.problem.error_points()
    a, b = straight(points), resumed(points)
    assert torch.allclose(a, b, rtol=0, atol=1e-10 * float(a.abs().max())), float((a - b).abs().max())


def test_bad_options_are_one_line_errors_naming_the_option(solver_cls):
    options = solver_cls.Options
    with pytest.raises(ConfigurationError) as info:
        options.from_strings({"no_such_option": "1"})
    assert "no_such_option" in str(info.value) and "\n" not in str(info.value)
    for name, kind in options.field_types().items():
        if kind in (int, float, bool):
            with pytest.raises(ConfigurationError) as info:
                options.from_strings({name: "not-a-value"})
            assert name in str(info.value) and "\n" not in str(info.value)


def test_every_option_has_help_text(solver_cls):
    missing = [name for name, text in solver_cls.Options.help_texts().items() if not text.strip()]
    assert not missing, f"{solver_cls.__name__}.Options: fields without help text (declare them with option()): {missing}"
