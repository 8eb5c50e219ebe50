"""pfSense checks: the firewall's ``config.xml`` read over its console, judged by :mod:`checks.network.pfsense`.

How the file is read, and why this route. pfSense's SSH account (``admin``) lands on the
console menu (``/etc/rc.initial``), not on a shell; its non-interactive form runs
``/bin/sh -c $1`` with ``$1`` unquoted, so a command with arguments loses them (only its
first word runs) and the ``ssh`` channel's batch envelope cannot run there. The ``cli``
channel drives the menu as a person does: option 8 (Shell), then ``/bin/cat
/conf/config.xml`` as one command of the one interactive session, framed by a computed
sentinel (see :mod:`grader.probes.cli`). The rubric's host says so::

    transport: cli
    options: {cli: {dialect: shell, menu: "8"}}

The file is the configuration pfSense applies (the GUI writes it, ``/conf`` links to
``/cf/conf``); reading it is passive. Every check of a host shares the one probe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from checks._common.text import clip, reason_of
from checks.network import pfsense
from checks.network._common import Address, Network
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.cli import cli

CONFIG = "/bin/cat /conf/config.xml"


class _PfCheck(Check):
    platform = "network"
    transport = "cli"
    dialect = "shell"  # what the host's options.cli.dialect must be: pfSense's shell (console menu option 8) (checked by load_rubric)

    def probes(self, params: CheckParams) -> Mapping[str, Probe]:
        return {"config": cli(CONFIG, timeout=30.0)}

    def judge(self, params: CheckParams, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["config"]
        if r.truncated:
            return Verdict.erreur(Msg("config.xml tronqué à la lecture"), observed=clip(r.stdout))
        try:
            cfg = pfsense.parse_config(r.stdout.strip())
        except ValueError as exc:
            return Verdict.erreur(Msg("/conf/config.xml illisible : {exc}", exc=reason_of(exc)),
                                  observed=clip(r.stdout.strip()))
        return self.judge_config(params, cfg)

    def judge_config(self, params: Any, cfg: pfsense.PfConfig) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError


class PfPortForward(_PfCheck):
    """La redirection de port du pare-feu envoie le port {port} vers {target}.

    A port forward (NAT) of ``interface`` (wan by default), enabled, sends ``protocol``/``port``
    to ``target`` (and ``local_port`` when given); aliases are resolved.
    """

    id = "network.pfsense_port_forward"
    usually_serves = ("CP6.2",)
    example = "{port: 8080, target: 192.168.1.20, local_port: 80}"

    class Params(CheckParams):
        port: int = Field(ge=1, le=65535)
        target: Address
        local_port: int | None = Field(default=None, ge=1, le=65535)
        protocol: Literal["tcp", "udp"] = "tcp"
        interface: str = "wan"


    def judge_config(self, params: Params, cfg: pfsense.PfConfig) -> Verdict:
        return pfsense.judge_port_forward(cfg, port=params.port, target=params.target, local_port=params.local_port,
                                          protocol=params.protocol, interface=params.interface)


class PfOutboundNat(_PfCheck):
    """Le NAT sortant du pare-feu traduit le réseau {source} par l'interface {interface}."""

    id = "network.pfsense_outbound_nat"
    usually_serves = ("CP6.1",)
    example = "{source: 192.168.1.0/24, interface: wan}"

    class Params(CheckParams):
        source: Network
        interface: str = "wan"

    def judge_config(self, params: Params, cfg: pfsense.PfConfig) -> Verdict:
        return pfsense.judge_outbound_nat(cfg, source=params.source, interface=params.interface)


class PfFilterRule(_PfCheck):
    """Les règles du pare-feu traitent comme attendu le trafic {protocol} entrant sur l'interface {interface}.

    pfSense's order: floating rules first (a *quick* one that matches decides; one without quick
    decides only if no rule of the interface matches), then the first match among ``interface``'s
    rules, then the default block; ``allowed`` says whether the traffic must pass. A floating rule
    that blocks the traffic on its way out of another interface, or a floating rule of a type we do
    not know, makes it erreur (where the traffic leaves depends on the routing).
    """

    id = "network.pfsense_filter"
    usually_serves = ("CP6.1",)
    example = "{interface: wan, protocol: tcp, port: 22, allowed: false}"

    class Params(CheckParams):
        interface: str
        protocol: Literal["tcp", "udp", "icmp"] = "tcp"
        port: int | None = Field(default=None, ge=1, le=65535)
        allowed: bool
        source: Address | None = None
        destination: Address | None = None

    def judge_config(self, params: Params, cfg: pfsense.PfConfig) -> Verdict:
        return pfsense.judge_filter(cfg, interface=params.interface, protocol=params.protocol, port=params.port,
                                    allowed=params.allowed, source=params.source, destination=params.destination)


class PfDhcpRange(_PfCheck):
    """Le serveur DHCP du pare-feu distribue la plage {start} - {end} sur {interface}."""

    id = "network.pfsense_dhcp_range"
    usually_serves = ("CP5.1",)
    example = "{interface: lan, start: 192.168.1.100, end: 192.168.1.199}"

    class Params(CheckParams):
        interface: str = "lan"
        start: Address
        end: Address

    def judge_config(self, params: Params, cfg: pfsense.PfConfig) -> Verdict:
        return pfsense.judge_dhcp_range(cfg, interface=params.interface, start=params.start, end=params.end)


class PfSyslogRemote(_PfCheck):
    """Le pare-feu envoie ses journaux au serveur syslog {server}."""

    id = "network.pfsense_syslog_remote"
    usually_serves = ("CP13.3",)
    example = "{server: 192.168.1.5, port: 514}"

    class Params(CheckParams):
        server: str = Field(min_length=1)
        port: int = Field(default=514, ge=1, le=65535)

    def judge_config(self, params: Params, cfg: pfsense.PfConfig) -> Verdict:
        return pfsense.judge_syslog_remote(cfg, server=params.server, port=params.port)


CHECKS: tuple[type[Check], ...] = (PfPortForward, PfOutboundNat, PfFilterRule, PfDhcpRange, PfSyslogRemote)
