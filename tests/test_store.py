"""The session store: host-by-host commits that survive ``kill -9``, resume bookkeeping, no secrets."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from grader import __version__
from grader.credentials import resolve_ssh
from grader.errors import StoreError
from grader.model import HostOutcome, Probe, ProbeResult, Status
from grader.roster import Candidate, load_roster
from grader.rubric import Rubric, load_rubric
from grader.runner import CheckResult, HostReport, now
from grader.store import Store, probe_result_from_row

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "rubrics" / "demo.yaml"
DEMO_ROSTER = ROOT / "rubrics" / "demo-roster.csv"
RUN = "20260101-080000-beef"


# --- building reports the way the runner does ---------------------------------------------


def make_report(candidate: str, host: str = "srv-lin", statuses: Sequence[str] = ("conforme", "non_conforme"), *,
                outcome: HostOutcome | None = None, login: str = "grader (clé)", tag: str = "") -> HostReport:
    """A finished host: one evidence per check, one result per status (check ids check-0, check-1...)."""
    probes: list[ProbeResult] = []
    results: list[CheckResult] = []
    for i, status in enumerate(statuses):
        probe = Probe("ssh", f"/usr/bin/dpkg-query -W -f '${{Status}}' paquet-{i}{tag}")
        probes.append(ProbeResult(key=probe.key, transport="ssh", command=probe.command,
                                  stdout=f"install ok installed — réseau {candidate}{tag}\n", stderr="avertissement é\n",
                                  exit_code=i, started="2026-01-01T08:00:00.000+00:00", duration=0.25 + i,
                                  truncated=bool(i % 2), timed_out=False, error=None if i % 2 == 0 else "cadre perdu"))
        results.append(CheckResult(
            check_id=f"check-{i}", check_type="linux.package_installed", criterion="CP9.1", points=1.0 + i,
            sentence=f"Le paquet paquet-{i} est installé", params={"package": f"paquet-{i}", "nested": {"n": [i]}},
            status=Status(status), observed=f"observé {i}{tag}", expected="installé", message=f"message {i}",
            hint="apt install …", probe_keys={"dpkg": probe.key}, judged_at=now()))
    return HostReport(candidate=candidate, host=host, address=f"10.77.{int(candidate)}.10", platform="linux",
                      transport="ssh", login=login,
                      outcome=outcome or HostOutcome(reached=True, host_key="ssh-ed25519 SHA256:AbC", execs=1,
                                                     anomalies=("bannière hors enveloppe",), status=Status.CONFORME),
                      started="2026-01-01T08:00:00+00:00", duration=1.5, probes=probes, results=results)


UNREACHABLE = HostOutcome(reached=False, reason="connexion refusée (port 22)", status=Status.INJOIGNABLE)
HOST_KEY_CHANGED = HostOutcome(reached=False, reason="la clé d'hôte a changé", status=Status.ERREUR)


@pytest.fixture(scope="module")
def demo() -> Rubric:
    return load_rubric(DEMO)


@pytest.fixture(scope="module")
def candidates(demo: Rubric) -> list[Candidate]:
    return load_roster(DEMO_ROSTER, demo)


@pytest.fixture
def store(tmp_path: Path, demo: Rubric, candidates: list[Candidate]):
    s = Store(tmp_path / "session")
    s.new_run(run_id=RUN, rubric=demo, roster_text=DEMO_ROSTER.read_text(encoding="utf-8-sig"), candidates=candidates)
    yield s
    s.close()


def by_key(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


# --- round trip ---------------------------------------------------------------------------


def test_new_run_records_the_rubric_roster_and_candidates(store: Store, demo: Rubric) -> None:
    run = store.run(RUN)
    assert run["state"] == "en_cours" and run["finished"] is None and run["resumes"] == 0
    assert (run["rubric_id"], run["rubric_title"], run["rubric_version"]) == (demo.rubric, demo.title, demo.version)
    assert run["rubric_path"] == str(DEMO)
    assert run["rubric_text"] == DEMO.read_text(encoding="utf-8")
    assert run["roster_text"] == DEMO_ROSTER.read_text(encoding="utf-8-sig")
    assert run["grader_version"] == __version__
    assert store.latest_run() == RUN
    rows = store.candidates(RUN)
    assert [(r["candidate"], r["name"]) for r in rows] == [("01", "Camille Martin"), ("02", "Yanis Benali"),
                                                           ("03", "Léa Dubois")]
    assert [json.loads(r["variables"]) for r in rows] == [{"reseau": f"10.77.{i}", "hyperviseur": "10.77.0.50"} for i in (1, 2, 3)]


def test_save_host_round_trip(store: Store) -> None:
    report = make_report("01")
    store.save_host(RUN, report)

    [host] = store.hosts(RUN)
    assert (host["candidate"], host["host"], host["address"], host["platform"], host["transport"]) == \
        ("01", "srv-lin", "10.77.1.10", "linux", "ssh")
    assert (host["status"], host["reason"], host["host_key"], host["login"], host["execs"]) == \
        ("conforme", "", "ssh-ed25519 SHA256:AbC", "grader (clé)", 1)
    assert json.loads(host["anomalies"]) == ["bannière hors enveloppe"]
    assert (host["started"], host["duration"]) == (report.started, report.duration)

    results = by_key(store.results(RUN), "check_id")
    assert set(results) == {"check-0", "check-1"}
    for r in report.results:
        row = results[r.check_id]
        assert (row["candidate"], row["host"]) == ("01", "srv-lin")
        assert Status(row["status"]) is r.status
        assert json.loads(row["params"]) == r.params
        assert json.loads(row["probe_keys"]) == r.probe_keys
        for name in ("check_type", "criterion", "points", "sentence", "observed", "expected", "message", "hint",
                     "judged_at"):
            assert row[name] == getattr(r, name), name

    evidence = store.evidence(RUN)
    assert len(evidence) == 2
    assert {e["probe_key"]: probe_result_from_row(e) for e in evidence} == {p.key: p for p in report.probes}


def test_unreachable_host_round_trip(store: Store) -> None:
    store.save_host(RUN, make_report("03", statuses=("injoignable", "injoignable"), outcome=UNREACHABLE, login=""))
    [host] = store.hosts(RUN)
    assert (host["status"], host["reason"], host["execs"], host["login"]) == \
        ("injoignable", "connexion refusée (port 22)", 0, "")
    assert {r["status"] for r in store.results(RUN)} == {"injoignable"}


def test_save_host_replaces_previous_attempt_of_that_host_only(store: Store) -> None:
    store.save_host(RUN, make_report("01", statuses=("conforme", "erreur", "conforme")))
    store.save_host(RUN, make_report("02", statuses=("conforme", "erreur")))
    # resume: candidate 01 graded again, fewer checks now, different evidence
    again = make_report("01", statuses=("non_conforme", "conforme"), tag=" (reprise)")
    store.save_host(RUN, again)

    hosts = by_key(store.hosts(RUN), "candidate")
    assert set(hosts) == {"01", "02"}
    results = by_key(store.results(RUN), "candidate", "check_id")
    assert {k: r["status"] for k, r in results.items() if k[0] == "01"} == \
        {("01", "check-0"): "non_conforme", ("01", "check-1"): "conforme"}  # check-2 of the first attempt is gone
    assert results[("01", "check-0")]["observed"] == "observé 0 (reprise)"
    ev01 = [e for e in store.evidence(RUN) if e["candidate"] == "01"]
    assert sorted(e["probe_key"] for e in ev01) == sorted(p.key for p in again.probes)
    # the other host is untouched
    assert {k: r["status"] for k, r in results.items() if k[0] == "02"} == \
        {("02", "check-0"): "conforme", ("02", "check-1"): "erreur"}
    assert len([e for e in store.evidence(RUN) if e["candidate"] == "02"]) == 2


def test_same_host_name_for_two_candidates_is_two_hosts(store: Store) -> None:
    store.save_host(RUN, make_report("01"))
    store.save_host(RUN, make_report("02"))
    assert [(h["candidate"], h["host"]) for h in store.hosts(RUN)] == [("01", "srv-lin"), ("02", "srv-lin")]
    assert len(store.results(RUN)) == 4


def test_conclusive_hosts_excludes_erreur_injoignable_and_non_evalue(store: Store) -> None:
    store.save_host(RUN, make_report("01", "a", ("conforme", "non_conforme")))
    store.save_host(RUN, make_report("01", "b", ("conforme", "erreur")))
    store.save_host(RUN, make_report("01", "c", ("injoignable",), outcome=UNREACHABLE))
    store.save_host(RUN, make_report("02", "a", ("erreur",), outcome=HOST_KEY_CHANGED))
    store.save_host(RUN, make_report("02", "b", ("conforme", "non_evalue")))
    store.save_host(RUN, make_report("02", "c", ()))  # reached, no check judged: nothing to redo
    assert store.conclusive_hosts(RUN) == {("01", "a"), ("02", "c")}
    # after a resume grades 01/b again with a conclusive outcome, it is kept
    store.save_host(RUN, make_report("01", "b", ("conforme", "conforme")))
    assert store.conclusive_hosts(RUN) == {("01", "a"), ("01", "b"), ("02", "c")}


def test_finish_and_reopen_run(store: Store, demo: Rubric) -> None:
    store.new_run(run_id="other", rubric=demo, roster_text="", candidates=[])
    store.finish_run(RUN, "interrompu")
    run = store.run(RUN)
    assert run["state"] == "interrompu" and run["finished"] is not None and run["resumes"] == 0
    store.reopen_run(RUN)
    run = store.run(RUN)
    assert run["state"] == "en_cours" and run["finished"] is None and run["resumes"] == 1
    store.finish_run(RUN, "interrompu")
    store.reopen_run(RUN)
    store.finish_run(RUN, "termine")
    run = store.run(RUN)
    assert run["state"] == "termine" and run["finished"] is not None and run["resumes"] == 2
    other = store.run("other")
    assert other["state"] == "en_cours" and other["resumes"] == 0


def test_unknown_run_names_the_known_ones(store: Store) -> None:
    with pytest.raises(StoreError) as info:
        store.run("nope")
    assert "nope" in str(info.value) and RUN in str(info.value)


def test_empty_store(tmp_path: Path) -> None:
    s = Store(tmp_path / "new" / "session")  # creates the directory
    try:
        assert s.runs() == [] and s.latest_run() is None
    finally:
        s.close()


def test_wal_mode_is_on(store: Store) -> None:
    other = sqlite3.connect(store.path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent, set on the file
    finally:
        other.close()


def test_reopening_the_store_keeps_everything(tmp_path: Path, store: Store) -> None:
    store.save_host(RUN, make_report("01"))
    store.close()
    again = Store(store.session_dir)
    try:
        assert [h["candidate"] for h in again.hosts(RUN)] == ["01"]
        assert len(again.results(RUN)) == 2 and len(again.evidence(RUN)) == 2
    finally:
        again.close()


def test_concurrent_saves_from_worker_threads(store: Store) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for j in range(5):
                store.save_host(RUN, make_report(f"{n:02d}", f"h{j}", ("conforme", "non_conforme", "erreur")))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.hosts(RUN)) == 40 and len(store.results(RUN)) == 120 and len(store.evidence(RUN)) == 120


def test_locked_database_reports_the_lock_not_a_rollback_error(store: Store) -> None:
    # Regression: when BEGIN IMMEDIATE failed, the ROLLBACK that followed raised
    # « cannot rollback - no transaction is active » and hid the real cause.
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        store._db.execute("PRAGMA busy_timeout=50")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.save_host(RUN, make_report("01"))
        other.execute("ROLLBACK")
        store.save_host(RUN, make_report("01"))  # the store is still usable
        assert len(store.hosts(RUN)) == 1
    finally:
        other.close()


# --- secrets --------------------------------------------------------------------------------


def test_password_env_secret_never_reaches_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      candidates: list[Candidate]) -> None:
    env_name, secret = "GRADER_TEST_STORE_PASSWORD", "Zq9-s3cr3t-jamais-stocké"
    monkeypatch.setenv(env_name, secret)
    text = DEMO.read_text(encoding="utf-8")
    old = "    key_file: /var/lib/grader/lab/id_ed25519\n"
    assert text.count(old) == 1
    path = tmp_path / "password-env.yaml"
    path.write_text(text.replace(old, f"    password_env: {env_name}\n    allow_password: true\n"), encoding="utf-8")
    rubric = load_rubric(path)

    ssh_secret = resolve_ssh(rubric.credentials["correcteur"])
    assert ssh_secret.password == secret  # the secret is really in play during the run
    login = ssh_secret.describe()

    session = tmp_path / "session"
    s = Store(session)
    s.new_run(run_id=RUN, rubric=rubric, roster_text=DEMO_ROSTER.read_text(encoding="utf-8-sig"),
              candidates=candidates)
    for c in candidates:
        s.save_host(RUN, make_report(c.id, login=login))
    run = s.run(RUN)
    assert f"password_env: {env_name}" in run["rubric_text"]  # the rubric is stored as written: the reference
    assert secret not in run["rubric_text"]
    assert all(secret not in h["login"] and h["login"] == "grader (mot de passe)" for h in s.hosts(RUN))

    def stored_bytes() -> bytes:
        return b"".join(p.read_bytes() for p in sorted(session.iterdir()) if p.is_file())

    live = stored_bytes()  # while open: the WAL holds the pages
    s.close()
    closed = stored_bytes()  # after close: checkpointed into the main file
    for data in (live, closed):
        assert env_name.encode() in data  # the files are readable text, so the search below means something
        assert secret.encode("utf-8") not in data
        assert secret.encode("utf-16-le") not in data


# --- durability under kill -9 ----------------------------------------------------------------

CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from grader.store import Store
from grader.rubric import load_rubric
from grader.roster import load_roster
from tests.test_store import make_report, DEMO, DEMO_ROSTER, RUN, HOST_KEY_CHANGED

session, n, hang_on_resave = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "hang"
rubric = load_rubric(DEMO)
store = Store(session)
store.new_run(run_id=RUN, rubric=rubric, roster_text="", candidates=load_roster(DEMO_ROSTER, rubric))
print("run", flush=True)
for i in range(1, n + 1):
    store.save_host(RUN, make_report(f"{i:02d}", statuses=("conforme", "non_conforme", "conforme")))
    print(f"saved {i:02d}", flush=True)
    if sys.stdin.readline().strip() != "next":
        break
if hang_on_resave:
    class Hang:
        # Stops in the middle of the re-save's transaction: after its DELETEs and host row,
        # before any result is inserted.
        def __init__(self, db):
            self.db = db
        def execute(self, sql, *args):
            if sql.startswith("INSERT OR REPLACE INTO results"):
                print("hanging", flush=True)
                time.sleep(600)
            return self.db.execute(sql, *args)
    store._db = Hang(store._db)
    store.save_host(RUN, make_report("01", statuses=("erreur",), outcome=HOST_KEY_CHANGED, tag=" (reprise)"))
time.sleep(600)
"""


class Child:
    """The grading process, driven line by line, to be killed at a chosen point."""

    def __init__(self, session: Path, n: int, hang: bool):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(ROOT), str(session), str(n), "hang" if hang else "no"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)  # end of output: the child is gone

    def expect(self, line: str) -> None:
        try:
            got = self.lines.get(timeout=60)
        except queue.Empty:
            got = "<nothing for 60 s>"
        if got != line:
            self.kill()
            pytest.fail(f"child said {got!r} instead of {line!r}; stderr:\n{self.proc.stderr.read()}")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill(self) -> int:
        """SIGKILL (no atexit, no close(), no checkpoint); the child's return code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(timeout=30)


@pytest.mark.parametrize("k", [1, 3])
def test_kill_9_loses_no_saved_host(tmp_path: Path, k: int) -> None:
    session = tmp_path / "session"
    child = Child(session, n=5, hang=False)
    try:
        child.expect("run")
        for i in range(1, k + 1):
            child.expect(f"saved {i:02d}")
            if i < k:
                child.send("next")
    finally:
        code = child.kill()
    assert code == -signal.SIGKILL, "the child must have been alive until killed"
    assert (session / "grader.sqlite-wal").exists()  # killed with its WAL un-checkpointed: recovery is exercised

    s = Store(session)
    try:
        assert [h["candidate"] for h in s.hosts(RUN)] == [f"{i:02d}" for i in range(1, k + 1)]
        results = s.results(RUN)
        assert len(results) == 3 * k
        assert all(r["status"] in ("conforme", "non_conforme") for r in results)
        assert len(s.evidence(RUN)) == 3 * k
        assert s.run(RUN)["state"] == "en_cours"
        assert s.conclusive_hosts(RUN) == {(f"{i:02d}", "srv-lin") for i in range(1, k + 1)}
        assert s._rows("PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    finally:
        s.close()


def test_kill_9_in_the_middle_of_a_host_keeps_its_previous_attempt(tmp_path: Path) -> None:
    session = tmp_path / "session"
    child = Child(session, n=2, hang=True)
    try:
        child.expect("run")
        child.expect("saved 01")
        child.send("next")
        child.expect("saved 02")
        child.send("stop")
        child.expect("hanging")  # inside the transaction re-saving 01: its old results already deleted
    finally:
        code = child.kill()
    assert code == -signal.SIGKILL

    s = Store(session)
    try:
        hosts = by_key(s.hosts(RUN), "candidate")
        assert set(hosts) == {"01", "02"}
        assert hosts["01"]["status"] == "conforme"
        results = [r for r in s.results(RUN) if r["candidate"] == "01"]
        assert sorted((r["check_id"], r["status"]) for r in results) == \
            [("check-0", "conforme"), ("check-1", "non_conforme"), ("check-2", "conforme")]
        assert not any("(reprise)" in r["observed"] for r in results)
        assert len([e for e in s.evidence(RUN) if e["candidate"] == "01"]) == 3
        assert s.run(RUN)["state"] == "en_cours"
    finally:
        s.close()
