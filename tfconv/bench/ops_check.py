"""Section 6: vectorised `corr2d` / `pool2d` vs the plain-loop NumPy oracle."""

from __future__ import annotations

from typing import Any

from tfconv.bench.timing import PrintFn, best_time, quiet


def ops_vs_loop(quick: bool = False, print_fn: PrintFn = quiet) -> list[dict[str, Any]]:
    """Vectorised `corr2d` / `pool2d` vs the plain-loop reference implementation."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for n in (28,) if quick else (28, 224):
        x = rng.random((n, n), dtype=np.float32)
        k = rng.random((3, 3), dtype=np.float32)
        for name, vec, loop in _contenders(x, k):
            vec()
            t_vec = best_time(vec, repeats=3, number=3)
            t_loop = best_time(loop, repeats=1)
            rows.append(
                {
                    "op": name,
                    "size": n,
                    "vectorised_ms": 1e3 * t_vec,
                    "loop_ms": 1e3 * t_loop,
                    "speedup": t_loop / t_vec,
                }
            )
            print_fn(f"  {name:15s} {n}x{n}: {t_loop / t_vec:.2f}x the speed of the loop")
    return rows


def _contenders(x: Any, k: Any) -> tuple[tuple[str, Any, Any], ...]:
    """(name, tfconv's op, the oracle's loop) for each timed op on image `x`, kernel `k`."""
    from tfconv import ops
    from tfconv import testing as oracle

    return (
        ("corr2d 3x3", lambda: ops.corr2d(x, k).numpy(), lambda: oracle.corr2d(x, k)),
        ("pool2d max 2x2", lambda: ops.pool2d(x, 2, "max").numpy(),
         lambda: oracle.pool2d(x, 2, "max")),
    )  # fmt: skip
