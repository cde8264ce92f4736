"""GPU-sized benchmarks, each against the same run on this machine's CPU (ratios in one run).

1. ``hvp``: Hessian-vector products of k = 32 vectors on a Poisson PINN loss
   (1,024 points), batched (``vmap``) vs a Python loop, from 337 to ~200k
   parameters, float64 and float32, on the device; the CPU only up to the
   sizes it does in seconds.
2. ``pinn``: ``poisson2d`` and ``heat1d`` with the default network, Adam then
   ``lm`` and Adam then ``kfac`` (fixed step counts), float64: relative L2 and
   training time on the device and on the CPU.
3. ``teng``: ``heat2d`` (dt = 0.005, t_end = 0.05): final relative L2 and time,
   device vs CPU (the errors must agree within 10%).
4. ``throughput``: one Adam step of the PINN (loss with the Laplacian, backward)
   on 10^5 collocation points: points per second, float32 and float64, device vs CPU.
5. ``teng_paper``: TENG-Heun at the paper's scale (256², 8,361 parameters, gram fits
   1,536 / 1,024 columns, 7 / 5 iterations; ``benchmarks/teng_profile.py``) for 5 steps
   on the device: seconds per step and in each part, and what T = 4 (800 steps) would
   take; the CPU's figure is ``benchmarks/results/teng_profile.json`` (a CPU step takes ~35 s).

TF32 stays off (full float32 matmuls). Every timing synchronises the device.

    python benchmarks/gpu.py [--device cuda] [--quick] [--out benchmarks/results/gpu]

``--quick`` shrinks every part to a smoke run (the test suite runs it on the CPU).
Writes ``hvp.json``, ``pinn.json``, ``teng.json``, ``throughput.json`` and ``teng_paper.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import torch
from torch.func import vmap

from physopt import MLP, describe_device, laplacian
from physopt.curvature import FlatParameters, hessian_vector_product
from problems import registered_problems
from solvers import PINN, TENG, TENGOptions

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up (kernels, caches)
    best = float("inf")
    for _ in range(repeats):
        synchronise(device)
        t = time.perf_counter()
        fn()
        synchronise(device)
        best = min(best, time.perf_counter() - t)
    return best


def hvp_rows(devices, sizes, cpu_max_params, n_points, repeats, k=32) -> list[dict]:
    rows = []
    for dtype_name, dtype in DTYPES.items():
        for width, depth in sizes:
            for device in devices:
                torch.manual_seed(0)
                model = MLP(2, 1, width, depth).to(device=device, dtype=dtype)
                flat = FlatParameters(model)
                if device.type == "cpu" and flat.size > cpu_max_params:
                    continue
                points = torch.rand(n_points, 2, dtype=dtype, device=device)

                def loss(theta, flat=flat, points=points):
                    def u(x):
                        return flat.call(theta, x).squeeze(-1)

                    r = vmap(lambda x: laplacian(u)(x) + 2.0)(points) / points.shape[0] ** 0.5
                    return r @ r

                theta = flat.vector()
                V = torch.randn(k, flat.size, dtype=dtype, device=device)
                batched = best_time(lambda: hessian_vector_product(loss, theta, V), device, repeats)
                looped = best_time(lambda: torch.stack([hessian_vector_product(loss, theta, v) for v in V]), device, repeats)
                row = {"device": str(device), "dtype": dtype_name, "params": flat.size, "width": width, "depth": depth,
                       "points": n_points, "k": k, "batched_s": batched, "looped_s": looped, "speedup": looped / batched}
                rows.append(row)
                print(f"hvp  {device.type:<4} {dtype_name} P={flat.size:>7}: batched {batched * 1e3:8.2f} ms, "
                      f"loop {looped * 1e3:8.2f} ms, {row['speedup']:5.1f}x", flush=True)
    return rows


def pinn_rows(devices, schedules, options) -> list[dict]:
    rows = []
    for name in ("poisson2d", "heat1d"):
        for label, schedule in schedules.items():
            for device in devices:
                solver = PINN(registered_problems()[name](), optimizer=schedule, device=str(device), dtype="float64",
                              stall_window=0, **options)
                solution = solver.solve()
                row = {"problem": name, "method": label, "optimizer": schedule, "device": str(device),
                       "rel_l2": solution.errors()["rel_l2"], "steps": solution.info["steps"],
                       "train_time_s": solution.info["train_time_s"]}
                rows.append(row)
                print(f"pinn {name:<9} {label:<10} {device.type:<4}: rel L2 {row['rel_l2']:.2e} in "
                      f"{row['train_time_s']:6.1f} s ({row['steps']} steps)", flush=True)
    for row in rows:  # CPU time over device time, same problem and method
        cpu = [r for r in rows if r["problem"] == row["problem"] and r["method"] == row["method"] and r["device"] == "cpu"]
        if cpu and row["device"] != "cpu":
            row["speedup_over_cpu"] = cpu[0]["train_time_s"] / row["train_time_s"]
    return rows


def teng_rows(devices, params, options) -> list[dict]:
    rows = []
    for device in devices:
        problem = registered_problems()["heat2d"](**params)
        t0 = time.perf_counter()
        solution = TENG(problem, TENGOptions(device=str(device), **options)).solve()
        wall = time.perf_counter() - t0
        errors = solution.errors()
        row = {"problem": "heat2d", "device": str(device), **params, **options, "rel_l2": errors["rel_l2"],
               "rel_l2_final": errors["rel_l2_final"], "wall_s": wall}
        rows.append(row)
        print(f"teng heat2d {device.type:<4}: rel L2 {row['rel_l2']:.3e} in {row['wall_s']:.1f} s", flush=True)
    cpu = [r for r in rows if r["device"] == "cpu"]
    for row in rows:
        if cpu and row["device"] != "cpu":
            row["error_ratio_to_cpu"] = row["rel_l2"] / cpu[0]["rel_l2"]
            row["speedup_over_cpu"] = cpu[0]["wall_s"] / row["wall_s"]
    return rows


def throughput_rows(devices, n_points, repeats) -> list[dict]:
    rows = []
    for dtype_name in DTYPES:
        for device in devices:
            solver = PINN(registered_problems()["poisson2d"](), points=n_points, device=str(device), dtype=dtype_name,
                          optimizer="adam", steps=1)

            def step(solver=solver):
                for p in solver.model.parameters():
                    p.grad = None
                loss, _ = solver.loss()
                loss.backward()

            seconds = best_time(step, device, repeats)
            row = {"device": str(device), "dtype": dtype_name, "points": n_points, "step_s": seconds,
                   "points_per_s": n_points / seconds}
            rows.append(row)
            print(f"throughput {device.type:<4} {dtype_name}: {row['points_per_s']:.3g} points/s "
                  f"({seconds * 1e3:.1f} ms per loss + backward, {n_points} points)", flush=True)
    for row in rows:
        cpu = [r for r in rows if r["dtype"] == row["dtype"] and r["device"] == "cpu"]
        if cpu and row["device"] != "cpu":
            row["speedup_over_cpu"] = row["points_per_s"] / cpu[0]["points_per_s"]
    return rows


PARTS = ["hvp", "pinn", "teng", "throughput", "teng_paper"]


def teng_paper_rows(device, quick: bool, out: Path) -> list[dict]:
    """Paper-scale TENG-Heun steps on the device (the CPU's are ~35 s each: too slow for this check)."""
    spec = importlib.util.spec_from_file_location("teng_profile", Path(__file__).with_name("teng_profile.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    profile = module.main
    steps = 5
    row = profile(["--device", str(device), "--steps", str(steps), "--init-iterations", "100",
                   "--out", str(out / "teng_profile.json")] + (["--quick"] if quick else []))
    row["t4_projected_s"] = 800 * row["seconds_per_step"]
    print(f"teng paper scale {device.type:<4}: {row['seconds_per_step']:.2f} s per Heun step, T = 4 (800 steps) "
          f"in ~{row['t4_projected_s'] / 60:.0f} min", flush=True)
    return [row]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--only", nargs="+", default=PARTS, choices=PARTS)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "gpu"))
    args = parser.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(args.device)
    devices = [device] if device.type == "cpu" else [device, torch.device("cpu")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    header = {"device": describe_device(device), "cpu": describe_device("cpu"), "torch": torch.__version__,
              "cuda": torch.version.cuda, "quick": args.quick}
    print(f"benchmarks on {header['device']} (CPU for ratios: {header['cpu']}), torch {torch.__version__}", flush=True)
    results = {}
    if "hvp" in args.only:
        sizes = [(8, 1)] if args.quick else [(16, 2), (64, 2), (256, 3), (512, 2)]
        results["hvp"] = hvp_rows(devices, sizes, cpu_max_params=5000, n_points=32 if args.quick else 1024,
                                  repeats=1 if args.quick else 3)
    if "pinn" in args.only:
        schedules = {"adam+lm": "adam:20,lm:5", "adam+kfac": "adam:20,kfac:10"} if args.quick else \
            {"adam+lm": "adam:300,lm:100", "adam+kfac": "adam:300,kfac:300"}
        options = {"points": 64, "boundary_points": 16, "width": 8, "depth": 2} if args.quick else {}
        results["pinn"] = pinn_rows(devices, schedules, options)
    if "teng" in args.only:
        params = {"t_end": 0.01 if args.quick else 0.05}
        options = {"dt": 0.005}
        if args.quick:
            options.update(grid=8, width=8, features=4, init_iterations=20, iterations=2, corrector_iterations=2)
        results["teng"] = teng_rows(devices, params, options)
    if "throughput" in args.only:
        results["throughput"] = throughput_rows(devices, 1000 if args.quick else 100_000, 1 if args.quick else 5)
    if "teng_paper" in args.only:
        results["teng_paper"] = teng_paper_rows(device, args.quick, out)
    for name, rows in results.items():
        (out / f"{name}.json").write_text(json.dumps({**header, "rows": rows}, indent=1) + "\n")
    print(f"wrote {', '.join(f'{name}.json' for name in results)} to {out}")
    return results


if __name__ == "__main__":
    main()
