"""A time-dependent problem: heat1d, u_t = ¼u_xx, u₀ = sin πx, u(0) = u(1) = 0.

The initial and boundary values are built into the network
(u = sin πx + t·x(1−x)·N(x, t)), so only the PDE residual is trained. The
solution is then compared with e^{−π²t/4} sin πx at a few times and plotted.
"""

from pathlib import Path

import numpy as np
import torch

from problems import registered_problems
from solvers import PINN

CLAIMED_REL_L2 = 5e-9  # float64, on 1001 x-points × 51 times, adam+lm (measured 8.2e-10; with adam+lbfgs 9.5e-5)
QUICK = {"steps": 150, "claimed": 2e-7}  # the test suite's fast run (measured 5.3e-8)


def main(out_dir: str | Path = ".", steps: int = 600, seed: int = 0, claimed: float = CLAIMED_REL_L2) -> float:
    problem = registered_problems()["heat1d"]()
    solution = PINN(problem, steps=steps, dtype="float64", seed=seed).solve()
    rel_l2 = solution.errors()["rel_l2"]
    print(f"heat1d: relative L2 = {rel_l2:.2e} ({solution.info['stop_reason']})")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.linspace(0.0, 1.0, 201)
    fig, ax = plt.subplots(figsize=(6, 4))
    for t in (0.0, 0.25, 0.5, 1.0):
        pts = torch.tensor(np.column_stack([x, np.full_like(x, t)]))
        ax.plot(x, solution.numpy(pts)[:, 0], label=f"PINN t={t}")
        ax.plot(x, np.exp(-np.pi**2 * t / 4) * np.sin(np.pi * x), "k--", lw=0.8)
    ax.set_xlabel("x")
    ax.set_ylabel("u")
    ax.legend()
    fig.savefig(Path(out_dir) / "heat1d_time_slices.png", dpi=100)
    plt.close(fig)

    assert rel_l2 <= claimed, rel_l2
    return rel_l2


if __name__ == "__main__":
    main()
