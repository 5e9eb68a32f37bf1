"""kill -9 under load loses no acknowledged message: the real server as a
subprocess, concurrent requests, SIGKILL mid-run, restart, and every message
that got a 200 is stored with the very reply it got and the ticket it
announced, per request and with group commit, on both engines.

This drives benchmarks/bench_batch.py (its kill check) briefly: the check
is the benchmark's own, so the figure it prints and this test agree.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_batch.py"
VERDICT = re.compile(r"(\d+) acknowledged before the kill.*missing after restart: (\d+); "
                     r"stored with another reply: (\d+); announced tickets missing: (\d+) of \d+ -> (\w+)")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_kill_nine_under_load_loses_no_acknowledged_message(engine: str, request: pytest.FixtureRequest) -> None:
    if engine == "postgresql":
        request.getfixturevalue("pg_url")  # skips (or fails under CI=true) without a server
    run = subprocess.run(
        [sys.executable, str(BENCH), "--db", engine, "--duration", "1", "--rounds", "1", "--conns", "16",
         "--kill-after", "1.5", "--kills", "1"],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    verdicts = VERDICT.findall(run.stdout)
    assert len(verdicts) == 2, run.stdout  # one transaction per request, and group commit
    for acknowledged, missing, other_reply, lost_tickets, verdict in verdicts:
        assert int(acknowledged) > 0  # the kill came under load, after replies had left
        assert (missing, other_reply, lost_tickets, verdict) == ("0", "0", "0", "ok")
