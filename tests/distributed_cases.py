"""Data-parallel runs of every optimizer and solver that shards, for tests/test_distributed.py.

``python -m torch.distributed.run --standalone --nproc-per-node 2 tests/distributed_cases.py OUT [CASE ...]`` trains
each case (default: all) on every rank (gloo, float64) and rank 0 saves the final flat parameters of each to ``OUT``;
:func:`run_case` in one process gives what they must equal. It also checks that a desync is caught.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: its folder, tests/, would shadow the packages solvers/ and problems/
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import torch  # noqa: E402

import problems  # noqa: E402
import solvers  # noqa: E402
from physopt import distributed  # noqa: E402

PINN = {"points": 256, "boundary_points": 64, "bc": "soft", "width": 12, "depth": 2, "dtype": "float64",
        "steps": 20, "device": "cpu", "error_every": 0}
OPERATOR = {"train": 20, "test": 5, "resolution": 16, "batch_size": 10, "epochs": 1, "dtype": "float64", "device": "cpu",
            "latent": 8, "branch_width": 8, "trunk_width": 8}
FNO = {"train": 20, "test": 5, "resolution": 16, "batch_size": 10, "epochs": 1, "dtype": "float64", "device": "cpu",
       "modes": 4, "width": 8, "layers": 2, "projection": 8}

#: name -> (solver, problem, options)
CASES = {
    "lm": ("pinn", "heat1d", {**PINN, "optimizer": "lm", "engd_solver": "gram"}),
    "lm_cg": ("pinn", "heat1d", {**PINN, "optimizer": "lm", "engd_solver": "cg", "steps": 4}),
    "engd": ("pinn", "heat1d", {**PINN, "optimizer": "engd", "engd_solver": "gram", "damping": 1e-4, "steps": 5}),
    "kfac": ("pinn", "heat1d", {**PINN, "optimizer": "kfac", "steps": 5}),
    "lbfgs": ("pinn", "heat1d", {**PINN, "optimizer": "lbfgs", "steps": 5}),
    "adam_resampled": ("pinn", "poisson2d", {**PINN, "optimizer": "adam", "resample_every": 3, "bc": "auto", "steps": 6}),
    "deeponet_mse": ("deeponet", "antiderivative", {**OPERATOR, "loss": "mse"}),
    "fno": ("fno", "antiderivative", FNO),
}


def run_case(name: str) -> torch.Tensor:
    """Train case ``name`` (on the ranks of this process, if any); its final parameters, flat."""
    solver_name, problem_name, options = CASES[name]
    cls = solvers.resolve_solver(solver_name)
    problem = problems.resolve_problem(problem_name)()
    solver = cls(problem, cls.Options(**options))
    solver.solve()
    return torch.cat([p.detach().reshape(-1) for p in solver.model.parameters()]).cpu()


def desync_is_caught(ranks: distributed.Ranks) -> bool:
    """A parameter that differs on one rank must fail the end-of-run check on every rank."""
    vector = torch.zeros(4, dtype=torch.float64)
    if ranks.rank == 1:
        vector[2] = 1e-300
    try:
        ranks.check_in_sync(vector)
    except RuntimeError:
        return True
    return False


def main(out: str, names: list[str]) -> None:
    ranks = distributed.initialize("cpu")
    assert ranks.world_size == 2, ranks
    results = {name: run_case(name) for name in names or CASES}
    results["desync_caught"] = desync_is_caught(ranks)
    results["world_size"] = ranks.world_size
    if ranks.is_main:
        torch.save(results, out)
    distributed.exit_rank(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
