"""How fast a hostile room ends: the times the tests no longer assert (tests assert outcomes, this measures).

Real endpoints on loopback (tests/hostile: SSH servers that never send a banner, answer no exec, or
stall mid-output; LDAPS servers silent or trickling after the bind), the real channels and runner.
Each line prints how long grading took against the budget it had, so the ratio says whether a
deadline is honoured (close to 1) or ignored (the old code: 15 s, or never, for a 3 s budget). Then
``grader run`` against three silent endpoints, interrupted by one SIGINT: how long until it exits.

    python bench/bench_hostile.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paramiko

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.plugins import default_catalogue
from grader.probes.ldap import LdapOptions, search
from grader.roster import Candidate
from grader.rubric import Credential, load_rubric
from grader.runner import grade_host, plan, run_jobs
from grader.terminal import configure_logging
from grader.transports.base import HostContext
from grader.transports.deadline import HostDeadline
from grader.transports.ldap import LdapChannel
from tests.hostile.ldap import HostileLdap
from tests.hostile.ssh import HostileSsh, room, rubric_file

BUDGET = 4.0


def _ssh_host(work: Path, key: Path, behaviour: str) -> float:
    server = HostileSsh(behaviour)
    try:
        rubric = load_rubric(rubric_file(work, key, port=server.port, budget=BUDGET))
        job = plan(rubric, [Candidate("01", "", {"n": "1"})], default_catalogue())[0]
        t0 = time.monotonic()
        grade_host(job, work / f"kh-{behaviour}-{time.monotonic_ns()}")
        return time.monotonic() - t0
    finally:
        server.close()


def _ssh_room(work: Path, key: Path) -> float:
    servers = room(("no_banner", "silent_exec", "partial_stall"))
    try:
        rubric = load_rubric(rubric_file(work, key, port=servers[0].port, budget=BUDGET, address="127.0.0.{{ n }}"))
        jobs = plan(rubric, [Candidate(f"0{i}", "", {"n": str(10 + i)}) for i in (1, 2, 3)], default_catalogue())
        t0 = time.monotonic()
        run_jobs(jobs, known_hosts_path=work / f"kh-room-{time.monotonic_ns()}", workers=8)
        return time.monotonic() - t0
    finally:
        for server in servers:
            server.close()


def _ldap(work: Path, behaviour: str) -> float:
    server = HostileLdap(behaviour, trickle=0.5)
    deadline = HostDeadline(BUDGET).start()
    secret = work / "pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    host = HostContext(name="dc", address="127.0.0.1", platform="windows", port=None,
                       credential=Credential(username="grader@tssr.lan", password_file=str(secret)),
                       credentials={}, connect_timeout=2.0, deadline=deadline,
                       options=LdapOptions(port=server.port, ca_file=server.ca_file, tls_name="127.0.0.1"))
    try:
        t0 = time.monotonic()
        with contextlib.suppress(Exception):  # an erreur is an outcome here: only the time is measured
            LdapChannel().collect(host, [search("(objectClass=user)", ["cn"], timeout=2)])
        return time.monotonic() - t0
    finally:
        deadline.cancel()
        server.close()


def _ctrl_c(work: Path, key: Path) -> float:
    servers = room(("silent_exec",) * 3)
    try:
        rubric = rubric_file(work, key, port=servers[0].port, budget=60, address="127.0.0.{{ n }}")
        roster = work / "candidats.csv"
        roster.write_text("candidat;n\n01;11\n02;12\n03;13\n", encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "grader.cli", "run", str(rubric), str(roster), "--session",
                                 str(work / f"session-{time.monotonic_ns()}"), "--no-report"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "COLUMNS": "200"})
        assert proc.stdout is not None
        proc.stdout.readline()  # the run has started
        time.sleep(2)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        return time.monotonic() - t0
    finally:
        for server in servers:
            server.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    configure_logging()  # the hostile servers' paramiko tracebacks are not the measure
    with tempfile.TemporaryDirectory(prefix="grader-hostile-") as tmp:
        work = Path(tmp)
        key = work / "id_rsa"
        paramiko.RSAKey.generate(2048).write_private_key_file(str(key))
        key.chmod(0o600)
        cases = {
            **{f"ssh {b} (one host)": (lambda b=b: _ssh_host(work, key, b), BUDGET)
               for b in ("no_banner", "silent_exec", "partial_stall")},
            "ssh room of three hostile hosts": (lambda: _ssh_room(work, key), BUDGET),
            **{f"ldap {b}": (lambda b=b: _ldap(work, b), BUDGET) for b in ("silent_after_bind", "trickle_after_bind")},
        }
        print(f"median of {args.rounds} rounds (s); budget = the host's deadline")
        print(f"{'case':40}{'ended after':>12}{'budget':>9}{'ratio':>8}")
        for name, (run, budget) in cases.items():
            took = statistics.median(run() for _ in range(args.rounds))
            print(f"{name:40}{took:>12.2f}{budget:>9.1f}{took / budget:>7.2f}x")
        stop = statistics.median(_ctrl_c(work, key) for _ in range(args.rounds))
        print(f"{'grader run, one SIGINT: until exit':40}{stop:>12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
