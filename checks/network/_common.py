"""Small pieces the network checks share: validated address parameters, source coverage, IPv4 forwarding.

Why one place: the NAT and filtering checks (nftables, iptables, Cisco IOS, pfSense) read
different configurations but ask the same questions of them, and must answer them the same
way. A rubric's ``source: 192.168.10.0/24`` is refused when the rubric is validated, with one
message, whichever check carries it; "does this rule apply to the whole LAN" is one
computation; and a router whose IPv4 forwarding is off, or unreadable, is judged alike by
every Linux router check.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator

from checks._common.text import clip
from grader.model import Msg, ProbeResult, Verdict


def _network(value: str) -> str:
    ipaddress.ip_network(value, strict=False)
    return value


def _address(value: str) -> str:
    ipaddress.ip_address(value)
    return value


#: A parameter holding a network (``192.168.10.0/24``; host bits allowed), checked when the rubric loads.
Network = Annotated[str, AfterValidator(_network)]
#: A parameter holding one IP address, checked when the rubric loads.
Address = Annotated[str, AfterValidator(_address)]


def absolute_path(what: str = "") -> AfterValidator:
    """A parameter's check that it is an absolute path on one line (``what`` completes the message).

    The path is the file a probe reads on the candidate's host: relative, it would depend on
    the probe's working directory, and a newline would end the probe's command line.
    """

    def check(value: str) -> str:
        if not value.startswith("/") or "\n" in value:
            raise ValueError("chemin absolu attendu" + (f" {what}" if what else ""))
        return value

    return AfterValidator(check)


def vlan_named(vid: int | str, name: str) -> Msg:
    """A VLAN and its name, the name quoted as the report's language quotes: ``10 « Serveurs »``."""
    return Msg("{vid} « {name} »", vid=vid, name=name)


def covered_by(source: str, networks: Iterable[str]) -> bool:
    """Does the network ``source`` lie wholly inside one of ``networks``?

    A value that is not a network (a set or alias name, a range, another family) never
    covers: a condition we cannot read proves nothing, so it must not make a rule count.
    """
    wanted = ipaddress.ip_network(source, strict=False)
    for value in networks:
        try:
            if wanted.subnet_of(ipaddress.ip_network(value, strict=False)):  # type: ignore[arg-type]
                return True
        except (ValueError, TypeError):
            continue
    return False


#: The probe that reads whether a Linux router forwards IPv4 (a NAT rule on a host that does not route translates nothing).
IP_FORWARD = "/bin/cat /proc/sys/net/ipv4/ip_forward"


def forwarding_off(r: ProbeResult, observed: str | Msg, wanted: str | Msg, message: str | Msg) -> Verdict | None:
    """The verdict when IPv4 forwarding is not on (``message`` says what that breaks), else None.

    Unreadable (not ``0`` or ``1``) is ``erreur``: we could not see it. Off is ``non_conforme``,
    the observation completed with the value read.
    """
    value = r.stdout.strip()
    if r.exit_code != 0 or value not in ("0", "1"):
        return Verdict.erreur(Msg("état du routage IPv4 illisible (/proc/sys/net/ipv4/ip_forward)"),
                              observed=clip(r.stderr or r.stdout), expected=wanted)
    if value != "1":
        return Verdict.non_conforme(Msg("{shown} ; net.ipv4.ip_forward = 0", shown=observed), wanted, message)
    return None
