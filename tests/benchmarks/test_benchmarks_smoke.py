"""Fast versions of the benchmarks: they run, agree with each other and write JSON."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_derivatives_benchmark_quick(tmp_path):
    out = tmp_path / "derivatives.json"
    result = load("derivatives").main(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["rows"] and saved["rows"] == json.loads(json.dumps(result["rows"]))
    row = saved["rows"][0]
    assert set(row["seconds"]) == {"physopt exact (jacrev∘jacrev)", "jacfwd∘jacrev", "jvp-basis"}
    assert all(t > 0 for t in row["seconds"].values())
    assert [r["outputs"] for r in saved["partials"]] == [1, 3]
    assert all(set(r["jvp_over_physopt"]) == {"d1", "d2"} and min(r["seconds"].values()) > 0 for r in saved["partials"])


def test_curvature_benchmark_quick(tmp_path):
    out = tmp_path / "curvature.json"
    result = load("curvature").main(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["hvp"][0]["speedup"] > 0 and saved["engd_direction"][0]["cg_s"] > 0
    assert saved["pinn_jacobian"][0]["jets_s"] > 0 and saved["pinn_jacobian"][0]["params"] == 105
    assert len(result["hvp"]) == len(saved["hvp"]) == 1


def test_optimizers_benchmark_quick(tmp_path):
    out = tmp_path / "optimizers.json"
    result = load("optimizers").main(["--quick", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == ["adam", "engd (pinv)"] == [r["method"] for r in result["rows"]]
    assert all(r["rel_l2"] > 0 and "budget" in r["stop_reason"] for r in rows)


def test_peers_benchmark_without_deepxde_says_so(tmp_path, capsys):
    import importlib.util

    import pytest

    if importlib.util.find_spec("deepxde") is not None:
        pytest.skip("deepxde is installed: the comparison itself is a long benchmark, not a test")
    assert load("peers").main(["--out", str(tmp_path / "peers.json")]) is None
    assert "deepxde is not installed" in capsys.readouterr().out
    assert not (tmp_path / "peers.json").exists()


def test_mesh_benchmark_quick(tmp_path):
    out = tmp_path / "mesh.json"
    result = load("mesh").main(["--quick", "--out", str(out)])
    row = json.loads(out.read_text())["rows"][0]
    assert row == json.loads(json.dumps(result["rows"][0]))
    assert row["triangles"] > 3000 and row["queries"] == 20_000
    assert row["numba_query_s"] > 0 and row["scipy_find_simplex_s"] > 0 and row["speedup_vs_numpy"] > 0


@pytest.mark.parametrize("step_fit, carry", [("qr", "--no-carry-misfit"), ("lm", "--carry-misfit"), ("gram", "--carry-misfit")])
def test_teng_benchmark_quick(tmp_path, step_fit, carry):
    out = tmp_path / "teng.json"
    result = load("teng").main(["--quick", "--step-fit", step_fit, carry, "--iterations", "10", "--corrector-iterations", "10",
                                "--out", str(out)])
    (row,) = json.loads(out.read_text())["rows"]
    assert row["solver"] == "teng-heun" and row["step_fit"] == step_fit and row == json.loads(json.dumps(result["rows"][0]))
    assert row["carry_misfit"] == (carry == "--carry-misfit")
    assert row["floor_rel_l2_final"] < 1e-7 < row["rel_l2_final"] < 1e-2  # 100 initial-fit steps: 7e-5 ... 3e-3
    # between the grid points (a 128² grid shifted by half a cell) the network is as far off as on them
    assert 0.5 * row["rel_l2_final"] < row["rel_l2_final_offgrid"] < 2 * row["rel_l2_final"]
    assert [r["step"] for r in row["trace"]] == [0, 1, 2] and all(r["floor_rel_l2"] > 0 for r in row["trace"][1:])
    assert row["seconds_per_step"] > 0 and row["steps"] == 2


def test_teng_profile_benchmark_quick(tmp_path):
    out = tmp_path / "teng_profile.json"
    result = load("teng_profile").main(["--quick", "--qr-solves", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    parts = result["parts_s_per_step"]
    # every part of a gram step is timed (no QR solve in it), and the parts add up to less than the step
    assert {"subset Gram matrices J_S^T J_S, J_S^T r", "eigendecompositions", "L[u] on the grid",
            "forward + backward passes (taps)"} <= set(parts) and "QR solves" not in parts
    assert result["calls_per_step"]["L[u] on the grid"] == 2  # Heun: two slopes per step
    assert 0 < sum(parts.values()) < result["seconds_per_step"] and result["other_s_per_step"] > 0
    assert [r["step"] for r in result["steps"]] == [1, 2] and all(r["floor_rel_l2"] > 0 for r in result["steps"])
    assert result["qr_solve_1536_s"] > 0 and result["qr_solve_1024_s"] > 0


def test_teng_benchmark_pinn_row_keeps_its_error_curve():
    """The PINN comparison row: stopped by its wall-time budget, its final-time error, and the space-time error
    against wall time every ``error_every`` steps (to read it at other budgets)."""
    row = load("teng").run_pinn("heat2d", 5.0, {"t_end": 0.1}, "lm", error_every=1)  # LM steps: ~0.8 s each
    assert 5.0 <= row["wall_s"] < 60 and row["steps"] >= 1 and 0 < row["rel_l2_final"] < 1
    curve = row["curve"]  # every step, the one that used up the budget included (however slow the machine)
    assert [c["step"] for c in curve] == list(range(1, row["steps"] + 1))
    assert all(0 < c["rel_l2_space_time"] < 1 for c in curve) and curve[-1]["wall_s"] <= row["wall_s"]


@pytest.mark.cpu_only(reason="the benchmark solves with LAPACK gelsy (rank-revealing, rcond), which torch has only on the CPU")
def test_teng_conditioning_benchmark_quick(tmp_path):
    out = tmp_path / "teng_conditioning.json"
    result = load("teng_conditioning").main(["--grid", "16", "--init-iterations", "5", "--problems", "heat2d", "burgers2d",
                                             "--out", str(out)])
    saved = json.loads(out.read_text())
    assert [r["problem"] for r in saved["rows"]] == ["heat2d", "burgers2d"] == [r["problem"] for r in result["rows"]]
    for row in saved["rows"]:
        for r in row["rcond"]:
            # the span misfit is what the least-squares step predicts at s = 1 (same truncation, up to QR vs SVD rank)
            assert 0 <= r["span_misfit"] <= row["increment_misfit"] * (1 + 1e-9)
            assert r["steps"][2]["misfit"] == pytest.approx(r["steps"][2]["linear_misfit"], rel=1e-2)  # linear for tiny steps


def test_defaults_benchmark_quick_and_its_stall_replay(tmp_path):
    out = tmp_path / "defaults.json"
    bench = load("defaults")
    bench.main(["--quick", "--problems", "poisson2d", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [(r["problem"], r["which"], r["optimizer"]) for r in rows] == [
        ("poisson2d", "before", "adam+lbfgs"), ("poisson2d", "after", "adam+lm")]
    after = rows[1]
    assert after["rel_l2"] < rows[0]["rel_l2"] and len(after["losses"]) == after["steps"]
    # replaying the run's own rule ends where the run ended; a rule that never fires ends at the last step
    replay = bench.replay_stall(after, after["options"].get("stall_rtol", 0.25), after["options"]["stall_window"])
    assert replay["step"] == after["steps"]
    assert bench.replay_stall(after, 0.0, 0)["step"] == after["steps"]


def test_gpu_check_quick_runs_on_the_cpu(tmp_path):
    """`scripts/gpu-check.sh --quick`: environment report, the device tests, the GPU benchmarks at smoke size."""
    import os
    import subprocess
    import sys

    out = tmp_path / "gpu"
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(BENCH.parent / "scripts" / "gpu-check.sh"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "== environment" in done.stdout and "torch CUDA build" in done.stdout
    assert " passed" in (out / "tests.log").read_text()
    for name in ("hvp", "pinn", "teng", "throughput", "teng_paper"):
        saved = json.loads((out / f"{name}.json").read_text())
        assert saved["rows"] and saved["quick"] is True, name
    assert json.loads((out / "teng_paper.json").read_text())["rows"][0]["t4_projected_s"] > 0
    assert all(r["points_per_s"] > 0 for r in json.loads((out / "throughput.json").read_text())["rows"])


def test_high_dim_benchmark_times_the_compiled_step(tmp_path):
    """benchmarks/high_dim.py at d = 100: the eager and the compiled collapsed STDE step both run and are timed."""
    import os
    import subprocess
    import sys

    out = tmp_path / "high_dim.json"
    done = subprocess.run([sys.executable, str(BENCH / "high_dim.py"), "--dims", "100", "--methods", "stde-collapsed",
                           "stde-compiled", "--steps", "3", "--seconds", "5", "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == ["stde-collapsed", "stde-compiled"]
    assert all(r["steps"] == 3 and r["it_per_s"] > 0 for r in rows)


def test_transport_benchmark_quick(tmp_path):
    """benchmarks/transport.py --quick: every method and schedule on convection1d (β = 30), errors on the same grid."""
    out = tmp_path / "transport.json"
    result = load("transport").main(["--quick", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert rows == result["rows"] and len(rows) == 6
    assert {(r["method"], r["optimizer"]) for r in rows} == {(m, o) for m in ("pinn", "pinn+curriculum", "lpinn")
                                                             for o in ("adam", "adam+lm")}
    assert all(r["rel_l2"] > 0 and r["wall_s"] > 0 for r in rows)


def test_lflow_benchmark_quick(tmp_path):
    """benchmarks/lflow.py --quick: LFlow and the PINN baseline on the same data; LFlow's continuity is exact."""
    out = tmp_path / "lflow.json"
    result = load("lflow").main(["--quick", "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [r["method"] for r in rows] == ["lflow", "pinn"] and rows == result["rows"]
    assert rows[0]["continuity_residual"] < 1e-8 < rows[1]["continuity_residual"]


def test_operators_benchmark_quick(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSOPT_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "operators.json"
    cases = ["deeponet_antiderivative", "pi_deeponet_diffusion_reaction", "fno_burgers", "deepxde_antiderivative"]
    load("operators").main(["--quick", "--workers", "1", "--cases", *cases, "--out", str(out)])
    rows = {r["case"]: r for r in json.loads(out.read_text())["rows"]}
    assert list(rows) == cases
    for case in cases[:3]:
        row = rows[case]
        assert row["library"] == "physopt" and row["dtype"] == "float32" and 0 < row["rel_l2"] < 10
        assert row["published"] > 0 and row["target"] > 0 and isinstance(row["met"], bool)
    assert rows["fno_burgers"]["rel_l2_train_resolution"] > 0
    peer = rows["deepxde_antiderivative"]
    assert "skipped" in peer or peer["rel_l2"] > 0


def test_distributed_benchmark_quick(tmp_path):
    """1 process and 2 gloo ranks on the same points: same final loss, communication counted."""
    out = tmp_path / "distributed.json"
    result = load("distributed").main(["--quick", "--optimizers", "adam", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(result))
    rows = {(r["scaling"], r["processes"]): r for r in saved["rows"]}
    assert set(rows) == {("strong", 1), ("strong", 2), ("weak", 1)}
    assert rows[("strong", 1)]["bytes_per_step"] == 0 and rows[("strong", 2)]["communication_s_per_step"] > 0
    parameters = rows[("strong", 2)]["parameters"]
    assert parameters == 353 and rows[("strong", 2)]["bytes_per_step"] >= 8 * parameters  # the flat gradient at least
    (summary,) = saved["summary"]
    assert summary["final_loss_ratio_2_ranks_to_1"] == pytest.approx(1, rel=1e-10)


def test_inverse_benchmark_quick(tmp_path):
    out = tmp_path / "inverse.json"
    result = load("inverse").main(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(result))
    (run,) = saved["runs"]
    assert run["problem"] == "diffusion_reaction_inverse" and set(run["unknowns"]) == {"D", "k"}
    for name, truth in (("D", 0.1), ("k", 2.0)):  # a short Adam + LM run on 30 samples with 1 % noise
        u = run["unknowns"][name]
        assert u["relative_error"] < 0.05 and 0 < u["std_error"] < 0.05 * truth and u["ci95"][0] < u["value"] < u["ci95"][1]
    assert saved["coverage"]["diffusion_reaction_inverse"]["intervals"] == 2


def test_inverse_benchmark_summary_groups_sample_counts_and_fields():
    inverse = load("inverse")
    dr = lambda samples, covered, error: {"problem": "diffusion_reaction_inverse", "noise": 0.01, "samples": samples,  # noqa: E731
                                          "unknowns": {"D": {"covered": covered, "relative_error": error}}}
    field = {"problem": "heat_conductivity_inverse", "noise": 0.01, "samples": None, "unknowns": {},
             "fields": {"kappa": {"rel_l2": 0.03}}}
    summary = inverse.summarise([dr(30, True, 0.02), dr(30, False, 0.01), dr(100, True, 0.004), field])
    assert summary["diffusion_reaction_inverse"] == {"runs": 2, "intervals": 2, "covered": 1, "coverage": 0.5,
                                                     "worst_relative_error": 0.02}
    assert summary["diffusion_reaction_inverse (samples 100)"]["worst_relative_error"] == 0.004
    assert summary["heat_conductivity_inverse"] == {"runs": 1, "intervals": 0, "covered": 0, "worst_field_rel_l2": 0.03}


@pytest.mark.skipif(importlib.util.find_spec("deepxde") is None, reason="the optional peer DeepXDE is not installed")
def test_deepxde_lorenz_peer_runs_within_its_budget():
    run = load("inverse").deepxde_lorenz(budget_s=1.0)
    assert run["iterations"] > 0 and 1.0 <= run["seconds"] < 30
    assert set(run["unknowns"]) == {"sigma", "rho", "beta"} and all(np.isfinite(u["value"]) for u in run["unknowns"].values())


def test_cavity_benchmark_quick(tmp_path):
    result = load("cavity").main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "cavity_quick.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert set(saved["ghia_max_abs"]) == {"ghia_u_max_abs", "ghia_v_max_abs"} and saved["target_2e-2_met"] is False
    reference = saved["finite_differences_vs_ghia"]  # the shipped reference against the table: measured 5.0e-3, 9.2e-3
    assert reference["ghia_u_max_abs"] < 6e-3 and reference["ghia_v_max_abs"] < 1e-2
    assert {"rel_l2_u", "rel_l2_v"} <= set(saved["reference_errors"]) and "rel_l2_p" not in saved["reference_errors"]
    assert (tmp_path / "cavity_centrelines.png").stat().st_size > 10_000
