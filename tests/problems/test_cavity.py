"""The lid-driven cavity: its finite-difference reference, Ghia et al.'s table, velocity-only conditions, vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import problems
import solvers
from physopt import ProblemDefinitionError
from problems import Box, Problem
from problems._library.cavity import GHIA_RE100, LidDrivenCavity, cavity_finite_differences

MID = 0.5


def centrelines(u, v, x):
    """u on x = ½ and v on y = ½ of grids indexed [y, x] with an odd number of nodes."""
    k = len(x) // 2
    return u[:, k], v[k, :]


def test_finite_differences_converge_at_second_order():
    changes = []
    previous = None
    for cells in (16, 32, 64):
        x, u, v, *_ = cavity_finite_differences(cells, 100.0)
        cu, cv = centrelines(u, v, x)
        step = cells // 16
        sample = np.concatenate([cu[::step], cv[::step]])  # the 17 common nodes of each line
        if previous is not None:
            changes.append(np.abs(sample - previous).max())
        previous = sample
    assert 3.0 < changes[0] / changes[1] < 5.5  # halving h divides the change by about 4


def test_the_shipped_reference_matches_ghia_and_fresh_finite_differences():
    problem = LidDrivenCavity()
    g = GHIA_RE100
    on_x = torch.tensor(np.column_stack([np.full_like(g["y"], MID), g["y"]]))
    on_y = torch.tensor(np.column_stack([g["x"], np.full_like(g["x"], MID)]))
    u, v = problem.solution_at(on_x)[:, 0].numpy(), problem.solution_at(on_y)[:, 1].numpy()
    assert np.abs(u - g["u"]).max() < 6e-3 and np.abs(v - g["v"]).max() < 1e-2  # measured 5.0e-3, 9.2e-3
    x, fu, fv, *_ = cavity_finite_differences(64, 100.0)
    cu, cv = centrelines(fu, fv, x)
    nodes = torch.tensor(np.column_stack([np.full_like(x, MID), x]))
    assert np.abs(problem.solution_at(nodes)[:, 0].numpy() - cu).max() < 5e-3  # 64 cells: h² off (measured 3.4e-3)
    assert torch.isnan(problem.solution_at(nodes)[:, 2]).all()  # no pressure reference


def test_an_unknown_without_reference_is_left_out_of_the_errors():
    reference = torch.tensor([[1.0, 2.0, float("nan")], [3.0, 4.0, float("nan")]], dtype=torch.float64)
    predicted = reference.nan_to_num(7.0) + torch.tensor([0.1, 0.0, 100.0], dtype=torch.float64)
    errors = solvers.relative_errors(predicted, reference, ("u", "v", "p"))
    assert "rel_l2_p" not in errors and errors["max_abs_u"] == pytest.approx(0.1) and errors["max_abs"] == pytest.approx(0.1)


def test_the_wall_conditions_prescribe_the_velocity_and_leave_the_pressure_free():
    problem = LidDrivenCavity()
    problem.validate()
    wall, gauge = problem.conditions
    field = lambda y: torch.stack([y[0] * 0 + 0.3, y[0] * 0, y[0] * 0 + 9.0])  # noqa: E731
    lid, floor = torch.tensor([0.5, 1.0], dtype=torch.float64), torch.tensor([0.5, 0.0], dtype=torch.float64)
    assert wall.residual(field, lid).tolist() == pytest.approx([0.3 - 1.0, 0.0])  # u = 1 on the lid; p unseen
    assert wall.residual(field, floor).tolist() == pytest.approx([0.3, 0.0])
    assert gauge.components == ("p",)
    assert solvers.PINN(problem, dtype="float64", hidden="8", points=32, boundary_points=8).hard is None  # penalties


def test_vectors_name_one_unknown_per_coordinate():
    class Wrong(Problem):
        domain = Box([0.0, 0.0], [1.0, 1.0])
        unknowns = ("u", "v", "p")
        vectors = {"velocity": ("u",)}

        def residual(self, w, x):
            return w(x)

    with pytest.raises(ProblemDefinitionError, match=r"vectors\['velocity'\] must be 2 of the unknowns"):
        Wrong().validate()


def test_a_short_cavity_solve_turns_the_primary_vortex():
    """A small network, 120 steps: the return flow under the lid (u < 0 at the centre, measured -0.16 against
    the reference's -0.21), v changing sign across the centreline, and Ghia's centrelines within 0.1 (measured
    4.9e-2 for u, 6.2e-2 for v; the full default solve reaches 2e-2, test_the_pinn_meets_ghia_within_2e_2)."""
    problem = problems.resolve_problem("lid_driven_cavity")()
    solution = solvers.PINN(problem, dtype="float64", hidden="24,24", points=400, boundary_points=100, steps=120).solve()
    centre = solution(torch.tensor([[MID, MID]], dtype=torch.float64))[0]
    left, right = solution(torch.tensor([[0.2, MID], [0.8, MID]], dtype=torch.float64))[:, 1]
    assert float(centre[0]) < -0.1 and float(left) > 0 > float(right)
    assert max(problem.centreline_errors(solution).values()) < 0.1
    assert set(solution.errors()) >= {"rel_l2_u", "rel_l2_v"} and "rel_l2_p" not in solution.errors()


@pytest.mark.slow
def test_the_pinn_meets_ghia_within_2e_2():
    """Adam 250 steps, then LM until stalled (571 steps): measured max |Δu| 7.9e-3, |Δv| 4.4e-3 on the centrelines."""
    problem = LidDrivenCavity()
    solution = solvers.PINN(problem, dtype="float64", steps=1000, error_every=0).solve()
    found = problem.centreline_errors(solution)
    assert found["ghia_u_max_abs"] <= 2e-2 and found["ghia_v_max_abs"] <= 2e-2


def test_a_cavity_run_directory_holds_the_velocity_and_a_panel_per_field(tmp_path, monkeypatch, capsys):
    import json

    from physopt.cli import main
    from physopt.viz import pyvista_installed

    monkeypatch.chdir(tmp_path)
    argv = ["solve", "lid_driven_cavity", "--steps", "4", "--points", "64", "--boundary-points", "16", "--width", "8",
            "--depth", "1", "--no-progress", "--out", "run"]
    assert main(argv) == 0
    manifest = json.loads((tmp_path / "run" / "fields.json").read_text())
    assert manifest["primary"] == "velocity" and manifest["components"] == ["velocity", "u", "v", "p"]
    assert {"velocity", "u_reference", "error_v"} <= set(manifest["fields"]) and "p_reference" not in manifest["fields"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {"rel_l2_u", "rel_l2_v"} <= set(summary["errors"]) and "rel_l2_p" not in summary["errors"]
    if pyvista_installed():
        assert {"solution.png", "components.png", "error.png"} <= set(summary["pictures"])
