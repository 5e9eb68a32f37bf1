"""`serve` as an operator runs it: it says where it listens and which
database it uses, answers signed messages, logs one line per request, and
stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from bot.wechat.simulator import WeChatSimulator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "LIANXIN_"))}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    return proc, port


def wait_for(proc: subprocess.Popen[str], fragment: str, timeout: float = 30) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if fragment in line:
            return seen
    raise AssertionError(f"{fragment!r} not seen in {seen}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_announces_itself_answers_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc, port = start(tmp_path)
    try:
        lines = wait_for(proc, "listening")
        assert f"http://127.0.0.1:{port}/wechat" in lines[-1] and "lianxin.db" in lines[-1]
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).read()
        assert b'"ok"' in health
        sim = WeChatSimulator("lianxindemo")
        req = sim.sign(sim.text("o_someone_long_openid", "你好"), "o_someone_long_openid")
        url = f"http://127.0.0.1:{port}/wechat?" + urllib.parse.urlencode(req.query)
        body = urllib.request.urlopen(urllib.request.Request(url, data=req.body), timeout=10).read()
        assert sim.read_reply(body)["Content"]
        log = wait_for(proc, "msg_type=text")
        line = log[-1]
        assert "method=POST" in line and "status=200" in line and "latency_ms=" in line
        assert "o_someone_long_openid" not in line and "o_so…" in line  # openids are shortened
    finally:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "shutting down" in out and "Traceback" not in out


def test_serve_demo_shows_a_message_becoming_an_assigned_ticket(tmp_path: Path) -> None:
    proc, _ = start(tmp_path, "--demo")
    try:
        lines = wait_for(proc, "Try more", timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    text = "".join(lines)
    assert "已登记为工单#1" in text and "联户党员赵同志" in text
    assert "Queued for 赵玉兰" in text and "接单 1" in text
