"""What a supervision server's API says, normalised, and the back-ends that read it.

The ``supervision.zabbix_*`` judges look only at this model: monitored hosts with their
interfaces (and the server's own verdict on the agent behind each), templates, items with their
last value and time, triggers and current problems, plus the server's clock and how many hosts
the grader's account can see at all. A back-end says which probe brings each part and how to read
its answer. Zabbix (JSON-RPC with an API token, the ``zabbix`` channel) is the first; Centreon
(its REST API v2: ``/monitoring/hosts``, ``/monitoring/services``, ``/monitoring/resources``) plugs
in here with a channel of its own and the same model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from grader.model import Probe
from grader.probes import zabbix

AVAILABLE, UNAVAILABLE, UNKNOWN = "disponible", "indisponible", "inconnue"
INTERFACE_KINDS = {1: "agent", 2: "snmp", 3: "ipmi", 4: "jmx"}


@dataclass(frozen=True)
class Interface:
    kind: str  # agent, snmp, ipmi, jmx
    address: str  # the IP or DNS name the server connects to
    port: str
    main: bool
    availability: str  # AVAILABLE, UNAVAILABLE or UNKNOWN (never polled)
    error: str = ""

    def show(self) -> str:
        return f"{self.kind} {self.address}:{self.port}"


@dataclass(frozen=True)
class Host:
    name: str
    visible_name: str
    enabled: bool
    interfaces: tuple[Interface, ...] = ()
    templates: tuple[str, ...] = ()
    #: The last collection time of each enabled passive agent item of the host (0: never).
    agent_clocks: tuple[int, ...] = ()


@dataclass(frozen=True)
class Item:
    key: str
    name: str
    enabled: bool
    supported: bool
    error: str
    lastclock: int  # 0: no value yet
    lastvalue: str
    units: str = ""


@dataclass(frozen=True)
class Trigger:
    description: str
    expression: str
    enabled: bool
    known: bool  # False: the server cannot evaluate it (state "unknown", its error says why)
    firing: bool  # value PROBLEM
    error: str
    item_keys: tuple[str, ...]
    items_enabled: bool


@dataclass(frozen=True)
class Problem:
    name: str
    severity: int
    clock: int


@dataclass
class Answer:
    """One query's answer: the server's version and clock, the hosts that matched, the query's part."""

    version: str
    now: int | None
    visible_hosts: int
    hosts: list[Host] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class Backend(Protocol):
    @property
    def name(self) -> str: ...

    def probe(self, query: str, host: str | None, key: str | None = None) -> Probe: ...

    def parse(self, text: str) -> Answer: ...


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _interface(raw: dict[str, Any]) -> Interface:
    address = raw.get("ip") if str(raw.get("useip", "1")) == "1" else raw.get("dns")
    availability = {1: AVAILABLE, 2: UNAVAILABLE}.get(_int(raw.get("available")), UNKNOWN)
    return Interface(INTERFACE_KINDS.get(_int(raw.get("type")), str(raw.get("type"))), str(address or ""),
                     str(raw.get("port") or ""), str(raw.get("main")) == "1", availability, str(raw.get("error") or ""))


def parse_zabbix(text: str) -> Answer:
    """The channel's JSON document (:mod:`grader.probes.zabbix`); :raises ValueError: when it is not one."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or "visible_hosts" not in doc:
        raise ValueError("réponse de l'API Zabbix inattendue")
    clocks: dict[str, list[int]] = {}
    for item in doc.get("agent_items") or ():
        clocks.setdefault(str(item.get("hostid", "")), []).append(_int(item.get("lastclock")))
    hosts = [Host(str(h.get("host", "")), str(h.get("name", "")), str(h.get("status")) == "0",
                  tuple(_interface(i) for i in h.get("interfaces") or ()),
                  tuple(str(t.get("name") or t.get("host") or "") for t in h.get("parentTemplates") or ()),
                  tuple(clocks.get(str(h.get("hostid")), ())))
             for h in doc.get("hosts") or ()]
    items = [Item(str(i.get("key_", "")), str(i.get("name", "")), str(i.get("status")) == "0",
                  str(i.get("state")) == "0", str(i.get("error") or ""), _int(i.get("lastclock")),
                  str(i.get("lastvalue") or ""), str(i.get("units") or "")) for i in doc.get("items") or ()]
    triggers = [Trigger(str(t.get("description", "")), str(t.get("expression", "")), str(t.get("status")) == "0",
                        str(t.get("state")) == "0", str(t.get("value")) == "1", str(t.get("error") or ""),
                        tuple(str(i.get("key_", "")) for i in t.get("items") or ()),
                        all(str(i.get("status")) == "0" for i in t.get("items") or ()))
                for t in doc.get("triggers") or ()]
    problems = [Problem(str(p.get("name", "")), _int(p.get("severity")), _int(p.get("clock")))
                for p in doc.get("problems") or ()]
    now = doc.get("now")
    return Answer(str(doc.get("version") or "?"), now if isinstance(now, int) else None,
                  _int(doc.get("visible_hosts")), hosts, items, triggers, problems)


@dataclass(frozen=True)
class Zabbix:
    """Zabbix 6.0+ through its JSON-RPC API with an API token (the ``zabbix`` channel)."""

    name: str = "zabbix"

    def probe(self, query: str, host: str | None, key: str | None = None) -> Probe:
        args: dict[str, Any] = {"host": host}
        if key is not None:
            args["key"] = key
        return zabbix.query(query, **args)

    def parse(self, text: str) -> Answer:
        return parse_zabbix(text)


BACKENDS: dict[str, Backend] = {"zabbix": Zabbix()}
