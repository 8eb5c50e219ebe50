"""Supervision (CP13): the hosts the candidate's RUNNING Nagios has loaded.

Nagios' configuration files say what the candidate wrote, not what the supervision server
does: a host defined in a file the daemon never reread, or a daemon that stopped, supervises
nothing. The daemon itself writes what it loaded: ``objects.cache`` (every object, at start
and reload) and ``status.dat`` (rewritten every ``status_update_interval``, 10 s on Debian,
with one ``hoststatus`` block per host and the daemon's pid in ``programstatus``). Debian's
nagios4 keeps both in ``/var/lib/nagios4``.

The check trusts ``status.dat`` only when it is fresh by the host's own clock and its
``nagios_pid`` is a running Nagios process: a file left by a stopped daemon still lists its
hosts, and proves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field, field_validator

from checks._common.text import clip, limited, reason_of
from checks.network._common import absolute_path
from checks.network.vpn import dated_probe, parse_dated
from grader.check import Check, CheckParams, is_ip_address
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import quote, ssh

STATUS_FILE = "/var/lib/nagios4/status.dat"
OBJECTS_FILE = "/var/lib/nagios4/objects.cache"
PROCESSES = "/usr/bin/pgrep -a -x 'nagios4?'"
_STATUS_LINES = (r"/bin/grep -E '^[a-z]+ \{|^[[:space:]]*(created|nagios_pid|host_name|service_description|"
                 r"current_state|has_been_checked|last_check|plugin_output)=' --")
_OBJECT_LINES = r"/bin/grep -E '^define [a-z]+ \{|^[[:space:]]*(host_name|address)[[:space:]]' --"
_BLOCK = re.compile(r"^([a-z]+) \{\s*$")
_DEFINE = re.compile(r"^define ([a-z]+) \{\s*$")


@dataclass
class ServiceState:
    """One ``servicestatus`` block: the service's last result as the daemon holds it."""

    host: str = ""
    description: str = ""
    state: int | None = None  # 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
    checked: bool = False
    last_check: int = 0
    output: str = ""


@dataclass
class NagiosStatus:
    """What ``status.dat`` says: the daemon's pid, the hosts and the services it holds a status for."""

    pid: int | None = None
    hosts: list[str] = field(default_factory=list)
    services: list[ServiceState] = field(default_factory=list)


def parse_status_dat(text: str) -> NagiosStatus:
    """Block headers and ``key=value`` lines of status.dat (as the probe's grep keeps them)."""
    status = NagiosStatus()
    block = ""
    for raw in text.split("\n"):
        line = raw.strip()
        header = _BLOCK.match(line)
        if header:
            block = header.group(1)
            if block == "servicestatus":
                status.services.append(ServiceState())
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if block == "programstatus" and key == "nagios_pid" and value.isdigit():
            status.pid = int(value)
        elif block == "hoststatus" and key == "host_name" and value:
            status.hosts.append(value)
        elif block == "servicestatus":
            _service_line(status.services[-1], key, value)
    return status


def _service_line(service: ServiceState, key: str, value: str) -> None:
    if key == "host_name":
        service.host = value
    elif key == "service_description":
        service.description = value
    elif key == "current_state" and value.isdigit():
        service.state = int(value)
    elif key == "has_been_checked":
        service.checked = value == "1"
    elif key == "last_check" and value.isdigit():
        service.last_check = int(value)
    elif key == "plugin_output":
        service.output = value


def parse_objects(text: str) -> dict[str, str]:
    """host_name -> address of the ``define host`` blocks of objects.cache."""
    hosts: dict[str, str] = {}
    kind, name, address = "", "", ""
    for raw in text.split("\n") + ["define end {"]:
        header = _DEFINE.match(raw.strip())
        if header:
            if kind == "host" and name:
                hosts[name] = address
            kind, name, address = header.group(1), "", ""
            continue
        words = raw.split(None, 1)
        if len(words) == 2 and words[0] == "host_name":
            name = words[1].strip()
        elif len(words) == 2 and words[0] == "address":
            address = words[1].strip()
    return hosts


def parse_processes(stdout: str) -> dict[int, str]:
    """pid -> command line, from ``pgrep -a``."""
    out: dict[int, str] = {}
    for line in stdout.splitlines():
        pid, _, cmd = line.strip().partition(" ")
        if pid.isdigit():
            out[int(pid)] = cmd
    return out


def _age(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


class SupervisionHosts(Check):
    """Le serveur de supervision (Nagios) en marche surveille les hôtes attendus.

    Probes (one SSH batch): the running Nagios processes (``pgrep``), the host's clock with
    the modification time and the ``hoststatus``/``programstatus`` lines of ``status_file``,
    and the host definitions of ``objects_file`` (names and addresses of what the daemon
    loaded). Each entry of ``hosts`` is a host name (case ignored) or an address. Conforme
    when status.dat was written less than ``max_age`` seconds ago by a running Nagios (its
    ``nagios_pid``) and every expected host is loaded. No Nagios process at all is non
    conforme; a daemon that runs but whose status file is stale or another's is ``erreur``.
    """

    id = "supervision.hosts"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        hosts: list[str] = Field(min_length=1)
        status_file: Annotated[str, absolute_path()] = STATUS_FILE
        objects_file: Annotated[str, absolute_path()] = OBJECTS_FILE
        max_age: int = Field(default=120, ge=10, le=3600)

        @field_validator("hosts")
        @classmethod
        def _hosts(cls, value: list[str]) -> list[str]:
            if any(not h.strip() or any(c.isspace() for c in h.strip()) for h in value):
                raise ValueError("nom ou adresse d'hôte vide ou avec des espaces")
            return [h.strip() for h in value]


    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"processus": ssh(PROCESSES), "etat": dated_probe(params.status_file, _STATUS_LINES),
                "objets": ssh(f"{_OBJECT_LINES} {quote(params.objects_file)}")}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("Nagios en marche, hôtes chargés : {hosts}", hosts=", ".join(params.hosts))
        freshness = running_status(results, params.status_file, params.max_age, expected)
        if isinstance(freshness, Verdict):
            return freshness
        status, observed = freshness
        objects_r = results["objets"]
        addresses = parse_objects(objects_r.stdout) if objects_r.exit_code in (0, 1) else {}
        loaded = {name: addresses.get(name, "") for name in status.hosts}
        shown = [f"{name} ({address})" if address else name for name, address in sorted(loaded.items())]
        observed = Msg("{state} ; hôtes chargés : {hosts}", state=observed,
                       hosts=limited(shown) if shown else Msg("aucun"))
        names = {name.casefold() for name in loaded}
        known_addresses = {a for a in loaded.values() if a}
        missing = [h for h in params.hosts if h.casefold() not in names and h not in known_addresses]
        if not missing:
            return Verdict.conforme(observed, expected,
                                    Msg("Le serveur de supervision en marche surveille les hôtes attendus."))
        by_address = [h for h in missing if is_ip_address(h)]
        if results["etat"].truncated:
            return Verdict.erreur(Msg("le fichier d'état est trop long pour être lu en entier : hôtes absents non "
                                      "prouvés"), observed=observed, expected=expected)
        if by_address and objects_r.exit_code not in (0, 1):
            return Verdict.erreur(Msg("adresses des hôtes illisibles ({objects_file} : {value}) : {items} non "
                                      "vérifiables", objects_file=params.objects_file,
                                      value=clip(objects_r.stderr.strip(), 120) or Msg("échec"),
                                      items=", ".join(by_address)), observed=observed, expected=expected)
        return Verdict.non_conforme(observed, expected, Msg("Le serveur de supervision ne surveille pas : {hosts}.",
                                                            hosts=", ".join(missing)))



def running_status(results: Mapping[str, ProbeResult], status_file: str, max_age: int,
                   expected: Msg) -> tuple[NagiosStatus, Msg] | Verdict:
    """status.dat parsed when a running Nagios wrote it recently (probes ``processus`` and ``etat``); else the verdict.

    Both Nagios checks trust the file on that one rule: a file left by a stopped daemon still lists
    its hosts and services, and proves nothing.
    """
    procs = results["processus"]
    if procs.exit_code not in (0, 1):
        return Verdict.erreur(Msg("liste des processus impossible (code {code})", code=procs.exit_code),
                              observed=clip(procs.stderr), expected=expected)
    running = parse_processes(procs.stdout)
    r = results["etat"]
    try:
        dated = parse_dated(r.stdout)
    except ValueError as exc:
        return Verdict.erreur(Msg("lecture de {status_file} impossible : {exc}", status_file=status_file,
                                  exc=reason_of(exc)), observed=clip(r.stdout), expected=expected)
    daemons = (Msg("aucun processus Nagios") if not running else
               Msg("processus Nagios : {pids}", pids=", ".join(map(str, sorted(running)))))
    if dated.mtime is None:
        where = Msg("{status_file} absent ({detail})", status_file=status_file,
                    detail=clip(r.stderr.strip(), 120) or Msg("illisible"))
        if not running:
            return Verdict.non_conforme(Msg("{shown} ; {output}", shown=daemons, output=where), expected,
                                        Msg("Le serveur de supervision Nagios ne tourne pas."))
        return Verdict.erreur(Msg("Nagios tourne, mais {where} : indiquez son status_file", where=where),
                              observed=daemons, expected=expected)
    status = parse_status_dat(dated.text)
    age = dated.now - dated.mtime
    written = (Msg("{status_file} écrit il y a {age} par le pid {pid}", status_file=status_file,
                   age=_age(max(age, 0)), pid=status.pid) if status.pid else
               Msg("{status_file} écrit il y a {age}", status_file=status_file, age=_age(max(age, 0))))
    observed = Msg("{shown} ; {output}", shown=daemons, output=written)
    if not running:
        return Verdict.non_conforme(observed, expected, Msg("Le serveur de supervision Nagios ne tourne pas : son "
                                                            "fichier d'état est celui d'un démon arrêté."))
    if status.pid not in running or age > max_age or age < -60:
        return Verdict.erreur(Msg("le fichier d'état n'est pas tenu à jour par le démon Nagios en marche (trop "
                                  "ancien ou d'un autre processus) : ses hôtes ne peuvent pas être lus ainsi"),
                              observed=observed, expected=expected)
    return status, Msg("Nagios en marche (pid {pid}), {written}", pid=status.pid, written=written)


STATE_NAMES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


class SupervisionService(Check):
    """Le Nagios en marche vérifie le service {service} de {host}, dans l'état attendu.

    Same probes and trust rule as ``supervision.hosts`` (status.dat fresh, written by a running
    Nagios): the ``servicestatus`` block of ``host`` (its host_name, case ignored) whose
    description is ``service`` (case ignored) exists, has been checked (``has_been_checked=1``:
    a service never checked yet proves nothing) and its ``current_state`` is ``state`` (``OK``
    by default; ``CRITICAL`` when the rubric expects the supervision to see a planted outage).
    """

    id = "supervision.nagios_service"
    platform = "linux"
    transport = "ssh"
    usually_serves = ("CP13.2",)
    example = "{host: srv-lin, service: SSH, state: OK}"

    class Params(CheckParams):
        host: str = Field(min_length=1)
        service: str = Field(min_length=1)
        state: str = Field(default="OK", pattern="^(OK|WARNING|CRITICAL|UNKNOWN)$")
        status_file: Annotated[str, absolute_path()] = STATUS_FILE
        max_age: int = Field(default=120, ge=10, le=3600)

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"processus": ssh(PROCESSES), "etat": dated_probe(params.status_file, _STATUS_LINES)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("service « {service} » de {host} vérifié par Nagios : {state}", service=params.service,
                       host=params.host, state=params.state)
        freshness = running_status(results, params.status_file, params.max_age, expected)
        if isinstance(freshness, Verdict):
            return freshness
        status, daemon = freshness
        found = [s for s in status.services if s.host.casefold() == params.host.casefold()
                 and s.description.casefold() == params.service.casefold()]
        if not found:
            if results["etat"].truncated:
                return Verdict.erreur(Msg("le fichier d'état est trop long pour être lu en entier : service absent non "
                                          "prouvé"), observed=daemon, expected=expected)
            of_host = sorted({s.description for s in status.services if s.host.casefold() == params.host.casefold()})
            return Verdict.non_conforme(Msg("{daemon} ; services de {host} : {services}", daemon=daemon,
                                            host=params.host, services=limited(of_host) if of_host else Msg("aucun")),
                                        expected, Msg("Nagios ne vérifie pas le service {service} de {host}.",
                                                      service=params.service, host=params.host))
        service = found[0]
        state = STATE_NAMES.get(service.state, "?") if service.state is not None else "?"
        observed = Msg("{daemon} ; {service} : {state}", daemon=daemon, service=service.description, state=state)
        if not service.checked:
            return Verdict.erreur(Msg("le service {service} n'a pas encore été vérifié par Nagios (état en attente)",
                                      service=params.service), observed=observed, expected=expected)
        if service.output:
            observed = Msg("{observed} ({output})", observed=observed, output=clip(service.output, 160))
        if state != params.state:
            return Verdict.non_conforme(observed, expected, Msg("Le service {service} de {host} est {state} pour "
                                                                "Nagios.", service=params.service, host=params.host,
                                                                state=state))
        return Verdict.conforme(observed, expected, Msg("Nagios vérifie le service {service} de {host} : {state}.",
                                                        service=params.service, host=params.host, state=state))
