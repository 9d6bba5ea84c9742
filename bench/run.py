"""Run every benchmark, then write the report: ``make bench`` (``make bench-smoke``).

Each benchmark runs in a process of its own, one after the other (they would disturb each
other's numbers otherwise), after one migration of the benchmark database. Then
``bench.report`` turns their JSON into docs/BENCHMARKS.md and docs/benchmarks.png; a smoke
run writes its report beside its JSON instead, and checks that every file is well formed.
"""

import argparse
import os
import subprocess
import sys
import time

from bench import common

SCRIPTS = ("quote", "ingest", "fanout", "scale", "growthbook")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run of each, to check they work")
    parser.add_argument("only", nargs="*", help=f"run only these, of {', '.join(SCRIPTS)}")
    args = parser.parse_args()
    unknown = set(args.only) - set(SCRIPTS)
    if unknown:
        parser.error(f"no benchmark {', '.join(sorted(unknown))}; known: {', '.join(SCRIPTS)}")
    started = time.monotonic()
    common.database_prepare()
    env = {**os.environ, "BENCH_PREPARED": "1"}
    for name in args.only or SCRIPTS:
        print(f"== bench.{name}", flush=True)
        command = [sys.executable, "-m", f"bench.{name}", *(["--smoke"] if args.smoke else [])]
        subprocess.run(command, cwd=common.ROOT, env=env, check=True)
    report = [sys.executable, "-m", "bench.report", *(["--smoke"] if args.smoke else [])]
    subprocess.run(report, cwd=common.ROOT, check=True)
    print(f"benchmarks done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
