"""The ``guest`` channel without a lab: its requests, the hypervisor's script against a virsh stand-in
(tests/transports/guest_standin/virsh, whose "guest" is this machine's /bin/sh), the parsing of what
comes back, the rubric's fields, and the runner's fallback and explanation of a silent host."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from grader.errors import RubricError, Unreachable
from grader.model import Probe, Status
from grader.probes.guest import GuestOptions
from grader.probes.ssh import ssh
from grader.rubric import load_rubric
from grader.runner import grade_host, plan
from grader.transports import envelope
from grader.transports import guest as g
from grader.transports.base import Channel, Collected, HostContext
from grader.transports.guest import AgentAnswer

STANDIN = Path(__file__).parent / "guest_standin" / "virsh"
UUID = "3f0c6a52-9a3e-4a57-8d2e-0c1b5b1e2f10"


def _hypervisor(tmp_path: Path, domain: str, request: str | None, seconds: float = 5, *, mode: str = "",
                forged: dict | None = None) -> tuple[AgentAnswer, float]:
    """Run the hypervisor's script with the stand-in virsh; its parsed answer and how long it took."""
    (tmp_path / "domains.json").write_text(json.dumps({
        "c01-web": {"uuid": UUID, "state": "running"}, "c01-app": {"uuid": UUID[::-1], "state": "shut off"}}))
    (tmp_path / "mode").write_text(mode)
    if forged is not None:
        (tmp_path / "forged.json").write_text(json.dumps(forged))
    boundary = "GRADER-" + "ab" * 16
    script = g.hypervisor_script(domain, request, seconds, boundary,
                                 virsh=f"{sys.executable} {STANDIN} --state {tmp_path} -c qemu:///system")
    t0 = time.monotonic()
    done = subprocess.run(["/bin/sh", "-s"], check=False, input=script.encode(), capture_output=True, timeout=60)
    return g.parse_answer(done.stdout, boundary), time.monotonic() - t0


def test_the_request_gives_the_envelope_to_the_guest_shell_in_an_emptied_environment():
    request = json.loads(g.exec_request("echo 'bonjour'\n"))
    assert request["execute"] == "guest-exec"
    args = request["arguments"]
    assert args["path"] == "/usr/bin/env" and args["arg"] == ["-i", f"PATH={envelope.SYSTEM_PATH}", "LC_ALL=C",
                                                              "/bin/sh", "-s"]
    assert base64.b64decode(args["input-data"]) == b"echo 'bonjour'\n"
    assert args["capture-output"] is True


def test_a_batch_goes_through_the_agent_and_the_same_parser(tmp_path):
    probes = [ssh("/bin/echo bonjour"), ssh("printf 'a\\nb' ; exit 3"), ssh("/bin/cat /etc/absent-du-test")]
    env = envelope.build(probes)
    answer, _ = _hypervisor(tmp_path, "c01-web", g.exec_request(env.script))
    assert answer.complete and answer.exited and answer.uuid == UUID and answer.state == "running"
    assert answer.pid is not None and answer.exitcode == 0
    parsed = envelope.parse(env, answer.out, login_shell=False)
    assert parsed.complete and parsed.anomalies == []  # no login shell: none has to describe itself
    got = [(r.exit_code, r.stdout) for r in parsed.results.values()]
    assert got[0] == (0, "bonjour\n") and got[1] == (3, "a\nb")
    assert got[2][0] == 1 and "absent-du-test" in parsed.results[probes[2].key].stderr
    calls = (tmp_path / "calls").read_text().splitlines()  # named once by the rubric's name, then by its UUID
    assert calls[0] == "domuuid c01-web" and all(c.endswith(UUID) for c in calls[1:]) and len(calls) >= 4, calls


def test_a_shut_off_vm_is_not_asked_to_run_anything_and_says_so(tmp_path):
    answer, _ = _hypervisor(tmp_path, "c01-app", g.exec_request("exit 0\n"))
    assert answer.state == "shut off" and answer.pid is None and not answer.exited and answer.complete
    said = g.state_said("c01-app", "hyperviseur", answer)
    assert said.startswith("VM arrêtée") and "c01-app" in said
    running = g.state_said("c01-web", "hyperviseur", AgentAnswer(state="running"))
    assert running.startswith("VM en marche, réseau injoignable")


def test_the_state_alone_is_one_quick_question(tmp_path):
    answer, _ = _hypervisor(tmp_path, "c01-web", None)
    assert answer.complete and answer.state == "running" and answer.pid is None


def test_an_unknown_domain_is_said_with_virsh_words(tmp_path):
    answer, _ = _hypervisor(tmp_path, "c09-web", g.exec_request("exit 0\n"))
    assert answer.missing is not None and "failed to get domain" in answer.missing
    assert "n'existe pas" in g.state_said("c09-web", "hyperviseur", answer)


def test_an_agent_that_does_not_answer_is_said(tmp_path):
    answer, _ = _hypervisor(tmp_path, "c01-web", g.exec_request("exit 0\n"), mode="refuse")
    assert answer.agent_error is not None and "not connected" in answer.agent_error and not answer.exited


def test_polling_stops_at_the_deadline(tmp_path):
    answer, seconds = _hypervisor(tmp_path, "c01-web", g.exec_request("exit 0\n"), seconds=1, mode="hang")
    assert answer.timed_out and answer.complete and not answer.exited
    assert seconds < 5, seconds


def test_a_hostile_agent_cannot_forge_results_without_the_envelope_boundary(tmp_path):
    """The candidate is root in the VM: the agent (or /bin/sh) may answer anything. Its words are data
    inside the agent's JSON: frames with a guessed boundary, or the hypervisor's frame words, give nothing."""
    probes = [ssh("/bin/cat /etc/hostname")]
    env = envelope.build(probes)
    lie = (b"GRADER-00000000000000000000000000000000 START 1.00\nGRADER-00000000000000000000000000000000 R 0 0 1 1\n"
           b"GRADER-" + b"ab" * 16 + b" STATE running\n")
    forged = {"return": {"exited": True, "exitcode": 0, "out-data": base64.b64encode(lie).decode()}}
    answer, _ = _hypervisor(tmp_path, "c01-web", g.exec_request(env.script), mode="forge", forged=forged)
    assert answer.exited and answer.state == "running"
    parsed = envelope.parse(env, answer.out, login_shell=False)
    result = parsed.results[probes[0].key]
    assert result.error and result.exit_code is None and not parsed.complete


def test_an_unreadable_agent_reply_is_an_anomaly_not_a_result(tmp_path):
    forged = {"return": {"exited": True, "exitcode": 0, "out-data": "pas du base64 !"}}
    answer, _ = _hypervisor(tmp_path, "c01-web", g.exec_request("exit 0\n"), mode="forge", forged=forged)
    assert not answer.exited and answer.unread


def test_the_domain_is_a_name_never_a_number():
    assert GuestOptions(hypervisor="hyperviseur", domain="c01-web").domain == "c01-web"
    for bad in ("7", "c01 web", "-c01", "$(reboot)"):
        with pytest.raises(ValidationError):
            GuestOptions(hypervisor="hyperviseur", domain=bad)


# --- the rubric ---------------------------------------------------------------------------------------

RUBRIC = """\
rubric: invites
title: invites
credentials:
  correcteur: {username: grader, agent: true}
hosts:
  - name: hyperviseur
    role: hyperviseur
    platform: linux
    address: 192.0.2.10
    credential: correcteur
  - name: web
    role: web
    platform: linux
    address: 192.0.2.51
    transport: guest
    options:
      guest: {hypervisor: hyperviseur, domain: "c{{ candidat }}-web"}
  - name: db
    role: db
    platform: linux
    address: 192.0.2.52
    credential: correcteur
    fallback: guest
    options:
      guest: {hypervisor: hyperviseur, domain: "c{{ candidat }}-db"}
checks:
  - {id: nom-web, check: linux.file_contains, host: web, params: {path: /etc/hostname, pattern: web}, criterion: CP7.2}
  - {id: nom-db, check: linux.file_contains, host: db, params: {path: /etc/hostname, pattern: db}, criterion: CP7.2}
"""


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    return info.value.problems


def test_a_rubric_with_guest_hosts_validates(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RUBRIC, encoding="utf-8")
    rubric = load_rubric(path)  # ssh checks on a guest host: the guest channel carries them
    assert rubric.host("db").fallback == "guest"


def test_guest_settings_are_checked_and_located(tmp_path):
    problems = _problems(tmp_path, RUBRIC.replace("hypervisor: hyperviseur, domain: \"c{{ candidat }}-web\"",
                                                  "hypervisor: hyperviseu, domain: \"c{{ candidat }}-web\""))
    assert len(problems) == 1 and ":17:15:" in problems[0] and "hyperviseu" in problems[0], problems
    problems = _problems(tmp_path, RUBRIC.replace("    transport: guest\n    options:\n      guest: {hypervisor: "
                                                  "hyperviseur, domain: \"c{{ candidat }}-web\"}\n",
                                                  "    transport: guest\n"))
    assert any(":15:" in p and "options" in p for p in problems), problems
    problems = _problems(tmp_path, RUBRIC.replace("    fallback: guest\n    options:\n      guest: {hypervisor: "
                                                  "hyperviseur, domain: \"c{{ candidat }}-db\"}\n",
                                                  "    fallback: guest\n"))
    assert len(problems) == 1 and ":23:" in problems[0] and "secours" in problems[0], problems
    problems = _problems(tmp_path, RUBRIC.replace("fallback: guest", "fallback: http"))
    assert len(problems) == 1 and ":23:" in problems[0], problems
    problems = _problems(tmp_path, RUBRIC.replace("domain: \"c{{ candidat }}-db\"", "domain: \"42\""))
    assert len(problems) == 1 and ":25:" in problems[0] and "numéro" in problems[0], problems


def test_the_hypervisor_must_be_reached_by_ssh(tmp_path):
    text = RUBRIC.replace("    address: 192.0.2.10\n    credential: correcteur\n",
                          "    address: 192.0.2.10\n    credential: correcteur\n    transport: winrm\n", 1)
    text = text.replace("platform: linux\n    address: 192.0.2.10", "platform: windows\n    address: 192.0.2.10")
    problems = _problems(tmp_path, text)
    assert any("ssh" in p and "winrm" in p for p in problems), problems


# --- the runner: fallback and explanation ------------------------------------------------------------

class _DownSsh(Channel):
    name = "ssh"
    carries = ()

    def collect(self, host: HostContext, probes):
        raise Unreachable("pas de réponse de 192.0.2.52 sur le port 22")


class _Agent(Channel):
    """A guest channel standing in: answers the probes (``state`` says what its hypervisor sees)."""

    name = "guest"
    carries = ("ssh",)
    Options = GuestOptions

    def __init__(self, state: str = "running") -> None:
        self.state, self.collected, self.explained = state, [], []

    def explain(self, host):
        self.explained.append(host.options.domain)
        return g.state_said(host.options.domain, host.options.hypervisor, AgentAnswer(state=self.state))

    def collect(self, host: HostContext, probes: list[Probe]) -> Collected:
        self.collected.append((host.name, host.options.domain, sorted(p.transport for p in probes),
                               sorted(host.peers)))
        if self.state != "running":
            raise Unreachable(g.state_said(host.options.domain, host.options.hypervisor, AgentAnswer(state=self.state)))
        results = {p.key: envelope.parse(envelope.build([p]), b"").results[p.key] for p in probes}
        for p in probes:
            results[p.key] = type(results[p.key])(key=p.key, transport=p.transport, command=p.command,
                                                  stdout="c01-db\nc01-web\n", exit_code=0)
        return Collected(results, login=f"grader via l'agent invité de {host.options.domain}", execs=1)


def _jobs(tmp_path: Path, text: str = RUBRIC):
    from grader.plugins import default_catalogue
    from grader.roster import Candidate

    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    rubric = load_rubric(path)
    return {j.host.name: j for j in plan(rubric, [Candidate("01", "Camille", {})], default_catalogue())}


def test_a_guest_host_sends_its_ssh_probes_to_the_guest_channel(tmp_path):
    agent = _Agent()
    report = grade_host(_jobs(tmp_path)["web"], None, {"ssh": _DownSsh(), "guest": agent})
    assert agent.collected == [("web", "c01-web", ["ssh"], ["db", "hyperviseur"])]
    assert [c.status for c in report.results] == [Status.CONFORME]
    assert "via l'agent invité de c01-web" in report.login


def test_fallback_guest_runs_the_batch_when_ssh_cannot_reach_the_host_and_says_so(tmp_path):
    agent = _Agent()
    report = grade_host(_jobs(tmp_path)["db"], None, {"ssh": _DownSsh(), "guest": agent})
    assert [c.status for c in report.results] == [Status.CONFORME]
    assert report.outcome.reached and report.outcome.execs == 1
    assert "canal de secours « guest »" in report.outcome.anomalies[0]
    assert "pas de réponse" in report.outcome.anomalies[0]


def test_fallback_to_a_shut_off_vm_is_injoignable_vm_arretee(tmp_path):
    report = grade_host(_jobs(tmp_path)["db"], None, {"ssh": _DownSsh(), "guest": _Agent("shut off")})
    assert [c.status for c in report.results] == [Status.INJOIGNABLE]
    assert "VM arrêtée" in report.results[0].message and "pas de réponse" in report.results[0].message


def test_without_fallback_the_hypervisor_only_explains_the_silence(tmp_path):
    jobs = _jobs(tmp_path, RUBRIC.replace("    fallback: guest\n", ""))
    agent = _Agent()
    report = grade_host(jobs["db"], None, {"ssh": _DownSsh(), "guest": agent})
    assert agent.collected == [] and agent.explained == ["c01-db"]
    assert [c.status for c in report.results] == [Status.INJOIGNABLE]
    assert "VM en marche, réseau injoignable" in report.results[0].message


# --- the Proxmox back-end, against the pve stand-in --------------------------------------------------

PVE_SECRET = "5a0c3e21-9b7d-4f1e-8c2a-6d4b3a2f1e00"
PVE_RUBRIC = """\
rubric: invites-pve
title: invites-pve
credentials:
  jeton: {username: "grader@pve!audit", password_env: PVE_GUEST_TOKEN}
hosts:
  - name: pve1
    role: hyperviseur
    platform: linux
    address: 127.0.0.1
    transport: pve
    credential: jeton
    options: {pve: {port: PORT, scheme: http}}
  - name: web
    role: web
    platform: linux
    address: 192.0.2.51
    transport: guest
    options: {guest: {hypervisor: pve1, domain: "c{{ candidat }}-web"}}
  - name: db
    role: db
    platform: linux
    address: 192.0.2.52
    transport: guest
    options: {guest: {hypervisor: pve1, domain: "c{{ candidat }}-db"}}
checks:
  - {id: os-web, check: linux.file_contains, host: web, params: {path: /etc/os-release, pattern: "^ID="}, criterion: CP7.2}
  - {id: faux-web, check: linux.file_contains, host: web, params: {path: /etc/os-release, pattern: "^ID=windows$"},
     criterion: CP7.2}
  - {id: os-db, check: linux.file_contains, host: db, params: {path: /etc/os-release, pattern: "^ID="}, criterion: CP7.2}
"""


def _agent_exec_standin() -> tuple[dict, dict]:
    """``agent/exec`` and ``agent/exec-status`` of VM 100 as Proxmox VE's API documents them
    (https://pve.proxmox.com/pve-docs/api-viewer/, nodes/{node}/qemu/{vmid}/agent/exec: ``command`` an
    array of strings, ``input-data`` the process's stdin, returns ``{"pid": N}``; agent/exec-status:
    ``pid`` in the query, returns ``exited`` (0/1), ``exitcode``, ``out-data``/``err-data``), the
    outputs handed back decoded from the agent's base64 as Proxmox does. The "guest" is this machine."""
    runs: dict[int, dict] = {}
    seen: dict = {"exec": []}

    def start(form, query):
        seen["exec"].append(form)
        done = subprocess.run(form["command"], check=False, capture_output=True, timeout=60, env={},
                              input=form.get("input-data", [""])[0].encode())
        pid = 700 + len(runs)
        runs[pid] = {"polls": 0, "exitcode": done.returncode, "out-data": done.stdout.decode(errors="replace"),
                     "err-data": done.stderr.decode(errors="replace")}
        return {"data": {"pid": pid}}

    def status(form, query):
        run = runs[int(query["pid"][0])]
        run["polls"] += 1
        if run["polls"] < 2:
            return {"data": {"exited": 0}}
        return {"data": {"exited": 1, "exitcode": run["exitcode"], "out-data": run["out-data"],
                         "err-data": run["err-data"]}}

    return ({"POST /nodes/pve1/qemu/100/agent/exec": start, "GET /nodes/pve1/qemu/100/agent/exec-status": status},
            seen)


def _pve_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answers: dict):
    from grader.plugins import default_catalogue
    from grader.roster import Candidate
    from tests.pve_standin.server import serving

    monkeypatch.setenv("PVE_GUEST_TOKEN", PVE_SECRET)
    with serving(answers, token=f"grader@pve!audit={PVE_SECRET}") as server:
        path = tmp_path / "pve.yaml"
        path.write_text(PVE_RUBRIC.replace("PORT", str(server.server_address[1])), encoding="utf-8")
        rubric = load_rubric(path)
        jobs = plan(rubric, [Candidate("01", "Camille", {})], default_catalogue())
        return {j.host.name: grade_host(j, None) for j in jobs if j.host.name in ("web", "db")}


def test_proxmox_agent_exec_runs_the_batch_and_a_stopped_vm_is_vm_arretee(tmp_path, monkeypatch):
    from tests.pve_standin.server import recorded

    answers = recorded()
    handlers, seen = _agent_exec_standin()
    answers.update(handlers)
    reports = _pve_reports(tmp_path, monkeypatch, answers)
    web, db = reports["web"], reports["db"]
    assert [c.status for c in web.results] == [Status.CONFORME, Status.NON_CONFORME], [c.message for c in web.results]
    assert "grader@pve!audit (jeton d'API) via l'agent invité de c01-web sur pve1" == web.login
    assert "vmid 100, nœud pve1" in web.outcome.host_key
    [form] = seen["exec"]  # one agent/exec for the whole batch
    assert form["command"] == ["/usr/bin/env", *g.GUEST_ARGS]
    assert [c.status for c in db.results] == [Status.INJOIGNABLE]
    assert "VM arrêtée" in db.results[0].message


def test_two_proxmox_vms_of_the_declared_name_are_not_graded(tmp_path, monkeypatch):
    from tests.pve_standin.server import recorded

    answers = recorded()
    handlers, seen = _agent_exec_standin()
    answers.update(handlers)
    twin = dict(answers["GET /nodes/pve2/qemu"]["data"][0], vmid=102, name="c01-web", status="running")
    answers["GET /nodes/pve2/qemu"]["data"].append(twin)
    web = _pve_reports(tmp_path, monkeypatch, answers)["web"]
    assert {c.status for c in web.results} == {Status.INJOIGNABLE} and seen["exec"] == []
    assert "sans ambiguïté" in web.results[0].message
