"""Speed of the router beside bare jieba segmentation, and start-up time.

    .venv/bin/python benchmarks/bench_router.py [--long FILE.jsonl] [--rounds N]

Prints figures only (no pass/fail): messages per second of ``TextAnalyser.analyse``
and of bare ``jieba.lcut`` (jieba's default tokenizer, default mode) on the
same texts in the same run, and their ratio, for

- short messages: the texts of tests/data/dev_set.jsonl;
- long messages: the ``text`` fields of a JSONL file of real long messages
  (``--long``, else ``$LIANXIN_LONG_MESSAGES``, else the first
  ``/work/shared/data/*messages*.jsonl``); skipped when there is none.

Each figure is the best of several interleaved rounds, so a busy machine
disturbs both sides alike. Start-up is timed in fresh subprocesses: import,
``initialise()``, ``TextAnalyser()`` and the first ``analyse``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHORT = ROOT / "tests" / "data" / "dev_set.jsonl"
FALLBACK_SHORT = ROOT / "tests" / "data" / "nlp_smoke.jsonl"
LONG_GLOB = "/work/shared/data/*messages*.jsonl"

STARTUP = """
import time
t0 = time.perf_counter()
import nlp
nlp.initialise()
router = nlp.TextAnalyser()
router.analyse("3栋楼道灯坏了好几天了，晚上黑漆漆的")
print(time.perf_counter() - t0)
"""


def texts(path: Path) -> list[str]:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                text = json.loads(line).get("text")
                if isinstance(text, str):
                    out.append(text)
    return out


def best_of(rounds: int, runs: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Best time of each run over interleaved rounds."""
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def compare(label: str, items: list[str], rounds: int) -> None:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # its "Building prefix dict" lines

    from nlp import TextAnalyser, tokenizer

    router = TextAnalyser()
    for text in items[:50]:  # warm both sides
        jieba.lcut(text)
        router.analyse(text)
    own = "router's segmentation"
    runs = {
        "router": lambda: [router.analyse(t) for t in items],
        "jieba.lcut": lambda: [jieba.lcut(t) for t in items],
        own: lambda: [tokenizer.cut(t) for t in items],
    }
    best = best_of(rounds, runs)
    chars = sum(len(t) for t in items)
    print(f"\n{label}: {len(items)} messages, median {statistics.median(len(t) for t in items):.0f} chars, "
          f"{chars} chars in all (best of {rounds} rounds)")
    for name, seconds in best.items():
        print(f"  {name:<24}{len(items) / seconds:10.0f} msg/s  {chars / seconds / 1000:8.0f} kchar/s")
    print(f"  router / jieba.lcut:      {best['router'] / best['jieba.lcut']:.2f}x")
    print(f"  router / its own segmentation (HMM off, user dictionary): {best['router'] / best[own]:.2f}x")


def startup(runs: int) -> None:
    env = dict(os.environ)
    times = []
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", STARTUP], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True)
        walls.append(time.perf_counter() - t0)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    print(f"\nstart-up (fresh process; import + initialise + TextAnalyser() + first analyse), {runs} runs:")
    print(f"  in-process: best {min(times):.3f} s, median {statistics.median(times):.3f} s")
    print(f"  whole process incl. interpreter: best {min(walls):.3f} s, median {statistics.median(walls):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", type=Path, default=None, help="JSONL file of long messages (text field)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--startup-runs", type=int, default=5)
    args = parser.parse_args()

    startup(args.startup_runs)

    short = SHORT if SHORT.is_file() else FALLBACK_SHORT
    if short.is_file():
        compare(f"short messages ({short.relative_to(ROOT)})", texts(short), args.rounds)
    else:
        print("\nshort messages: no labelled set found, skipped")

    long_path = args.long or (Path(os.environ["LIANXIN_LONG_MESSAGES"]) if os.environ.get("LIANXIN_LONG_MESSAGES")
                              else next((Path(p) for p in sorted(glob.glob(LONG_GLOB))), None))
    if long_path is not None and long_path.is_file():
        compare(f"long messages ({long_path.name})", texts(long_path), max(2, args.rounds // 2))
    else:
        print("\nlong messages: no file found (--long FILE.jsonl), skipped")


if __name__ == "__main__":
    main()
