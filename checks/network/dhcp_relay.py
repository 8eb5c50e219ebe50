"""The DHCP relay of a Debian router (isc-dhcp-relay's ``dhcrelay``), read from the running daemon.

Debian's init script starts ``dhcrelay -q $OPTIONS -i IF... $SERVERS`` from
``/etc/default/isc-dhcp-relay``. The file says what the next start would do; the daemon's own
command line (``pgrep -a``) says what relays now: a relay whose file was edited but never
restarted, or that died, relays nothing. So the judge reads the running command line and keeps
the file as evidence. The functional proof is ``network.dhcp_offer`` from a client of the
relayed VLAN: the server's OFFER comes back through the relay.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field

from checks._common.text import clip, limited, said
from checks.network._common import Address
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict

DEFAULTS = "/etc/default/isc-dhcp-relay"
RUNNING = "/usr/bin/pgrep -a -x dhcrelay"
# dhcrelay 4.4's options that take a value (dhcrelay(8)); the other options are flags.
_VALUED = {"-p", "-c", "-A", "-m", "-pf", "-i", "-iu", "-id", "-l", "-u", "-rp", "-s", "-g"}


@dataclass(frozen=True)
class Relay:
    pid: int
    servers: tuple[str, ...]
    interfaces: tuple[str, ...]  # empty: every broadcast interface

    def describe(self) -> Msg:
        return Msg("dhcrelay (pid {pid}) vers {servers}, interfaces {interfaces}", pid=self.pid,
                   servers=", ".join(self.servers) or Msg("aucun serveur"),
                   interfaces=", ".join(self.interfaces) or Msg("toutes"))


def parse_relays(stdout: str) -> list[Relay]:
    """The dhcrelay processes of ``pgrep -a -x dhcrelay`` (pid, then the command line)."""
    relays = []
    for line in stdout.splitlines():
        pid, _, command = line.strip().partition(" ")
        if not pid.isdigit():
            continue
        words = command.split()[1:]
        servers, interfaces = [], []
        i = 0
        while i < len(words):
            word = words[i]
            if word in _VALUED:
                if word in ("-i", "-iu", "-id") and i + 1 < len(words):
                    interfaces.append(words[i + 1])
                i += 2
                continue
            if not word.startswith("-"):
                servers.append(word)
            i += 1
        relays.append(Relay(int(pid), tuple(servers), tuple(interfaces)))
    return relays


def parse_defaults(text: str) -> dict[str, str]:
    """SERVERS, INTERFACES and OPTIONS of Debian's /etc/default/isc-dhcp-relay (a POSIX shell fragment)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name in ("SERVERS", "INTERFACES", "OPTIONS"):
            try:
                words = shlex.split(value, comments=True)
            except ValueError:
                words = [value]
            values[name] = " ".join(words)
    return values


class DhcpRelay(Check):
    """Le routeur relaie les requêtes DHCP vers le serveur {server} (dhcrelay en marche).

    Probes (SSH): the running ``dhcrelay`` processes' command lines and Debian's
    ``/etc/default/isc-dhcp-relay``. Conforme when a dhcrelay runs with ``server`` among its
    servers and, when ``interfaces`` is given, listens on each of them (a relay started without
    ``-i`` listens everywhere). No relay running, or one relaying elsewhere, is non conforme,
    whatever the file says (it is in the evidence).
    """

    id = "network.dhcp_relay"
    platform = "linux"
    transport = "ssh"
    usually_serves = ("CP5.1",)
    example = "{server: 192.168.20.5, interfaces: [eth1, eth2]}"

    class Params(CheckParams):
        server: Address
        interfaces: list[str] = Field(default_factory=list)

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"processus": Probe("ssh", RUNNING, 10.0),
                "defaut": Probe("ssh", f"/bin/cat {DEFAULTS}", 10.0)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("dhcrelay en marche vers {server}{interfaces}", server=params.server,
                       interfaces=f", interfaces {', '.join(params.interfaces)}" if params.interfaces else "")
        running = results["processus"]
        if running.exit_code not in (0, 1):  # pgrep: 0 found, 1 none
            return Verdict.erreur(Msg("liste des processus illisible (code {code})", code=running.exit_code),
                                  observed=clip(running.stderr or running.stdout), expected=expected)
        defaults = results["defaut"]
        conf = parse_defaults(defaults.stdout) if defaults.exit_code == 0 else {}
        file_says = (Msg("{file} : SERVERS=\"{servers}\" INTERFACES=\"{interfaces}\"", file=DEFAULTS,
                         servers=conf.get("SERVERS", ""), interfaces=conf.get("INTERFACES", ""))
                     if defaults.exit_code == 0 else Msg("{file} absent", file=DEFAULTS))
        relays = parse_relays(running.stdout)
        if not relays:
            return Verdict.non_conforme(Msg("aucun dhcrelay en marche ; {file}", file=file_says), expected,
                                        Msg("Aucun relais DHCP ne tourne sur ce routeur."))
        observed = Msg("{relays} ; {file}", relays=said(limited([r.describe() for r in relays])), file=file_says)
        good = [r for r in relays if params.server in r.servers]
        if not good:
            return Verdict.non_conforme(observed, expected, Msg("Le relais DHCP ne transmet pas à {server}.",
                                                                server=params.server))
        missing = [i for i in params.interfaces if good[0].interfaces and i not in good[0].interfaces]
        if missing:
            return Verdict.non_conforme(observed, expected, Msg("Le relais DHCP n'écoute pas sur {interfaces}.",
                                                                interfaces=", ".join(missing)))
        return Verdict.conforme(observed, expected, Msg("Le routeur relaie les requêtes DHCP vers {server}.",
                                                        server=params.server))


CHECKS: tuple[type[Check], ...] = (DhcpRelay,)
