"""Listening sockets, as the kernel reports them through ``ss``."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from checks._common.text import clip, limited, reason_of, said
from checks.linux._parse import cannot_run, text_lines
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import ssh

SS_CANDIDATES = ("/usr/bin/ss", "/usr/sbin/ss", "/bin/ss", "/sbin/ss")
_LINE = re.compile(
    r"^(?:(?P<netid>tcp|udp)\s+)?(?P<state>[A-Z][A-Z0-9-]*)\s+(?P<recvq>\d+)\s+(?P<sendq>\d+)\s+"
    r"(?P<local>\S+)\s+(?P<peer>\S+)(?:\s+(?P<proc>.*?))?\s*$"
)
_USER = re.compile(r'\("(?P<name>(?:[^"\\]|\\.)*)",pid=(?P<pid>\d+),fd=(?P<fd>\d+)\)')
_COMM_LEN = 15  # the kernel's TASK_COMM_LEN - 1: longer process names are cut


@dataclass(frozen=True)
class Socket:
    """One listening socket line of ``ss``."""

    address: str  # as printed, without the port: 0.0.0.0, [::], *, 127.0.0.53%lo, [fe80::1]%eth0
    port: int
    processes: tuple[str, ...]

    @property
    def host(self) -> str:
        """The address without brackets and interface suffix."""
        host = self.address.split("%", 1)[0]
        return host[1:-1] if host.startswith("[") and host.endswith("]") else host

    @property
    def interface(self) -> str | None:
        return self.address.split("%", 1)[1] if "%" in self.address else None

    @property
    def loopback_only(self) -> bool:
        if self.host == "*":
            return False
        try:
            ip = ipaddress.ip_address(self.host)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return ip.is_loopback or self.interface == "lo"

    def describe(self) -> str | Msg:
        if not self.processes:
            return Msg("{address}:{port} (processus non visible)", address=self.address, port=self.port)
        return f"{self.address}:{self.port} ({', '.join(sorted(set(self.processes)))})"


class SsOutputError(ValueError):
    pass


def parse_ss(text: str) -> list[Socket]:
    """Parse ``ss -Hlnp`` output (a header line, if any, is skipped); garbage raises SsOutputError."""
    sockets = []
    for line in text_lines(text):
        if not line.strip():
            continue
        if line.startswith(("State ", "Netid ")):
            continue
        m = _LINE.match(line)
        if not m:
            raise SsOutputError(Msg("ligne de ss illisible : {line}", line=repr(clip(line, 100))))
        address, sep, port = m.group("local").rpartition(":")
        if not sep or not port.isdigit() or not address:
            raise SsOutputError(Msg("adresse locale illisible : {address}", address=repr(m.group("local"))))
        proc = m.group("proc") or ""
        if proc and not proc.startswith("users:("):
            raise SsOutputError(Msg("colonne processus illisible : {column}", column=repr(clip(proc, 100))))
        names = tuple(u.group("name") for u in _USER.finditer(proc))
        if proc and not names:
            raise SsOutputError(Msg("colonne processus illisible : {column}", column=repr(clip(proc, 100))))
        sockets.append(Socket(address, int(port), names))
    return sockets


def process_matches(expected: str, actual: str) -> bool:
    """``ss`` shows the kernel's process name, cut to 15 characters."""
    if actual == expected:
        return True
    return len(actual) == _COMM_LEN and len(expected) > _COMM_LEN and expected.startswith(actual)


class PortListening(Check):
    """Le port {port}/{protocol} est en écoute.

    From ``ss -Hlnp`` (TCP sockets in LISTEN state, or bound UDP sockets). A socket bound
    only to a loopback address (127.0.0.1, ::1) still listens, but the observation says
    so: the service is then not reachable from the network. When ``process`` is given,
    one of the listening sockets must belong to a process of that name (the kernel name,
    cut to 15 characters).
    """

    id = "linux.port_listening"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        port: int = Field(ge=1, le=65535)
        protocol: Literal["tcp", "udp"] = "tcp"
        process: str | None = None

        @field_validator("process")
        @classmethod
        def _process(cls, value: str | None) -> str | None:
            if value is not None and (not value or "\n" in value or '"' in value):
                raise ValueError("nom de processus invalide")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        flag = "-Hlnpt" if params.protocol == "tcp" else "-Hlnpu"
        loop = "; ".join(f'if [ -x {b} ]; then exec {b} {flag}; fi' for b in SS_CANDIDATES)
        return {"ss": ssh(f"{loop}; printf 'ss introuvable\\n' >&2; exit 127")}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["ss"]
        where = f"{params.port}/{params.protocol}"
        expected = (Msg("en écoute sur {where} par {process}", where=where, process=params.process) if params.process
                    else Msg("en écoute sur {where}", where=where))
        reason = cannot_run(r)
        if reason == "ss introuvable":  # the probe's own words (on stderr, exit 127)
            reason = Msg("ss introuvable")
        if reason:
            return Verdict.erreur(Msg("ss n'a pas pu être exécuté : {reason}", reason=reason), expected=expected)
        if r.exit_code != 0:
            return Verdict.erreur(Msg("ss a échoué (code {code})",
                                      code=r.exit_code), observed=clip(r.stderr or r.stdout),
                                  expected=expected)
        try:
            sockets = parse_ss(r.stdout)
        except SsOutputError as exc:
            return Verdict.erreur(Msg("sortie de ss illisible : {exc}",
                                      exc=reason_of(exc)), observed=clip(r.stdout), expected=expected)
        on_port = [s for s in sockets if s.port == params.port]
        if not on_port:
            if r.truncated:
                return Verdict.erreur(Msg("sortie de ss tronquée : le port a pu être omis"), expected=expected)
            return Verdict.non_conforme(Msg("rien n'écoute sur {where}", where=where), expected,
                                        Msg("Aucun service n'écoute sur le port {where}.", where=where))
        matching = on_port
        if params.process:
            matching = [s for s in on_port if any(process_matches(params.process, p) for p in s.processes)]
            if not matching:
                if all(not s.processes for s in on_port):
                    return Verdict.erreur(Msg("le port est en écoute mais le processus n'est pas identifiable"),
                                          observed=said(limited([s.describe() for s in on_port])), expected=expected)
                return Verdict.non_conforme(said(limited([s.describe() for s in on_port])), expected,
                                            Msg("Le port {where} est tenu par un autre processus que {process}.",
                                                where=where, process=params.process))
        listed = limited([s.describe() for s in matching])
        if all(s.loopback_only for s in matching):
            return Verdict.conforme(Msg("{sockets} — uniquement en local (boucle locale), injoignable depuis le réseau",
                                        sockets=listed), expected,
                                    Msg("Le port {where} est en écoute, mais seulement sur l'adresse de boucle locale.",
                                        where=where))
        return Verdict.conforme(said(listed), expected, Msg("Le port {where} est en écoute.", where=where))
