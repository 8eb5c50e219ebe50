"""The running-config facts an edge router is graded on: NAT, ACLs and where they apply, logging, SNMP.

A template parser (TTP, TextFSM's) would not keep what these facts need: the *order* of an
ACL's entries (first match wins) and repeated lines of one block. IOS prints its
running-config in a fixed shape (a top-level line, its children indented by one space, ``!``
separators), so a small block reader is enough and is exact.
Pure functions; ValueError when the text is not a running-config.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from grader.model import Msg

Network = ipaddress.IPv4Network


@dataclass(frozen=True)
class NatRule:
    acl: str
    interface: str  # "" with a pool
    pool: str
    overload: bool

    def describe(self) -> str:
        where = f"interface {self.interface}" if self.interface else f"pool {self.pool}"
        return f"ip nat inside source list {self.acl} {where}" + (" overload" if self.overload else "")


@dataclass(frozen=True)
class AclEntry:
    action: str  # permit | deny
    source: Network | None  # None: not understood (object-group, port-only...)
    text: str


@dataclass
class IfFacts:
    name: str
    nat: str = ""  # inside | outside | ""
    acl_in: str = ""
    acl_out: str = ""
    shutdown: bool = False
    helpers: list[str] = field(default_factory=list)  # ip helper-address: where DHCP broadcasts are relayed
    dot1q: int | None = None  # encapsulation dot1Q N: a router-on-a-stick subinterface's VLAN


@dataclass
class RouterConfig:
    interfaces: dict[str, IfFacts] = field(default_factory=dict)
    nat: list[NatRule] = field(default_factory=list)
    acls: dict[str, list[AclEntry]] = field(default_factory=dict)
    logging_hosts: list[str] = field(default_factory=list)
    communities: dict[str, str] = field(default_factory=dict)  # name -> RO | RW

    def interface(self, name: str) -> IfFacts | None:
        wanted = short_name(name)
        return next((i for i in self.interfaces.values() if short_name(i.name) == wanted), None)


_LONG = (("tengigabitethernet", "te"), ("gigabitethernet", "gi"), ("fastethernet", "fa"), ("ethernet", "et"),
         ("port-channel", "po"), ("loopback", "lo"), ("serial", "se"), ("vlan", "vlan"))


def short_name(name: str) -> str:
    """``GigabitEthernet0/1``, ``Gi0/1``, ``gi 0/1`` -> ``gi0/1`` (IOS accepts all of them)."""
    value = name.replace(" ", "").lower()
    for long, short in _LONG:
        for prefix in (long, short):
            if value.startswith(prefix) and (len(value) == len(prefix) or not value[len(prefix)].isalpha()):
                return short + value[len(prefix):]
    return value


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    blocks: list[tuple[str, list[str]]] = []
    for raw in text.replace("\r", "").split("\n"):
        if not raw.strip() or raw.strip() == "!":
            continue
        if raw.startswith(" ") and blocks:
            blocks[-1][1].append(raw.strip())
        elif not raw.startswith(" "):
            blocks.append((raw.strip(), []))
    return blocks


def _wildcard_network(address: str, wildcard: str) -> Network | None:
    try:
        mask = ipaddress.IPv4Address(int(ipaddress.IPv4Address(wildcard)) ^ 0xFFFFFFFF)
        return ipaddress.IPv4Network(f"{address}/{mask}", strict=False)
    except ValueError:
        return None  # a non-contiguous wildcard: not interpreted


def _source(words: list[str], extended: bool) -> Network | None:
    """The source of an ACL entry's words after permit/deny."""
    if extended:
        if len(words) < 2:
            return None
        words = words[1:]  # the protocol
    if not words:
        return None
    if words[0] == "any":
        return ipaddress.IPv4Network("0.0.0.0/0")
    if words[0] == "host" and len(words) > 1:
        return _wildcard_network(words[1], "0.0.0.0")
    if len(words) > 1 and words[1].count(".") == 3:
        return _wildcard_network(words[0], words[1])
    if not extended and words[0].count(".") == 3:
        return _wildcard_network(words[0], "0.0.0.0")  # standard: a bare address is a host
    return None


def _entry(words: list[str], extended: bool) -> AclEntry | None:
    if words and words[0].isdigit():  # sequence numbers, as "show running-config" prints them in IOS 15+
        words = words[1:]
    if not words or words[0] not in ("permit", "deny"):
        return None
    return AclEntry(words[0], _source(words[1:], extended), " ".join(words))


def parse_router_config(text: str) -> RouterConfig:
    """NAT, ACLs, interfaces' NAT side, ACLs, DHCP helpers and 802.1Q VLAN, logging hosts and SNMP communities."""
    if "interface " not in text and "hostname " not in text:
        raise ValueError(Msg("ce n'est pas une configuration IOS (ni hostname ni interface)"))
    cfg = RouterConfig()
    for header, children in _blocks(text):
        words = header.split()
        if words[0] == "interface" and len(words) > 1:
            facts = IfFacts(words[1])
            for child in children:
                c = child.split()
                if c[:2] == ["ip", "nat"] and len(c) > 2:
                    facts.nat = c[2]
                elif c[:2] == ["ip", "access-group"] and len(c) == 4:
                    if c[3] == "in":
                        facts.acl_in = c[2]
                    elif c[3] == "out":
                        facts.acl_out = c[2]
                elif c == ["shutdown"]:
                    facts.shutdown = True
                elif c[:2] == ["ip", "helper-address"] and len(c) >= 3:
                    facts.helpers.append(c[-1])  # "ip helper-address [vrf NAME | global] A.B.C.D"
                elif [w.lower() for w in c[:2]] == ["encapsulation", "dot1q"] and len(c) >= 3 and c[2].isdigit():
                    facts.dot1q = int(c[2])
            cfg.interfaces[facts.name] = facts
        elif words[:5] == ["ip", "nat", "inside", "source", "list"] and len(words) >= 8:
            acl, kind, value = words[5], words[6], words[7]
            cfg.nat.append(NatRule(acl, value if kind == "interface" else "", value if kind == "pool" else "",
                                   "overload" in words[8:]))
        elif words[:2] == ["ip", "access-list"] and len(words) >= 4 and words[2] in ("standard", "extended"):
            entries = [_entry(child.split(), words[2] == "extended") for child in children]
            cfg.acls.setdefault(words[3], []).extend(e for e in entries if e is not None)
        elif words[0] == "access-list" and len(words) >= 3 and words[1].isdigit():
            number = int(words[1])
            extended = 100 <= number <= 199 or 2000 <= number <= 2699
            entry = _entry(words[2:], extended)
            if entry is not None:
                cfg.acls.setdefault(words[1], []).append(entry)
        elif words[:2] == ["logging", "host"] and len(words) >= 3:
            cfg.logging_hosts.append(words[3] if words[2] in ("ipv6", "vrf") and len(words) > 3 else words[2])
        elif words[0] == "logging" and len(words) == 2 and words[1].count(".") == 3:
            cfg.logging_hosts.append(words[1])  # the older "logging A.B.C.D" form
        elif words[:2] == ["snmp-server", "community"] and len(words) >= 3:
            access = next((w.upper() for w in words[3:] if w.upper() in ("RO", "RW")), "RO")
            cfg.communities[words[2]] = access
    return cfg


def acl_permits(entries: list[AclEntry], network: Network) -> tuple[bool | None, AclEntry | None]:
    """Does the ACL (first match wins, implicit deny) permit the whole ``network`` as a source?

    (True/False, deciding entry), or (None, entry) when an entry that may match is not understood.
    """
    for entry in entries:
        if entry.source is None:
            return None, entry
        if not entry.source.overlaps(network):
            continue
        if entry.action == "permit":
            return (network.subnet_of(entry.source), entry)
        return False, entry
    return False, None
