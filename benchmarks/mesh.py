"""Point location and interpolation in a 2D triangle mesh: Numba vs pure NumPy vs SciPy, same run.

A Delaunay triangulation of random points in the unit square (>= 2e5
triangles by default) and 1e6 random query points. Three locators, the same
triangles:

- physopt (Numba, bucket grid, parallel): build + query,
- ``scipy.spatial.Delaunay.find_simplex`` (C; applies because the mesh is SciPy's own Delaunay triangulation),
- the pure-NumPy reference (every query against every cell) on a subset of
  queries, scaled to the full count (it is linear in the number of queries).

Then P1 interpolation of a nodal field at the located points, Numba vs NumPy.
All answers are checked against each other. Writes ``benchmarks/results/mesh.json``.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/mesh.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numba
import numpy as np
from scipy.spatial import Delaunay

from physopt.mesh import PointLocator, interpolate, interpolate_reference, locate_reference


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_500, help="mesh vertices (about 2x as many triangles)")
    parser.add_argument("--queries", type=int, default=1_000_000)
    parser.add_argument("--reference-queries", type=int, default=200, help="queries timed for the NumPy reference")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "mesh.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.queries, args.reference_queries = 2000, 20_000, 50
    rng = np.random.default_rng(0)
    vertices = rng.random((args.points, 2))
    triangulation = Delaunay(vertices)
    cells = triangulation.simplices.astype(np.int64)
    queries = rng.random((args.queries, 2))
    values = np.sin(3 * vertices[:, 0]) * vertices[:, 1]

    PointLocator(vertices[:10], Delaunay(vertices[:10]).simplices).locate(queries[:10])  # compile outside the clock
    locator, t_build = timed(lambda: PointLocator(vertices, cells))
    (found, weights), t_query = timed(lambda: locator.locate(queries))
    scipy_found, t_scipy = timed(lambda: triangulation.find_simplex(queries))
    subset = queries[: args.reference_queries]
    (ref_found, ref_weights), t_ref = timed(lambda: locate_reference(vertices, cells, subset))
    t_ref_full = t_ref * args.queries / len(subset)
    assert np.array_equal(found >= 0, scipy_found >= 0)
    assert np.array_equal(found[: len(subset)] >= 0, ref_found >= 0)

    interpolate(cells, found[:10], weights[:10], values)  # compile
    ours, t_interp = timed(lambda: interpolate(cells, found, weights, values))
    theirs, t_interp_ref = timed(lambda: interpolate_reference(cells, found, weights, values))
    assert np.allclose(ours, theirs, equal_nan=True)

    row = {
        "triangles": len(cells), "queries": args.queries, "threads": numba.get_num_threads(),
        "numba_build_s": t_build, "numba_query_s": t_query, "scipy_find_simplex_s": t_scipy,
        "numpy_reference_s_extrapolated": t_ref_full, "numpy_reference_queries_timed": len(subset),
        "speedup_vs_numpy": t_ref_full / (t_build + t_query), "ratio_vs_scipy": t_scipy / (t_build + t_query),
        "ratio_vs_scipy_query_only": t_scipy / t_query,
        "interpolate_numba_s": t_interp, "interpolate_numpy_s": t_interp_ref, "interpolate_speedup": t_interp_ref / t_interp,
    }
    print(f"{len(cells):,} triangles, {args.queries:,} queries, {row['threads']} thread(s)")
    print(f"  locate  physopt build {t_build:7.3f} s + query {t_query:7.3f} s")
    print(f"          scipy find_simplex {t_scipy:7.3f} s  (scipy / physopt build+query: {row['ratio_vs_scipy']:.2f}x, "
          f"query only: {row['ratio_vs_scipy_query_only']:.2f}x)")
    print(f"          numpy reference {t_ref_full:9.1f} s (from {len(subset)} queries)  -> physopt {row['speedup_vs_numpy']:.0f}x faster")
    print(f"  interpolate  numba {t_interp:7.3f} s, numpy {t_interp_ref:7.3f} s  -> {row['interpolate_speedup']:.1f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "2D point location and P1 interpolation", "machine": platform.processor() or platform.machine(),
              "rows": [row]}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
