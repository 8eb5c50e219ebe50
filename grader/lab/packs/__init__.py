"""Exam packs in the lab: each pack's scenario as lab hosts, its reference solution, and its self-test.

A pack (``rubrics/packs/<name>/pack.yaml``, see :mod:`grader.packs`) names a *lab module*
(``lab: grader.lab.packs.ccp2``). Adding a pack is adding its folder and one such module, which
exposes three functions built with the existing lab pieces (:mod:`grader.lab.samba`,
:mod:`grader.lab.router`, :mod:`grader.lab.dhcp`, :mod:`grader.lab.proxy`...):

- ``specs(candidates, state="start") -> list[HostSpec]``: the hosts of every candidate
  (``candidates``: ``["01", "02"]``), named :func:`lab_name` (``c01-srv-lin``), in the *start state*
  of the mise en situation: packages installed, nothing of the candidate's work done; with
  ``state="solution"``, the same hosts with :func:`solve`'s work done once they are up;
- ``variables(candidate) -> dict``: the candidate's roster values in the lab (``reseau``...), so the
  self-test (and a trainer) can write the roster of the booted room;
- ``solve(shells, candidate)``: plant the reference solution into the *running* hosts of one
  candidate, ``shells`` mapping each rubric host name to a :class:`~grader.lab.hosts.HostShell`
  (root inside the host, through the lab's own access: never through the grader's grading path).

:func:`selftest` proves a pack: it boots the start state, grades the pack's rubric (every check
must be *non conforme*, none *erreur* or *injoignable*), plants the solution, grades again (every
check *conforme*), then injects each of the pack's phase-2 incidents on the first candidate and
grades again (each incident's check must be *non conforme*), and always tears the lab down.
"""

from __future__ import annotations

import importlib
import shlex
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

from grader.errors import LabError
from grader.lab.base import Progress, say
from grader.lab.hosts import HostShell, HostSpec, Lab

STATES = ("start", "solution")
MAX_CANDIDATES = 20


class LabModule(Protocol):
    """What a pack's lab module provides (see the module docstring)."""

    def specs(self, candidates: Sequence[str], state: str = "start") -> list[HostSpec]: ...

    def variables(self, candidate: str) -> dict[str, str]: ...

    def solve(self, shells: Mapping[str, HostShell], candidate: str) -> None: ...


def lab_name(candidate: str, host: str) -> str:
    """A candidate's host in the lab: ``c01-srv-lin`` for the rubric host ``srv-lin`` of candidate 01."""
    return f"c{candidate}-{host}"


def number(candidate: str) -> int:
    """A candidate's number, which names its network 10.77.<n>.0/24 in the lab."""
    n = int(candidate)
    if not 1 <= n <= 199:
        raise LabError(f"candidat hors du labo : {candidate!r} (01 à 199)")
    return n


def network_variables(candidate: str) -> dict[str, str]:
    """The roster values every pack's lab gives a candidate: ``reseau``, the first three bytes of its network."""
    return {"reseau": f"10.77.{number(candidate)}"}


def plant_file(root: Path, path: str, data: str | bytes, mode: int = 0o644) -> None:
    """Write ``path`` into a host's tree before boot (a symbolic link there is replaced, never followed)."""
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    target.write_bytes(data.encode() if isinstance(data, str) else data)
    target.chmod(mode)


Solver = Callable[[HostShell, str], None]


def with_solution(spec: HostSpec, candidate: str, solvers: Mapping[str, Solver]) -> HostSpec:
    """``spec`` whose setup, once the host is up, also does the reference solution of its host."""
    from dataclasses import replace

    from grader.lab.hosts import then

    host = spec.own_hostname
    return replace(spec, setup=then(spec.setup, lambda shell: solvers[host](shell, candidate)))


def solve_hosts(shells: Mapping[str, HostShell], candidate: str, hosts: Sequence[str],
                solvers: Mapping[str, Solver]) -> None:
    """What the reference candidate does, host by host in ``hosts``' order (only the hosts given)."""
    for host in hosts:
        if host in shells:
            solvers[host](shells[host], candidate)


def candidate_ids(count: int) -> list[str]:
    """``01``, ``02``... (the lab's networks are 10.77.<n>.0/24)."""
    if not 1 <= count <= MAX_CANDIDATES:
        raise LabError(f"un paquet d'examen démarre de 1 à {MAX_CANDIDATES} candidats dans le labo")
    return [f"{n:02d}" for n in range(1, count + 1)]


def load_module(name: str) -> LabModule:
    """Import a pack's lab module and check it has the three functions."""
    try:
        module: ModuleType = importlib.import_module(name)
    except ImportError as exc:
        raise LabError(f"module de labo introuvable : {name} ({exc})") from exc
    missing = [f for f in ("specs", "variables", "solve") if not callable(getattr(module, f, None))]
    if missing:
        raise LabError(f"le module de labo {name} ne définit pas : {', '.join(missing)}")
    return cast(LabModule, module)


# --- helpers for solve() and incidents: commands and files inside a running host -------------------------

def sh(shell: HostShell, script: str, *, timeout: float = 120, what: str | None = None) -> str:
    """Run a POSIX sh script inside the host as root; its stdout, or LabError with its stderr."""
    proc = shell.run("/bin/sh", "-c", script, timeout=timeout)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-600:]
        raise LabError(f"{shell.name} : {what or script[:80]} : échec (code {proc.returncode}) : {detail}")
    return proc.stdout


def write(shell: HostShell, path: str, content: str, mode: str = "0644") -> None:
    """Write a file inside the running host (root:root, ``mode``), its directory made if needed."""
    quoted = shlex.quote(path)
    script = (f"/bin/mkdir -p \"$(/usr/bin/dirname {quoted})\" && /bin/cat > {quoted} && "
              f"/bin/chown root:root {quoted} && /bin/chmod {mode} {quoted}")
    proc = shell.run("/bin/sh", "-c", script, input=content, timeout=30)
    if proc.returncode != 0:
        raise LabError(f"{shell.name} : écriture de {path} : {(proc.stderr or proc.stdout).strip()}")


def shells_of(lab: Lab, candidate: str, hosts: Sequence[str]) -> dict[str, HostShell]:
    """The running hosts of one candidate, by rubric host name (those that are up)."""
    shells: dict[str, HostShell] = {}
    for host in lab.status():
        for name in hosts:
            if host["name"] == lab_name(candidate, name) and host["state"] == "running":
                shells[name] = HostShell(host["name"], host["ip"], lab.leader(host["name"]))
    return shells


def running_candidates(lab: Lab) -> list[str]:
    """Candidates with at least one running host in the lab (``c01-…`` → ``01``)."""
    found = {h["name"].split("-", 1)[0][1:] for h in lab.status()
             if h["state"] == "running" and h["name"].startswith("c") and "-" in h["name"]}
    return sorted(c for c in found if c.isdigit())


def solve(pack: Any, lab: Lab, candidates: Sequence[str], progress: Progress = None) -> None:
    """Plant the pack's reference solution into the running lab, for each of ``candidates``."""
    module = load_module(pack.lab)
    hosts = [h.name for h in pack.rubric.hosts]
    for candidate in candidates:
        shells = shells_of(lab, candidate, hosts)
        if not shells:
            raise LabError(f"aucun hôte du candidat {candidate} n'est démarré dans le labo")
        say(progress, f"Solution de référence du candidat {candidate}…")
        module.solve(shells, candidate)


def lab_runner(lab: Lab, candidate: str) -> Callable[[str, str], tuple[int, str]]:
    """How an incident reaches a lab host: its command through the lab's root shell (nsenter)."""
    def run(host: str, command: str) -> tuple[int, str]:
        proc = lab.nsenter(lab_name(candidate, host), "/bin/sh", "-c", command, timeout=120)
        return proc.returncode, (proc.stdout + proc.stderr).strip()
    return run


def write_roster(module: LabModule, candidates: Sequence[str], path: Path) -> Path:
    """The roster of the booted room (``candidat;nom;<variables>``), for ``grader run``."""
    rows = [(c, {"nom": f"Candidat {c}", **module.variables(c)}) for c in candidates]
    columns = ["candidat", *dict.fromkeys(k for _, values in rows for k in values)]
    lines = [";".join(columns)] + [";".join([c] + [values.get(k, "") for k in columns[1:]]) for c, values in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- the self-test --------------------------------------------------------------------------------------

@dataclass
class Phase:
    """One grading of the self-test: what was expected, the statuses counted, the offending results."""

    name: str
    expected: str
    counts: Counter[str]
    seconds: float
    wrong: list[str] = field(default_factory=list)  # "candidate check: status (message)"

    @property
    def ok(self) -> bool:
        return not self.wrong


@dataclass
class SelfTest:
    pack: str
    phases: list[Phase] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.phases) and all(p.ok for p in self.phases)


def _grade(rubric: Path, roster: Path, session_dir: Path, known_hosts: Path, *, candidates: Sequence[str] | None = None,
           checks: Sequence[str] | None = None) -> list[dict[str, Any]]:
    from grader import session as sess

    prepared = sess.prepare(rubric, roster, session_dir, only_candidates=candidates, only_checks=checks)
    try:
        sess.grade(prepared, known_hosts=known_hosts, workers=16)
        return prepared.store.results(prepared.run_id)
    finally:
        prepared.store.close()


def _phase(name: str, expected: str, results: list[dict[str, Any]], seconds: float,
           want: Callable[[dict[str, Any]], bool]) -> Phase:
    wrong = [f"{r['candidate']} {r['check_id']} ({r['host']}) : {r['status']} — {r['message'][:160]}"
             for r in results if want(r) and r["status"] != expected]
    return Phase(name, expected, Counter(r["status"] for r in results if want(r)), seconds, wrong)


def selftest(pack: Any, *, candidates: int = 1, session_dir: Path, lab: Lab | None = None,
             incidents: bool = True, progress: Progress = None, timeout: float = 120) -> SelfTest:
    """Boot the pack's start state, grade, solve, grade, inject the incidents, grade; always tear down.

    ``pack``: a :class:`grader.packs.Pack`. The caller holds the lab lock. Each grading is a run of
    the session ``session_dir`` (kept afterwards: its evidence says why a phase failed).
    """
    from grader import incidents as inc

    lab = lab or Lab()
    module = load_module(pack.lab)
    ids = candidate_ids(candidates)
    report = SelfTest(pack.name)
    started = time.monotonic()
    roster = write_roster(module, ids, session_dir / "candidats.csv")
    try:
        say(progress, f"Labo du paquet {pack.name} : état de départ, {len(ids)} candidat(s)…")
        lab.up(module.specs(ids, "start"), progress=progress, timeout=timeout)
        t0 = time.monotonic()
        results = _grade(pack.rubric_path, roster, session_dir, lab.known_hosts_path)
        report.phases.append(_phase("départ", "non_conforme", results, time.monotonic() - t0, lambda r: True))
        solve(pack, lab, ids, progress)
        t0 = time.monotonic()
        results = _grade(pack.rubric_path, roster, session_dir, lab.known_hosts_path)
        report.phases.append(_phase("solution", "conforme", results, time.monotonic() - t0, lambda r: True))
        if incidents and pack.incidents:
            first = ids[0]
            say(progress, f"Incidents de la phase 2 sur le candidat {first}…")
            with inc.open_session_store(session_dir) as store:
                for incident in pack.incidents:
                    inc.inject(pack, incident.id, first, "grader pack selftest", store=store,
                               runner=lab_runner(lab, first))
            proving = {i.check for i in pack.incidents}
            t0 = time.monotonic()
            results = _grade(pack.rubric_path, roster, session_dir, lab.known_hosts_path, candidates=[first],
                             checks=sorted(proving))
            report.phases.append(_phase("incidents", "non_conforme", results, time.monotonic() - t0,
                                        lambda r: r["candidate"] == first and r["check_id"] in proving))
    except Exception as exc:  # noqa: BLE001 - said in the report, the lab still comes down
        report.error = str(exc)
    finally:
        say(progress, "Arrêt du labo…")
        lab.down(progress)
        report.seconds = time.monotonic() - started
    return report
