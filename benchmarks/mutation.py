"""A mutation check: does each rule have a test that fails when the rule breaks?

A short list of hand-written one-line bugs (mutations) over bot/domain,
bot/web/inbox.py, bot/wechat and the router's urgency rules, among them the
six bugs of issue 15. Each is applied alone to a temporary copy of the tree
(never to the working tree) and the test files that should notice it are
run there with `-x`; a mutation whose tests fail is caught, one whose tests
all pass survived. Prints one line per mutation and the total; exits 1 when
any survived or no longer applies (its line of code changed: update the list).

Not in CI (minutes, not seconds); run it before resolving an issue that
changes rules:

    .venv/bin/python benchmarks/mutation.py                # every mutation, SQLite
    .venv/bin/python benchmarks/mutation.py --postgresql   # the tests on both engines
    .venv/bin/python benchmarks/mutation.py -k hand        # those whose name has "hand"
    .venv/bin/python benchmarks/mutation.py --list         # the list, and whether each applies
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# ---- which tests should notice a broken rule --------------------------------------------------
TICKETS = ("tests/test_permissions.py", "tests/test_ticket_flows.py", "tests/test_ticket_concurrency.py",
           "tests/test_clock.py")
FIGURES = ("tests/test_stats*.py", "tests/test_figures*.py", "tests/test_cli.py")
WEBHOOK = ("tests/test_webhook.py", "tests/test_webhook_properties.py", "tests/test_security_transport.py")
CRYPTO = ("tests/test_crypto.py", *WEBHOOK)
ROUTER = ("tests/test_nlp_urgency_over.py", "tests/test_nlp_router.py")  # the urgency tests (the rest take minutes)
GROUP_COMMIT = ("tests/test_group_commit.py", "tests/test_hot_path.py")
PEOPLE = ("tests/test_identity.py", "tests/test_ticket_flows.py", "tests/test_cli.py", "tests/test_roster_*.py")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str  # must occur exactly once in `path`
    new: str
    tests: Sequence[str]
    bug: str = ""  # the bug of issue 15 it is, if any


MUTATIONS = [
    # ---- bot/domain/tickets: who may do what
    Mutation("a merged follower may cancel the ticket", "bot/domain/tickets/residents.py",
             'if not self.owns(sender.openid, ticket):\n            return Outcome(False, "security.owner_only", '
             '{"no": ticket.id})\n        before = ticket.state',
             'if False:\n            return Outcome(False, "security.owner_only", {"no": ticket.id})\n'
             '        before = ticket.state',
             TICKETS, bug="1"),
    Mutation("a volunteer not notified may accept an urgent ticket", "bot/domain/tickets/policy.py",
             'return any(person.id in (data or {}).get("notified", []) for data in events)',
             "return True", TICKETS, bug="2"),
    Mutation("someone other than the assignee may hand back", "bot/domain/tickets/volunteers.py",
             "if ticket.assignee_id != person.id:", "if False:", TICKETS, bug="3"),
    Mutation("staff of any community act on every ticket", "bot/domain/tickets/policy.py",
             "return ticket.community_id == person.staff_community_id", "return True", TICKETS),
    Mutation("anyone may work on a ticket in hand", "bot/domain/tickets/policy.py",
             "bool:\n        return ticket.assignee_id == person.id or self._staff_of(person, ticket)\n",
             "bool:\n        return True\n", TICKETS),
    Mutation("progress without a note", "bot/domain/tickets/volunteers.py",
             "if not note.strip():", "if False:", TICKETS),
    Mutation("a resolved ticket may be resolved again", "bot/domain/tickets/volunteers.py",
             "RESOLVED, (ASSIGNED, ACCEPTED), resolved_at", "RESOLVED, (ASSIGNED, ACCEPTED, RESOLVED), resolved_at",
             TICKETS),
    Mutation("a resolved ticket may be cancelled", "bot/domain/tickets/residents.py",
             "CANCELLED, ACTIVE, closed_at", "CANCELLED, (*ACTIVE, RESOLVED), closed_at", TICKETS),
    Mutation("rating 3 reopens a ticket", "bot/domain/tickets/residents.py",
             "rating <= 2", "rating <= 3", TICKETS),
    Mutation("urging escalates one urge late", "bot/domain/tickets/residents.py",
             "ticket.urge_count >= self.config.tickets.urge_escalate_after",
             "ticket.urge_count > self.config.tickets.urge_escalate_after", TICKETS),
    Mutation("a stranger may act on someone else's ticket", "bot/domain/tickets/residents.py",
             'if follower is None:\n                    return Outcome(False, "ticket.not_yours"',
             'if False:\n                    return Outcome(False, "ticket.not_yours"', TICKETS),
    Mutation("staff may close a closed ticket", "bot/domain/tickets/staff.py",
             "ticket = found.ticket\n        before = ticket.state\n"
             "        if not await self.transition(ticket, CLOSED, (*ACTIVE, RESOLVED), closed_at",
             "ticket = found.ticket\n        before = ticket.state\n"
             "        if not await self.transition(ticket, CLOSED, (*ACTIVE, RESOLVED, CLOSED), closed_at", TICKETS),
    Mutation("reassigning to someone on leave", "bot/domain/tickets/staff.py",
             "if not assignment.available(target):", "if False:", TICKETS),
    Mutation("recategorising to an unknown category", "bot/domain/tickets/staff.py",
             "if category not in known:", "if False:", TICKETS),
    Mutation("a volunteer may use staff commands", "bot/domain/tickets/staff.py",
             "if person.staff_community_id is None and not is_wide_staff(person, self.config):", "if False:",
             TICKETS),
    Mutation("urgent requests merge into an open ticket", "bot/domain/tickets/intake.py",
             "or request.urgent or", "or", TICKETS),
    Mutation("followers are not told of progress", "bot/domain/tickets/core.py",
             "if followers:", "if False:", TICKETS),
    Mutation("two people may win one transition", "bot/domain/tickets/core.py",
             "if affected(result) != 1:", "if False:", TICKETS),
    Mutation("escalation may land on the same person again", "bot/domain/tickets/escalation.py",
             "if ticket.assignee_id is not None and choice.person is not None and "
             "choice.person.id == ticket.assignee_id:", "if False:", TICKETS),
    # ---- bot/domain: assignment, figures, people, listings
    Mutation("a member on leave is available", "bot/domain/assignment.py",
             "not person.on_leave and ", "", TICKETS),
    Mutation("climbing the chain skips a level", "bot/domain/assignment.py",
             "return choose(chain, LEVELS[index + 1])",
             "return choose(chain, LEVELS[min(index + 2, len(LEVELS) - 1)])", TICKETS),
    Mutation("rating 4 counted as unsatisfied", "bot/domain/stats.py",
             "satisfied=ticket.rating is not None and ticket.rating >= 4,",
             "satisfied=ticket.rating is not None and ticket.rating >= 5,", FIGURES, bug="4"),
    Mutation("an expired invite still binds", "bot/domain/identity.py",
             "if invite.expires_at < now:", "if False:", PEOPLE),
    Mutation("an ambiguous address binds the first household", "bot/domain/identity.py",
             "found[0] if len(found) == 1 else None", "found[0] if found else None", PEOPLE),
    Mutation("a ticket waiting to be accepted is overdue before its deadline", "bot/domain/listings.py",
             "and_(Ticket.state.in_(WAITING_ACCEPT), Ticket.accept_due_at < now)",
             "and_(Ticket.state.in_(WAITING_ACCEPT), Ticket.accept_due_at > now)", (*TICKETS, "tests/test_cli.py")),
    # ---- bot/web/inbox.py
    Mutation("a nonce reused for another message is accepted", "bot/web/inbox.py",
             "if seen != dedup_key:", "if False:", WEBHOOK),
    Mutation("a retry gets an empty reply", "bot/web/inbox.py",
             'return reply or ""', 'return ""', WEBHOOK),
    # ---- bot/db/writer.py
    Mutation("a batched reply leaves before its commit", "bot/db/writer.py",
             "results.append(await item.work(session))",
             "results.append(await item.work(session)); item.future.set_result(results[-1])", GROUP_COMMIT),
    Mutation("the items after a failing one are dropped", "bot/db/writer.py",
             "self._queue.extendleft(reversed(batch[failed_at + 1:]))", "pass", GROUP_COMMIT),
    # ---- bot/wechat
    Mutation("AES padding to 16 bytes, not 32", "bot/wechat/crypto.py",
             "pad = BLOCK - len(plain) % BLOCK", "pad = 16 - len(plain) % 16", CRYPTO),
    Mutation("an aligned message gets no padding block", "bot/wechat/crypto.py",
             "pad = BLOCK - len(plain) % BLOCK", "pad = (BLOCK - len(plain) % BLOCK) % BLOCK", CRYPTO),
    Mutation("decrypt refuses a whole block of padding", "bot/wechat/crypto.py",
             "if not 1 <= pad <= BLOCK", "if not 1 <= pad < BLOCK", CRYPTO),
    Mutation("decrypt ignores the AppID", "bot/wechat/crypto.py",
             "if app_id != self.app_id:", "if False:", CRYPTO),
    Mutation("timestamps in the future accepted", "bot/wechat/protocol.py",
             "return abs((now if now is not None else time.time()) - ts) <= window_s",
             "return (now if now is not None else time.time()) - ts <= window_s", WEBHOOK, bug="6"),
    Mutation("the signature over unsorted parts", "bot/wechat/protocol.py",
             '"".join(sorted(parts))', '"".join(parts)', WEBHOOK),
    # ---- nlp: the urgency rules
    Mutation("negation ignored by urgency", "nlp/analyser.py",
             "if denials and norm.endswith(denials, max(0, pos - 6), pos):", "if False:",
             (*ROUTER, "tests/test_nlp_fitted.py"), bug="5"),
    Mutation("a hedged danger word is urgent", "nlp/analyser.py",
             "if ci in hedged or (ci in past and ci not in present):", "if ci in past and ci not in present:",
             ROUTER),
    Mutation("a danger in the past is urgent", "nlp/analyser.py",
             "if ci in hedged or (ci in past and ci not in present):", "if ci in hedged:", ROUTER),
    Mutation("a danger said to be over is still urgent", "nlp/analyser.py",
             'if "resolved" in flags:\n                return False, []', 'if False:\n                return False, []',
             ROUTER),
]


# ---- running them -----------------------------------------------------------------------------
def tree_files() -> list[str]:
    """The files of the working tree as it is now (tracked, and new files not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                         check=True, capture_output=True).stdout.decode()
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


def copy_tree(dest: Path) -> None:
    for name in tree_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def applies(m: Mutation, tree: Path) -> str:
    """Why `m` cannot be applied to `tree`, or "" when it can."""
    path = tree / m.path
    if not path.is_file():
        return f"{m.path} is gone"
    count = path.read_text(encoding="utf-8").count(m.old)
    return "" if count == 1 else f"the line is {'gone' if count == 0 else f'there {count} times'}"


def test_args(m: Mutation, tree: Path) -> list[str]:
    files: list[str] = []
    for pattern in m.tests:
        files += sorted(str(Path(p).relative_to(tree)) for p in glob.glob(str(tree / pattern)))
    return list(dict.fromkeys(files))


def pytest(tree: Path, files: list[str], engines: str, timeout: float) -> tuple[str, float, str]:
    """Run `files` in `tree`: ("passed" | "failed" | "timeout", seconds, the tail of the output)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *files]
    if engines == "sqlite":
        command += ["-k", "not postgresql"]
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started, ""
    lines = (done.stdout + done.stderr).strip().splitlines()
    tail = "\n".join([line for line in lines if line.startswith(("FAILED", "ERROR"))][:1] or lines[-1:])
    return ("passed" if done.returncode == 0 else "failed"), time.monotonic() - started, tail


def check_imports(tree: Path) -> None:
    """The copy's own code is what the tests import (not the installed working tree)."""
    probe = "import bot, handlers, nlp; print(bot.__file__); print(handlers.__file__); print(nlp.__file__)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                         check=True, capture_output=True, text=True).stdout.split()
    wrong = [p for p in out if not Path(p).resolve().is_relative_to(tree.resolve())]
    if wrong:
        sys.exit(f"the copy imports code from outside itself: {wrong}")


@dataclass
class Result:
    mutation: Mutation
    verdict: str  # caught | SURVIVED | not applied
    seconds: float
    detail: str


def run_one(m: Mutation, tree: Path, engines: str, timeout: float) -> Result:
    reason = applies(m, tree)
    if reason:
        return Result(m, "not applied", 0.0, reason)
    path = tree / m.path
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace(m.old, m.new), encoding="utf-8")
    try:
        outcome, seconds, tail = pytest(tree, test_args(m, tree), engines, timeout)
    finally:
        path.write_text(original, encoding="utf-8")
    if outcome == "passed":
        return Result(m, "SURVIVED", seconds, "")
    return Result(m, "caught", seconds, "timeout" if outcome == "timeout" else tail.splitlines()[-1] if tail else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="only", default="", help="only mutations whose name contains this")
    parser.add_argument("--postgresql", action="store_true", help="run the tests on PostgreSQL too")
    parser.add_argument("--jobs", type=int, default=1, help="mutations run at once (each in its own copy)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a run counts as caught")
    parser.add_argument("--no-baseline", action="store_true", help="skip checking the tests pass unmutated")
    parser.add_argument("--list", action="store_true", help="list the mutations and whether each applies")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.only.lower() in m.name.lower()]
    engines = "both" if args.postgresql else "sqlite"

    with tempfile.TemporaryDirectory(prefix="lianxin-mutation-") as tmp:
        trees = [Path(tmp) / f"tree{i}" for i in range(max(1, args.jobs))]
        for tree in trees:
            copy_tree(tree)
        check_imports(trees[0])
        if args.list:
            for m in chosen:
                reason = applies(m, trees[0])
                print(f"{'bug ' + m.bug if m.bug else '':6} {m.name:<62} {m.path:<36} {reason or 'applies'}")
            return 0
        if not args.no_baseline:
            files = list(dict.fromkeys(f for m in chosen for f in test_args(m, trees[0])))
            outcome, seconds, tail = pytest(trees[0], files, engines, args.timeout * 3)
            print(f"baseline: {len(files)} test files {outcome} unmutated ({seconds:.0f} s)", flush=True)
            if outcome != "passed":
                print(tail)
                return 2
        started = time.monotonic()
        free = list(trees)

        def job(m: Mutation) -> Result:
            tree = free.pop()
            try:
                result = run_one(m, tree, engines, args.timeout)
            finally:
                free.append(tree)
            label = f"bug {m.bug}" if m.bug else ""
            print(f"{result.verdict:<11} {label:<6} {m.name:<62} {m.path:<36} {result.seconds:5.0f} s"
                  f"{'  ' + result.detail if result.detail else ''}", flush=True)
            return result

        with ThreadPoolExecutor(max_workers=len(trees)) as pool:
            results = list(pool.map(job, chosen))

    applied = [r for r in results if r.verdict != "not applied"]
    caught = [r for r in applied if r.verdict == "caught"]
    survived = [r for r in applied if r.verdict == "SURVIVED"]
    print(f"\n{len(caught)} of {len(applied)} mutations caught, {len(survived)} survived"
          f"{f', {len(results) - len(applied)} not applied' if len(applied) < len(results) else ''}"
          f" ({time.monotonic() - started:.0f} s, tests on {'SQLite and PostgreSQL' if args.postgresql else 'SQLite'})")
    for r in survived:
        print(f"  survived: {r.mutation.name} ({r.mutation.path})")
    return 0 if len(caught) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
