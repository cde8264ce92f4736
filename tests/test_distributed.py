"""Data-parallel runs (docs/distributed.md): 2 ranks on gloo give one process's parameters; files, resume, failures.

The multi-process tests start real processes (``physopt solve --nproc 2``, ``torchrun``) on the
CPU with gloo in float64 and compare with one process in this one; each is bounded by a timeout,
so a hang fails instead of blocking the suite. The in-process tests check the pieces: the
environment a launcher sets, the shards, the refusals.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import problems
import solvers
from physopt import ConfigurationError, distributed
from physopt.cli import main
from physopt.distributed import Ranks, environment, shard_bounds

from cli_helpers import PROBLEMS_DIR, cli, error_line, read_jsonl

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240  # seconds for any multi-process run: a hang fails the test
INTERRUPTIBLE = PROBLEMS_DIR / "interrupted_on_rank_zero.py"
ADAM = ["--steps", "20", "--optimizer", "adam", "--points", "64", "--boundary-points", "16", "--bc", "soft",
        "--dtype", "float64", "--width", "12", "--depth", "2", "--checkpoint-every", "4", "--no-render", "--no-progress"]


def physopt(*argv, env=None, cwd=None) -> subprocess.CompletedProcess:
    """``python -m physopt ARGV`` in a new process (the launcher and its ranks are real processes)."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "physopt", *map(str, argv)], capture_output=True, text=True,
                          timeout=TIMEOUT, env=environment, cwd=cwd or ROOT)


def final_parameters(path: Path) -> torch.Tensor:
    state = torch.load(path, weights_only=True)
    state = state.get("model", state)
    return torch.cat([v.reshape(-1) for v in state.values()])


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


# ----- the pieces, in this process ---------------------------------------------------------------


def test_one_process_reductions_are_the_identity():
    ranks = distributed.current()
    assert ranks is distributed.SINGLE and not ranks.active and ranks.is_main
    x = torch.arange(3.0)
    assert ranks.sum(x) is x and ranks.any(True) and not ranks.any(False)
    assert ranks.gather("a") == ["a"] and ranks.from_main("b") == "b"
    assert ranks.shard(10) == slice(0, 10)


def test_shards_cover_the_rows_once():
    for n in (7, 64, 1000):
        for world in (1, 2, 3, 8):
            bounds = [shard_bounds(n, r, world) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [b - a for a, b in bounds]
            assert max(sizes) - min(sizes) <= 1


def test_environment_of_torchrun_and_srun():
    assert environment({}) is None
    torchrun = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node7", "MASTER_PORT": "1234"}
    assert environment(torchrun) == {"rank": 1, "world_size": 4, "local_rank": 1, "master_addr": "node7",
                                     "master_port": "1234"}
    srun = {"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "4242",
            "SLURM_LAUNCH_NODE_IPADDR": "10.0.0.3", "SLURM_NTASKS": "8"}
    assert environment(srun) == {"rank": 5, "world_size": 8, "local_rank": 1, "master_addr": "10.0.0.3",
                                 "master_port": str(29500 + 4242 % 1000)}
    assert environment({**srun, "MASTER_ADDR": "head"})["master_addr"] == "head"
    # the batch script itself (no srun step of several tasks) is one process
    assert environment({"SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_JOB_ID": "1"}) is None
    assert environment({**srun, "SLURM_STEP_NUM_TASKS": "1"}) is None


@pytest.mark.parametrize("problem_name", ["poisson2d", "heat1d"])
def test_every_rank_trains_on_its_shard_of_the_same_points(monkeypatch, problem_name):
    """The union of the ranks' points is the one process's set, in order, for every term."""
    options = dict(points=50, boundary_points=13, bc="soft", dtype="float64", sampling="uniform")
    one = solvers.PINN(problems.resolve_problem(problem_name)(), **options)
    shards = []
    for rank in range(3):
        monkeypatch.setattr(solvers._base, "current", lambda rank=rank: Ranks(rank, 3))
        shards.append(solvers.PINN(problems.resolve_problem(problem_name)(), **options).batch)
    assert torch.equal(torch.cat([b.interior for b in shards]), one.batch.interior)
    assert all(b.interior_count == 50 for b in shards)
    for i, entry in enumerate(one.batch.conditions):
        for key, value in entry.items():
            if key != "condition":
                assert torch.equal(torch.cat([b.conditions[i][key] for b in shards]), value), key
        assert all(b.condition_counts[i] == one.batch.condition_counts[i] for b in shards)
    # the scales use all ranks' counts: the ranks' losses add up to the one process's
    full = float(one.loss()[0].detach())
    parts = []
    for batch in shards:
        one.batch = batch
        parts.append(float(one.loss()[0].detach()))
    assert sum(parts) == pytest.approx(full, rel=1e-12)


def test_what_cannot_run_on_several_processes_says_so(monkeypatch):
    monkeypatch.setattr(solvers._base, "current", lambda: Ranks(0, 2))
    with pytest.raises(ConfigurationError, match="teng runs in one process only: each time step"):
        solvers.resolve_solver("teng")(problems.resolve_problem("heat2d")())
    with pytest.raises(ConfigurationError, match="optimizer multiadam does not run on several processes.*use one of"):
        solvers.PINN(problems.resolve_problem("poisson2d")(), optimizer="multiadam")
    with pytest.raises(ConfigurationError, match="points: 1 points cannot be split over 2 processes; use at least 2"):
        solvers.PINN(problems.resolve_problem("poisson2d")(), points=1)
    from physopt.optim import LevenbergMarquardt

    solver = solvers.PINN(problems.resolve_problem("poisson2d")(), points=16, boundary_points=8, optimizer="lm")
    objective = solver.least_squares()
    for name in ("woodbury", "svd"):
        with pytest.raises(ConfigurationError, match=f"the {name} solver needs every residual row in one process"):
            LevenbergMarquardt(solver.model.parameters(), objective, solver=name)._choose(10, 5)
    assert LevenbergMarquardt(solver.model.parameters(), objective)._choose(10, 5) == "gram"
    assert LevenbergMarquardt(solver.model.parameters(), objective)._choose(10, 9000) == "cg"


def test_nproc_of_a_single_process_solver_is_refused_before_launching(capsys, tmp_path):
    code, _, err = cli(capsys, "solve", "heat2d", "--solver", "teng", "--nproc", "2", "--out", tmp_path / "run")
    assert code == 2 and "--nproc 2: solver teng runs in one process only: each time step" in error_line(err)
    assert not (tmp_path / "run").exists()


# ----- real ranks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cases", [
    ("lm", "kfac", "deeponet_mse"),  # LM for 20 steps, the K-FAC factors, sharded minibatches
    pytest.param((), marks=pytest.mark.slow),  # every case: also LM with cg, ENGD, L-BFGS, resampling, FNO
])
def test_every_optimizer_and_sharded_solver_takes_one_process_steps(tmp_path, cases):
    """Under torchrun, 2 ranks: LM (gram and cg), ENGD, K-FAC, L-BFGS, Adam with resampling, DeepONet and FNO end
    where one process ends, to 1e-10 relative; a rank whose parameters differ fails the end-of-run check."""
    sys.path.insert(0, str(Path(__file__).parent))
    import distributed_cases

    out = tmp_path / "ranks.pt"
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(Path(distributed_cases.__file__)), str(out), *cases], capture_output=True, text=True,
                         timeout=TIMEOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = torch.load(out, weights_only=True)
    assert ranks["world_size"] == 2 and ranks["desync_caught"]
    for name in cases or distributed_cases.CASES:
        assert relative_difference(ranks[name], distributed_cases.run_case(name)) <= 1e-10, name


def test_two_ranks_equal_one_process_and_resume_where_interrupted(tmp_path):
    """Adam on 2 ranks = one process (1e-10); Ctrl-C on rank 0 leaves a checkpoint of a whole step, the resumed
    2-rank run ends where the uninterrupted one does; rank 0 alone writes the run directory."""
    uninterrupted = tmp_path / "uninterrupted"
    run = physopt("solve", INTERRUPTIBLE, *ADAM, "--nproc", "2", "--device", "cpu", "--out", uninterrupted)
    assert run.returncode == 0, run.stderr
    assert "× 2 processes" in run.stdout and run.stderr.strip() == ""
    flags = dict(zip([a.lstrip("-").replace("-", "_") for a in ADAM[:-2:2]], ADAM[1:-2:2]))
    solver = solvers.PINN(problems.resolve_problem(str(INTERRUPTIBLE))(), solvers.PINN.Options.from_strings(flags))
    solver.solve()
    one = torch.cat([p.detach().reshape(-1) for p in solver.model.parameters()]).cpu()
    assert relative_difference(final_parameters(uninterrupted / "model.pt"), one) <= 1e-10
    metrics = read_jsonl(uninterrupted / "metrics.jsonl")
    assert [r["step"] for r in metrics if "loss" in r] == list(range(1, 21))  # one writer: no step twice
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uninterrupted"]

    out = tmp_path / "interrupted"
    run = physopt("solve", INTERRUPTIBLE, *ADAM, "--nproc", "2", "--device", "cpu", "--out", out,
                  env={"INTERRUPT_AT": "14"})
    assert run.returncode == 130, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("physopt: interrupted; the checkpoint in") and "--nproc 2" in lines[0]
    step = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    assert 0 < step < 20 and not (out / "summary.json").exists()
    elsewhere = tmp_path / "resumed-in-one-process"
    shutil.copytree(out, elsewhere)
    run = physopt("solve", INTERRUPTIBLE, "--resume", "--out", out, "--nproc", "2", "--no-progress", "--no-render")
    assert run.returncode == 0, run.stderr
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl") if "loss" in r] == list(range(1, 21))
    expected = final_parameters(uninterrupted / "model.pt")
    assert relative_difference(final_parameters(out / "model.pt"), expected) <= 1e-10
    # another number of processes reshards the same points: one process continues the 2-rank run just as well
    assert main(["solve", str(INTERRUPTIBLE), "--resume", "--out", str(elsewhere), "--no-progress", "--no-render"]) == 0
    assert relative_difference(final_parameters(elsewhere / "model.pt"), expected) <= 1e-10


def test_a_failing_rank_ends_the_run_with_one_line(tmp_path):
    run = physopt("solve", PROBLEMS_DIR / "fails_on_rank_one.py", *ADAM, "--nproc", "2", "--device", "cpu",
                  "--out", tmp_path / "run")
    assert run.returncode == 1
    assert run.stderr.strip() == "physopt: error: rank 1 of 2 failed: ValueError: rank one fails on purpose"


def test_one_rank_on_the_test_device(tmp_path):
    """``--nproc 1`` runs every reduction through the process group (NCCL with --device cuda, gloo on the CPU)."""
    run = physopt("solve", "poisson2d", *ADAM, "--steps", "4", "--optimizer", "lm", "--nproc", "1", "--out", tmp_path / "run")
    assert run.returncode == 0, run.stderr
    assert "4 steps" in run.stdout and "processes" not in run.stdout
