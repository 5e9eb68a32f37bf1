#!/usr/bin/env python3
"""Dump every output of the router on a fixed set of texts, and compare two dumps.

Used to prove that a speed change changes nothing the router returns:

    .venv/bin/python benchmarks/router_outputs.py dump OUT.json [--long FILE.jsonl ...]
    .venv/bin/python benchmarks/router_outputs.py compare BEFORE.json AFTER.json

The texts are those of nlp/corpus/*.jsonl and tests/data/*.jsonl (plus any
``--long`` files, e.g. the real long messages). For each text the dump holds
every field of ``TextAnalyser.analyse`` with the fitted weights, the same with
the keyword rules alone (``weights=None``), with a roster of place names, and
the feature vector the weights read (``TextAnalyser.features``), so that a
change to feature extraction that would invalidate the weights shows too.
``compare`` prints each difference (floats equal to 1e-9) and exits 1 if any.
Keep dumps out of the repository (/tmp or /work/scratch).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_router import texts  # noqa: E402

TOLERANCE = 1e-9
ROSTER = ("幸福小区", "文川花园", "和平路", "实验小学", "朋口镇", "东门", "阳光花园", "西街")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(x) for x in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def dump(out: Path, extra: list[Path]) -> None:
    import nlp
    from nlp import TextAnalyser

    nlp.initialise()
    files = sorted((ROOT / "nlp" / "corpus").glob("*.jsonl")) + sorted((ROOT / "tests" / "data").glob("*.jsonl"))
    every = [t for path in files + extra for t in texts(path)]
    # a few odd inputs the router must also keep answering the same way
    every += ["", " ", "？？", "谢谢！", "#123", "ＡＢＣ１２３", "\x00\ufeff", "3栋2单元501", "a" * 6000]
    fitted = TextAnalyser()
    rules = TextAnalyser(weights=None)
    roster = TextAnalyser(place_names=ROSTER)
    rows = []
    for text in every:
        rows.append({
            "text": text,
            "fitted": _plain(fitted.analyse(text)),
            "rules": _plain(rules.analyse(text)),
            "roster": _plain(roster.analyse(text)),
            "features": fitted.features(text),
            "tokens": fitted.tokens(text),
            "place": _plain(fitted.parse_place(text)),
            "command": _plain(fitted.parse_command(text)),
        })
    out.write_text(json.dumps({"files": [str(p) for p in files + extra], "rows": rows}, ensure_ascii=False),
                   encoding="utf-8")
    print(f"{len(rows)} texts dumped to {out}")


def _diff(a: Any, b: Any, where: str, out: list[str]) -> None:
    if isinstance(a, float) and isinstance(b, float):
        if not math.isclose(a, b, rel_tol=0.0, abs_tol=TOLERANCE):
            out.append(f"{where}: {a!r} != {b!r}")
    elif isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{where}.{k}: {'missing before' if k not in a else 'missing after'}"
                           f" ({a.get(k, b.get(k))!r})")
            else:
                _diff(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{where}[{i}]", out)
    elif a != b or type(a) is not type(b):
        out.append(f"{where}: {a!r} != {b!r}")


def compare(before: Path, after: Path) -> int:
    a = json.loads(before.read_text(encoding="utf-8"))["rows"]
    b = json.loads(after.read_text(encoding="utf-8"))["rows"]
    if len(a) != len(b):
        print(f"different number of texts: {len(a)} != {len(b)}")
        return 1
    differences = 0
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        out: list[str] = []
        _diff(x, y, "", out)
        if out:
            differences += 1
            if differences <= 30:
                print(f"#{i} {x['text'][:60]!r}")
                for line in out[:10]:
                    print(f"    {line[:300]}")
    print(f"{len(a)} texts compared, {differences} differ")
    return 1 if differences else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--long", type=Path, action="append", default=[], help="more JSONL files (text field)")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.out, args.long)
    else:
        sys.exit(compare(args.before, args.after))


if __name__ == "__main__":
    main()
