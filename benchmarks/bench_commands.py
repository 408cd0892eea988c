"""Everyday commands: wall time of real ``ccapki`` processes against ``import cryptography.x509``.

    python benchmarks/bench_commands.py            # 9 runs per command
    python benchmarks/bench_commands.py --quick    # 3 runs per command

Each command runs as a fresh process of the installed ``.venv/bin/ccapki`` (what a user
types), the median of R runs after one warm-up. The baseline, ``python -c "import
cryptography.x509"``, is measured in the same run, before and after the commands (the mean of
both medians), and every line prints ``ccapki time / baseline time``: lower is better. The
last two columns are the same for CPU seconds (user + system of the process), which other
jobs on a shared machine disturb much less than wall time.

Goals (issue 9): ``plan FILE`` without a store, ``inspect FILE`` and ``--help`` of any command
<= 2x; commands on the FAQ store (``trust check``, ``inspect ID``, ``keys list``, ``plan``)
<= 3.5x. The store is made once (``init --key-file`` + ``apply`` of ``examples/faq.toml``) in
a temporary folder, outside the timed region. ``apply FILE`` with nothing to do is measured
beside them (no goal of its own: issue 9's goal is for 10,000 identities, bench_issue.py).

Every process runs with its compiled bytecode cached (``PYTHONPYCACHEPREFIX``, a temporary
folder; ``PYTHONDONTWRITEBYTECODE`` dropped), as in an installed ccapki, whose modules pip
compiles at install time, and as the libraries in the virtualenv already are: without it a
checkout's ccapki modules are compiled again in every process. ``--no-bytecode-cache``
measures with the environment as it is.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CCAPKI = Path(sys.executable).parent / "ccapki"
FAQ = ROOT / "examples" / "faq.toml"


def timed(cmd: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + system) of ``cmd`` over ``runs``
    runs, after one warm-up run. CPU seconds are disturbed much less by other jobs on a
    shared machine."""
    subprocess.run(cmd, env=env, capture_output=True, check=False)
    times, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()}")
    return statistics.median(times), statistics.median(cpus)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 runs per command")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE as set (compile ccapki's modules in every process)",
    )
    args = ap.parse_args(argv)
    runs = 3 if args.quick else args.runs

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CCAPKI_") and k != "CI"}
        env["CCAPKI_HOME"] = str(home)
        if not args.no_bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        subprocess.run(
            [str(CCAPKI), "init", "--key-file"], env=env, check=True, capture_output=True
        )
        subprocess.run([str(CCAPKI), "apply", str(FAQ)], env=env, check=True, capture_output=True)
        pem = Path(tmp) / "cas-dorm.pem"
        subprocess.run(
            [str(CCAPKI), "export", "cas-dorm", "--format", "cert", "--out", str(pem)],
            env=env,
            check=True,
            capture_output=True,
        )

        base_cmd = [sys.executable, "-c", "import cryptography.x509"]
        base_before = timed(base_cmd, env, runs)
        cases: list[tuple[str, list[str], float]] = [
            ("--help", ["--help"], 2.0),
            ("plan --help", ["plan", "--help"], 2.0),
            ("trust check --help", ["trust", "check", "--help"], 2.0),
            ("plan FILE (no store)", ["plan", str(FAQ)], 2.0),
            ("inspect FILE", ["inspect", str(pem)], 2.0),
            ("plan (FAQ store)", ["plan"], 3.5),
            ("trust check (FAQ store)", ["trust", "check"], 3.5),
            ("inspect ID (FAQ store)", ["inspect", "cam"], 3.5),
            ("keys list (FAQ store)", ["keys", "list"], 3.5),
            ("apply FILE (nothing to do)", ["apply", str(FAQ)], 0.0),
        ]
        # the file-only commands run with a home that holds no store
        bare = {**env, "CCAPKI_HOME": str(Path(tmp) / "empty")}
        measured = []
        for label, cmd, goal in cases:
            use = bare if goal == 2.0 else env  # (apply: the FAQ store)
            measured.append((label, timed([str(CCAPKI), *cmd], use, runs), goal))
        base_after = timed(base_cmd, env, runs)

    base = (base_before[0] + base_after[0]) / 2
    base_cpu = (base_before[1] + base_after[1]) / 2
    print(f"baseline python -c 'import cryptography.x509': {base * 1000:.0f} ms")
    print(
        f"  (before {base_before[0] * 1000:.0f} ms, after {base_after[0] * 1000:.0f} ms; "
        f"CPU {base_cpu * 1000:.0f} ms)"
    )
    print(f"{'command':<28} {'ms':>7} {'ratio':>7} {'goal':>6}        {'CPU ms':>7} {'ratio':>6}")
    for label, (took, cpu), goal in measured:
        ratio = took / base
        cpu_text = f"{cpu * 1000:7.0f} {cpu / base_cpu:6.2f}"
        if not goal:  # measured beside the others, no goal of its own
            print(f"{label:<28} {took * 1000:7.0f} {ratio:7.2f} {'-':>6}        {cpu_text}")
            continue
        mark = "ok  " if ratio <= goal else "OVER"
        print(f"{label:<28} {took * 1000:7.0f} {ratio:7.2f} {goal:6.1f}  {mark}  {cpu_text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
