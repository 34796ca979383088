"""The stats parser's cost per sample, this checkout against another commit's, side by
side in one process (bench/README.md §12): the recorded samples of Docker 20.10
(cgroup v1), Docker 26 (cgroup v2) and Podman 5.4, each parsed N times, the two
parsers alternating round by round so the machine's drift touches both alike.

    .venv/bin/python bench/parse_cost.py --against 16ed4e1 --rounds 15
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data"
FAKE_DATA = ROOT / "hinedockd" / "testing" / "data"  # the v1 sample the fake engine serves
SAMPLES = ("stats-cgroupv1-engine20.10.json", "stats-cgroupv2-docker26.json",
           "stats-podman5.4.json")


def module_at(commit: str, tmp: Path) -> ModuleType:
    """hinedockd/metrics/sample.py as it was at `commit` (it imports nothing of ours)."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:hinedockd/metrics/"
                           "sample.py"], capture_output=True, text=True, check=True).stdout
    path = tmp / f"sample_{commit}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"sample_{commit}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def per_sample_us(parse: object, docs: list[object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        for d in docs:
            parse(d)  # type: ignore[operator]
    return (time.perf_counter() - start) / (n * len(docs)) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", required=True, help="the commit to compare with")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--n", type=int, default=20_000, help="parses of each sample a round")
    a = ap.parse_args()
    import tempfile

    from hinedockd.metrics import sample as now

    docs = []
    for name in SAMPLES:
        path = DATA / name if (DATA / name).exists() else FAKE_DATA / name
        doc = json.loads(path.read_text())
        docs.append(doc[0] if isinstance(doc, list) else doc)
    with tempfile.TemporaryDirectory() as tmp:
        old = module_at(a.against, Path(tmp))
        times: dict[str, list[float]] = {"this checkout": [], a.against: []}
        for _ in range(a.rounds):
            times["this checkout"].append(per_sample_us(now.parse_sample, docs, a.n))
            times[a.against].append(per_sample_us(old.parse_sample, docs, a.n))
    base = statistics.median(times[a.against])
    for label, ts in times.items():
        m = statistics.median(ts)
        print(f"{label:>14}: median {m:.2f} µs a sample (min {min(ts):.2f}, max "
              f"{max(ts):.2f}), {m / base:.3f}x")


if __name__ == "__main__":
    main()
