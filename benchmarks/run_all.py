"""Run every ``benchmarks/bench_*.py`` in turn (``make bench``); see benchmarks/README.md.

    python benchmarks/run_all.py              # full sizes
    python benchmarks/run_all.py --quick      # smaller sizes, a smoke run
    python benchmarks/run_all.py issue trust  # only bench_issue.py and bench_trust.py

Each benchmark runs in its own process (a fresh interpreter, so one's caches and imports
do not help another) with this interpreter; its output streams through. ``--quick`` is passed
to the benchmarks that accept it. The exit code is 0 when every benchmark ran to the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover(only: list[str]) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if only:
        wanted = {name.removeprefix("bench_").removesuffix(".py") for name in only}
        found = [p for p in found if p.stem.removeprefix("bench_") in wanted]
    return found


def accepts_quick(path: Path) -> bool:
    return "--quick" in path.read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("only", nargs="*", help="benchmark names (issue, trust, ...); default all")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark")
    args = ap.parse_args(argv)

    benches = discover(args.only)
    if not benches:
        print(f"no benchmark matches {args.only}", file=sys.stderr)
        return 2
    results: list[tuple[str, str, float]] = []
    for path in benches:
        cmd = [sys.executable, str(path)]
        if args.quick and accepts_quick(path):
            cmd.append("--quick")
        print(f"\n=== {path.name} {' '.join(cmd[2:])}".rstrip(), flush=True)
        start = time.perf_counter()
        try:
            code = subprocess.run(
                cmd, cwd=HERE.parent, timeout=args.timeout, check=False
            ).returncode
            status = "ok" if code == 0 else f"exit {code}"
        except subprocess.TimeoutExpired:
            status = f"timeout after {args.timeout:.0f} s"
        results.append((path.name, status, time.perf_counter() - start))

    print("\n=== summary")
    width = max(len(name) for name, _, _ in results)
    for name, status, took in results:
        print(f"  {name:<{width}}  {status:<24} {took:7.1f} s")
    return 0 if all(status == "ok" for _, status, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
