"""What each import costs a client start, the figure behind `client/args.py`'s choice
of a hand-written parser over argparse.

Method: the package installed from its wheel into a throwaway venv (as in
production); each case is a fresh interpreter running one `-c` line, the cases in
turn, round after round (so that the machine's noise falls on all of them alike);
the child's CPU time (user + sys, getrusage) per start, medians. The console-script
wrapper pip writes imports `re` and `sys` before the client, so every case after
the bare interpreter starts with them.

    .venv/bin/python bench/client_imports.py [--rounds 100]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import table, wheel_venv

WRAPPER = "import re, sys"
CASES = {
    "interpreter": "pass",
    "wrapper (re, sys)": WRAPPER,
    "wrapper + client": f"{WRAPPER}; import hinedockd.client.cli",
    "wrapper + client + argparse": f"{WRAPPER}; import hinedockd.client.cli; import argparse",
    "wrapper + client + json": f"{WRAPPER}; import hinedockd.client.cli; import json",
}


def cpu_ms(python: Path, code: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([str(python), "-c", code], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=100)
    args = ap.parse_args()
    python = wheel_venv() / "python"
    runs: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.rounds):
        for name, code in CASES.items():
            runs[name].append(cpu_ms(python, code))
    client = statistics.median(runs["wrapper + client"])
    print(table([{"case": name, "cpu_ms_median": round(statistics.median(v), 1),
                  "vs_client_ms": round(statistics.median(v) - client, 1)}
                 for name, v in runs.items()]))


if __name__ == "__main__":
    main()
