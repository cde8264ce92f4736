"""Lid-driven cavity at Re = 100: the PINN's centreline velocities against Ghia, Ghia & Shin (1982) (float64).

Target: u on x = ½ and v on y = ½ within 2e-2 (max abs) of the published table. Also reported: the
relative L2 errors of u and v against the finite-difference reference (problems/_library/cavity.py),
and that reference's own distance from the table. Pictures: the velocity as streamlines over its
magnitude, and the centrelines with Ghia's points.

    OMP_NUM_THREADS=1 python benchmarks/cavity.py [--steps 2000] [--quick]

Writes ``benchmarks/results/cavity.json``, ``cavity_centrelines.png`` and ``cavity_velocity.png``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from problems import resolve_problem
from problems._library.cavity import GHIA_RE100
from solvers import PINN

HERE = Path(__file__).resolve().parent


def centreline_figure(solution, problem, path: Path) -> Path:
    """u(y) on x = ½ and v(x) on y = ½: the PINN, the finite-difference reference, Ghia's points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = np.linspace(0.0, 1.0, 201)
    on_x = torch.tensor(np.column_stack([np.full_like(s, 0.5), s]))
    on_y = torch.tensor(np.column_stack([s, np.full_like(s, 0.5)]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    left.plot(solution.numpy(on_x)[:, 0], s, label="PINN")
    left.plot(problem.solution_at(on_x)[:, 0].numpy(), s, "--", color="black", lw=1, label="finite differences")
    left.plot(GHIA_RE100["u"], GHIA_RE100["y"], "o", mfc="none", color="C3", label="Ghia et al. 1982")
    left.set(xlabel="u(½, y)", ylabel="y", title="u on the vertical centreline")
    right.plot(s, solution.numpy(on_y)[:, 1], label="PINN")
    right.plot(s, problem.solution_at(on_y)[:, 1].numpy(), "--", color="black", lw=1, label="finite differences")
    right.plot(GHIA_RE100["x"], GHIA_RE100["v"], "o", mfc="none", color="C3", label="Ghia et al. 1982")
    right.set(xlabel="x", ylabel="v(x, ½)", title="v on the horizontal centreline")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("lid-driven cavity, Re = 100")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def velocity_picture(solution, problem, path: Path) -> Path | None:
    """The velocity's magnitude with streamlines (PyVista), on the problem's evaluation mesh."""
    from physopt.viz import pyvista_installed, render_field

    if not pyvista_installed():
        return None
    import pyvista

    (entry,) = problem.evaluation_meshes()
    mesh = pyvista.PolyData.from_regular_faces(entry["mesh"].points3d(), entry["mesh"].cells)
    values = solution.numpy(torch.as_tensor(entry["points"], dtype=torch.float64))
    mesh.point_data["velocity"] = values[:, :2]
    return render_field(mesh, "velocity", path, "lid-driven cavity, Re = 100: |velocity| and streamlines", ("x", "y"),
                        streamlines=True)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="the PINN's step budget (default schedule adam+lm)")
    parser.add_argument("--quick", action="store_true", help="a small network and 40 steps (a smoke test)")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problem = resolve_problem("lid_driven_cavity")()
    options = {"steps": args.steps}
    if args.quick:
        options = {"steps": 40, "hidden": "16,16", "points": 256, "boundary_points": 64}
    start = time.perf_counter()
    solution = PINN(problem, dtype="float64", **options).solve()
    seconds = time.perf_counter() - start
    ghia = problem.centreline_errors(solution)
    errors = solution.errors()

    class Reference:  # the finite-difference reference, read like a solution
        numpy = staticmethod(lambda points: problem.solution_at(torch.as_tensor(points)).numpy())

    reference_vs_ghia = problem.centreline_errors(Reference())
    met = max(ghia.values()) <= 2e-2
    pictures = [centreline_figure(solution, problem, out / "cavity_centrelines.png")]
    pictures.append(velocity_picture(solution, problem, out / "cavity_velocity.png"))
    result = {"benchmark": "lid-driven cavity, Re = 100", "machine": {"torch": torch.__version__,
                                                                      "python": platform.python_version()},
              "quick": args.quick, "options": options, "steps": solution.info["steps"],
              "stop_reason": solution.info["stop_reason"], "seconds": seconds, "final_loss": solution.info["final_loss"],
              "ghia_max_abs": ghia, "target_2e-2_met": met, "reference_errors": errors,
              "finite_differences_vs_ghia": reference_vs_ghia,
              "pictures": [p.name for p in pictures if p is not None]}
    print(f"lid-driven cavity Re = 100: {solution.info['steps']} steps in {seconds:.0f} s; against Ghia et al.: "
          f"max |Δu| = {ghia['ghia_u_max_abs']:.2e}, max |Δv| = {ghia['ghia_v_max_abs']:.2e} "
          f"(target 2e-2 {'met' if met else 'NOT met'}); against the finite differences: relative L2 u "
          f"{errors['rel_l2_u']:.2e}, v {errors['rel_l2_v']:.2e} (the finite differences against Ghia: "
          f"{reference_vs_ghia['ghia_u_max_abs']:.1e}, {reference_vs_ghia['ghia_v_max_abs']:.1e})")
    (out / ("cavity_quick.json" if args.quick else "cavity.json")).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
