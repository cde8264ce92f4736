"""Cost of the PINN Laplacian under vmap: which torch.func composition to use.

Times the Laplacian of a tanh MLP at N points plus the backward pass to the
parameters (what one PINN loss evaluation costs), for three exact ways:

- ``jacrev(jacrev)``  reverse-over-reverse Hessian, then the trace (physopt's exact mode)
- ``jacfwd(jacrev)``  forward-over-reverse Hessian, then the trace
- ``jvp-basis``       one forward-mode JVP of the gradient per coordinate (vmapped)

and the partial derivatives ∂u/∂x₀ and ∂²u/∂x₀² (what Burgers-type residuals take), with the backward
pass, for physopt's exact mode (nested reverse mode for fields of up to 4 outputs) against nested
forward mode (``jvp``, physopt's choice before), for one and three outputs.

All in the same run, float64; ratios are relative to physopt's choice.
Writes ``benchmarks/results/derivatives.json``.

    OMP_NUM_THREADS=1 python benchmarks/derivatives.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.func import jacfwd, jacrev, jvp, vmap

from physopt import MLP, laplacian, partial


def _trace_of(hess_fn):
    def lap(x):
        return torch.diagonal(hess_fn(x), dim1=-2, dim2=-1).sum(-1)

    return lap


def _jvp_basis(u):
    g = jacrev(u)

    def lap(x):
        basis = torch.eye(x.shape[0], dtype=x.dtype)
        cols = vmap(lambda v: jvp(g, (x,), (v,))[1])(basis)
        return torch.diagonal(cols, dim1=-2, dim2=-1).sum(-1)

    return lap


def _nested_jvp(u, order: int):
    """∂^order u/∂x₀^order by nested forward mode."""
    def d(f):
        return lambda x: jvp(f, (x,), (torch.eye(x.shape[0], dtype=x.dtype)[0],))[1]

    for _ in range(order):
        u = d(u)
    return u


def partial_rows(cases, repeats: int) -> list[dict]:
    """∂u/∂x₀ and ∂²u/∂x₀² plus the backward pass: physopt's exact mode against nested jvp."""
    rows = []
    for dim, width, depth, n in cases:
        for outputs in (1, 3):
            model = MLP(dim, outputs, width, depth).double()
            X = torch.rand(n, dim, dtype=torch.float64)

            def u(x):
                out = model(x)
                return out[0] if outputs == 1 else out

            row = {"dim": dim, "width": width, "depth": depth, "points": n, "outputs": outputs, "seconds": {}}
            for order in (1, 2):
                variants = {f"physopt exact d{order}": partial(u, *([0] * order)), f"nested jvp d{order}": _nested_jvp(u, order)}
                row["seconds"].update(checked_times(model, variants, X, f"nested jvp d{order}", repeats))
            row["jvp_over_physopt"] = {f"d{k}": row["seconds"][f"nested jvp d{k}"] / row["seconds"][f"physopt exact d{k}"]
                                       for k in (1, 2)}
            rows.append(row)
            print(f"d={dim} {width}x{depth} N={n}, {outputs} output(s): " + ", ".join(
                f"{k} {v * 1e3:.1f} ms" for k, v in row["seconds"].items())
                + " (nested jvp / physopt: " + ", ".join(f"{k} {v:.2f}x" for k, v in row["jvp_over_physopt"].items()) + ")")
    return rows


def checked_times(model, variants: dict, X: torch.Tensor, reference: str, repeats: int) -> dict[str, float]:
    """Each variant's best time for its values at the points ``X`` (vmapped) and the backward pass of their
    mean square to ``model``'s parameters, after checking its values against variant ``reference``'s."""
    ref = vmap(variants[reference])(X)
    seconds = {}
    for name, fn in variants.items():
        assert torch.allclose(vmap(fn)(X), ref, atol=1e-10), name

        def step(fn=fn):
            model.zero_grad()
            vmap(fn)(X).pow(2).mean().backward()

        seconds[name] = time_it(step, repeats)
    return seconds


def time_it(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "derivatives.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cases = [(2, 32, 3, 1024), (3, 64, 3, 1024), (5, 64, 4, 512)]
    if args.quick:
        cases = [(2, 16, 2, 128)]
    repeats = 3 if args.quick else 7
    rows = []
    for dim, width, depth, n in cases:
        model = MLP(dim, 1, width, depth).double()
        X = torch.rand(n, dim, dtype=torch.float64)

        def u(x):
            return model(x)[0]

        variants = {
            "physopt exact (jacrev∘jacrev)": lambda x: laplacian(u)(x),
            "jacfwd∘jacrev": _trace_of(jacfwd(jacrev(u))),
            "jvp-basis": _jvp_basis(u),
        }
        row = {"dim": dim, "width": width, "depth": depth, "points": n,
               "seconds": checked_times(model, variants, X, "jacfwd∘jacrev", repeats)}
        base = row["seconds"]["physopt exact (jacrev∘jacrev)"]
        row["ratio_to_physopt"] = {k: v / base for k, v in row["seconds"].items()}
        rows.append(row)
        print(f"d={dim} {width}x{depth} N={n}: " + ", ".join(f"{k} {v * 1e3:.1f} ms ({v / base:.2f}x)" for k, v in row["seconds"].items()))
    partials = partial_rows(cases[:2] if not args.quick else cases, repeats)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "laplacian+backward and partials+backward under vmap, float64",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
        "partials": partials,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
