"""pfSense's ``config.xml``: what the firewall is configured to do, read without running anything.

Pure parsing (defusedxml: a candidate's file is untrusted input) into small records, and
judges (functions returning a :class:`~grader.model.Verdict`) for the facts a TSSR jury
asks about: port forwards, outbound NAT, filter rules, interfaces, DHCP ranges and remote
syslog servers. Aliases (``<aliases>``) are resolved for ports and addresses. How the file
reaches the grader (an SSH session on the firewall, an uploaded backup) is not decided here.

The element names follow pfSense's own configuration (``/cf/conf/config.xml``): ``nat/rule``
(port forwards: ``destination``, ``target``, ``local-port``), ``nat/outbound`` (``mode``
automatic | hybrid | advanced | disabled, and ``rule``), ``filter/rule`` (``type`` pass |
block | reject, a missing type being a rule associated with a port forward, which passes;
``floating``, ``quick`` and ``direction`` for floating rules, evaluated before the interface rules),
``interfaces/<name>``, ``dhcpd/<interface>/range``, ``syslog`` (``enable``,
``remoteserver``, ``remoteserver2``, ``remoteserver3``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import defusedxml.ElementTree as SafeET

from checks._common.text import limited, said
from grader.model import Msg, Verdict


@dataclass(frozen=True)
class Endpoint:
    """A rule's source or destination."""

    any: bool = False
    network: str = ""  # an interface name (lan, wan, opt1), "wanip", "lanip"...
    address: str = ""  # an address, a network or an alias
    port: str = ""  # a port, a range "80:90" or an alias
    negated: bool = False

    def describe(self) -> str | Msg:
        port = f" port {self.port}" if self.port else ""
        what: str | Msg = Msg("tout") if self.any else self.network or self.address or "?"
        if self.negated:
            return Msg("non {what}{port}", what=what, port=port)
        if self.any:
            return Msg("tout{port}", port=port)
        return f"{what}{port}"


@dataclass(frozen=True)
class PortForward:
    interface: str
    protocol: str
    source: Endpoint
    destination: Endpoint
    target: str
    local_port: str
    descr: str
    disabled: bool

    def describe(self) -> str | Msg:
        local = ":" + self.local_port if self.local_port else ""
        if self.disabled:
            return Msg("{interface} {protocol} {destination} → {target}{local} (désactivée)", interface=self.interface,
                       protocol=self.protocol, destination=self.destination.describe(), target=self.target, local=local)
        d = self.destination
        port = f" port {d.port}" if d.port else ""
        if d.negated:
            return Msg("{interface} {protocol} non {what}{port} → {target}{local}", interface=self.interface,
                       protocol=self.protocol, what=Msg("tout") if d.any else d.network or d.address or "?", port=port,
                       target=self.target, local=local)
        if d.any:
            return Msg("{interface} {protocol} tout{port} → {target}{local}", interface=self.interface,
                       protocol=self.protocol, port=port, target=self.target, local=local)
        return f"{self.interface} {self.protocol} {d.describe()} → {self.target}{local}"  # no words of ours


@dataclass(frozen=True)
class OutboundRule:
    interface: str
    source: Endpoint
    destination: Endpoint
    target: str  # "" = the interface address
    descr: str
    disabled: bool
    nonat: bool

    def describe(self) -> Msg:
        action = (Msg("sans traduction") if self.nonat else Msg("vers {target}", target=self.target) if self.target
                  else Msg("vers adresse de {interface}", interface=self.interface))
        return Msg("{interface} depuis {source} {action}{state}", interface=self.interface, source=self.source.describe(),
                   action=action, state=Msg(" (désactivée)") if self.disabled else "")


@dataclass(frozen=True)
class FilterRule:
    interface: str
    action: str  # pass | block | reject
    protocol: str  # "" = any
    source: Endpoint
    destination: Endpoint
    descr: str
    disabled: bool
    floating: bool
    quick: bool = False  # a floating rule's « Quick »: it decides as soon as it matches (interface rules always do)
    direction: str = "any"  # a floating rule's direction: in | out | any

    def describe(self) -> Msg:
        rule = Msg("{interface} {action} {protocol} de {source} vers {destination}{state} « {descr} »",
                   interface=self.interface, action=self.action, protocol=self.protocol or Msg("tout protocole"),
                   source=self.source.describe(), destination=self.destination.describe(),
                   state=Msg(" (désactivée)") if self.disabled else "", descr=self.descr)
        if not self.floating:
            return rule
        return Msg("{rule} (règle flottante, {quick}, sens {direction})", rule=rule, direction=self.direction,
                   quick=Msg("avec quick") if self.quick else Msg("sans quick"))

    def on(self, interface: str) -> bool:
        """Whether the rule is on ``interface`` (a floating rule names several, or none: all of them)."""
        if not self.floating:
            return self.interface == interface
        names = [n.strip() for n in self.interface.split(",") if n.strip()]
        return not names or interface in names


@dataclass(frozen=True)
class Interface:
    name: str  # wan, lan, opt1...
    device: str
    descr: str
    enabled: bool
    ipaddr: str
    subnet: str

    @property
    def network(self) -> ipaddress.IPv4Network | None:
        try:
            return ipaddress.ip_network(f"{self.ipaddr}/{self.subnet}", strict=False)  # type: ignore[return-value]
        except ValueError:
            return None


@dataclass(frozen=True)
class DhcpRange:
    interface: str
    start: str
    end: str
    enabled: bool


@dataclass
class PfConfig:
    version: str = ""
    hostname: str = ""
    interfaces: dict[str, Interface] = field(default_factory=dict)
    port_forwards: list[PortForward] = field(default_factory=list)
    outbound_mode: str = "automatic"
    outbound_rules: list[OutboundRule] = field(default_factory=list)
    filter_rules: list[FilterRule] = field(default_factory=list)
    dhcp_ranges: list[DhcpRange] = field(default_factory=list)
    syslog_enabled: bool = False
    syslog_servers: list[str] = field(default_factory=list)
    aliases: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # name -> (type, values)

    def resolve(self, value: str) -> list[str]:
        """An alias's values (nested aliases followed), or the value itself."""
        seen: set[str] = set()

        def walk(v: str) -> list[str]:
            if v in self.aliases and v not in seen:
                seen.add(v)
                return [x for item in self.aliases[v][1] for x in walk(item)]
            return [v]

        return walk(value)


def _text(node: Any, tag: str) -> str:
    return (node.findtext(tag) or "").strip() if node is not None else ""


def _endpoint(node: Any) -> Endpoint:
    if node is None:
        return Endpoint(any=True)
    network = _text(node, "network")
    return Endpoint(any=node.find("any") is not None or network == "any", network="" if network == "any" else network,
                    address=_text(node, "address"), port=_text(node, "port"), negated=node.find("not") is not None)


def parse_config(text: str | bytes) -> PfConfig:
    """Parse a pfSense config.xml (ValueError when it is not one, or when it is hostile XML)."""
    try:
        root = SafeET.fromstring(text)
    except SafeET.ParseError as exc:
        raise ValueError(Msg("XML invalide : {exc}", exc=str(exc))) from exc
    except Exception as exc:  # defusedxml's DTD/entity refusals
        raise ValueError(Msg("XML refusé ({error})", error=type(exc).__name__)) from exc
    if root.tag != "pfsense":
        raise ValueError(Msg("ce n'est pas une configuration pfSense (racine <{tag}>)", tag=root.tag))
    cfg = PfConfig(version=_text(root, "version"), hostname=_text(root, "system/hostname"))
    for alias in root.findall("aliases/alias"):
        cfg.aliases[_text(alias, "name")] = (_text(alias, "type"), _text(alias, "address").split())
    for node in root.find("interfaces") if root.find("interfaces") is not None else []:
        cfg.interfaces[node.tag] = Interface(node.tag, _text(node, "if"), _text(node, "descr") or node.tag,
                                             node.find("enable") is not None, _text(node, "ipaddr"),
                                             _text(node, "subnet"))
    for rule in root.findall("nat/rule"):
        cfg.port_forwards.append(PortForward(
            _text(rule, "interface") or "wan", _text(rule, "protocol") or "tcp", _endpoint(rule.find("source")),
            _endpoint(rule.find("destination")), _text(rule, "target"), _text(rule, "local-port"), _text(rule, "descr"),
            rule.find("disabled") is not None))
    outbound = root.find("nat/outbound")
    if outbound is not None:
        cfg.outbound_mode = _text(outbound, "mode") or "automatic"
        for rule in outbound.findall("rule"):
            cfg.outbound_rules.append(OutboundRule(
                _text(rule, "interface") or "wan", _endpoint(rule.find("source")), _endpoint(rule.find("destination")),
                _text(rule, "target"), _text(rule, "descr"), rule.find("disabled") is not None,
                rule.find("nonat") is not None))
    for rule in root.findall("filter/rule"):
        cfg.filter_rules.append(FilterRule(
            _text(rule, "interface"), _text(rule, "type") or "pass", _text(rule, "protocol"),
            _endpoint(rule.find("source")), _endpoint(rule.find("destination")), _text(rule, "descr"),
            rule.find("disabled") is not None, rule.find("floating") is not None,
            quick=_text(rule, "quick") not in ("", "0"), direction=_text(rule, "direction") or "any"))
    dhcpd = root.find("dhcpd")
    for node in dhcpd if dhcpd is not None else []:
        for r in node.findall("range"):
            cfg.dhcp_ranges.append(DhcpRange(node.tag, _text(r, "from"), _text(r, "to"), node.find("enable") is not None))
    syslog = root.find("syslog")
    if syslog is not None:
        cfg.syslog_enabled = syslog.find("enable") is not None
        cfg.syslog_servers = [v for v in (_text(syslog, t) for t in ("remoteserver", "remoteserver2", "remoteserver3")) if v]
    return cfg


# --- matching helpers ------------------------------------------------------------------


def _port_matches(cfg: PfConfig, spec: str, port: int) -> bool:
    """Does a rule's port field (a port, a range a:b or a-b, an alias) include ``port``? Empty = any."""
    if not spec:
        return True
    for value in cfg.resolve(spec):
        low, sep, high = value.replace("-", ":").partition(":")
        try:
            if (int(low) <= port <= int(high)) if sep else int(low) == port:
                return True
        except ValueError:
            continue
    return False


def _protocol_matches(rule_protocol: str, wanted: str) -> bool:
    if not rule_protocol or rule_protocol == "any":
        return True
    return wanted in rule_protocol.split("/")


def _address_matches(cfg: PfConfig, endpoint: Endpoint, address: str | None) -> bool:
    """Does a rule's endpoint include ``address`` (None: the judge does not care)?"""
    if address is None or endpoint.any:
        return not endpoint.negated
    try:
        wanted = ipaddress.ip_address(address)
    except ValueError:
        return False
    inside = False
    if endpoint.network:
        iface = cfg.interfaces.get(endpoint.network.removesuffix("ip"))
        if iface is not None:
            net = iface.network
            inside = (str(wanted) == iface.ipaddr) if endpoint.network.endswith("ip") else bool(net and wanted in net)
    for value in cfg.resolve(endpoint.address) if endpoint.address else []:
        try:
            if wanted in ipaddress.ip_network(value, strict=False):
                inside = True
        except ValueError:
            continue
    return inside != endpoint.negated


# --- judges ----------------------------------------------------------------------------


def judge_port_forward(cfg: PfConfig, *, port: int, target: str, local_port: int | None = None,
                       protocol: str = "tcp", interface: str = "wan") -> Verdict:
    """A port forward on ``interface`` sends ``protocol``/``port`` to ``target``[:``local_port``]."""
    expected = f"{interface} {protocol}/{port} → {target}" + (f":{local_port}" if local_port else "")
    rules = [r for r in cfg.port_forwards if r.interface == interface]
    observed = (said(limited([r.describe() for r in rules])) if rules else
                Msg("aucune redirection de port sur {interface}", interface=interface))
    for r in rules:
        if r.disabled or not _protocol_matches(r.protocol, protocol) or not _port_matches(cfg, r.destination.port, port):
            continue
        lp = r.local_port or r.destination.port
        if target in cfg.resolve(r.target) and (local_port is None or _port_matches(cfg, lp, local_port)):
            return Verdict.conforme(r.describe(), expected,
                                    Msg("Le port {port}/{protocol} de {interface} est redirigé vers {target}.",
                                        port=port, protocol=protocol, interface=interface, target=target))
    close = [r for r in rules if _port_matches(cfg, r.destination.port, port)]
    if close and all(r.disabled for r in close):
        return Verdict.non_conforme(observed, expected,
                                    Msg("La redirection du port {port} existe mais est désactivée.", port=port))
    return Verdict.non_conforme(observed, expected, Msg("Aucune redirection active du port {port}/{protocol} vers "
                                                        "{target}.", port=port, protocol=protocol, target=target))


def judge_outbound_nat(cfg: PfConfig, *, source: str, interface: str = "wan") -> Verdict:
    """Traffic from the ``source`` network leaving by ``interface`` is translated (outbound NAT)."""
    expected = Msg("NAT sortant de {source} par {interface}", source=source, interface=interface)
    mode = cfg.outbound_mode
    rules = [r for r in cfg.outbound_rules if r.interface == interface]
    observed = (Msg("mode {mode} ; {rules}", mode=mode, rules=limited([r.describe() for r in cfg.outbound_rules]))
                if cfg.outbound_rules else f"mode {mode}")
    if mode == "disabled":
        return Verdict.non_conforme(observed, expected, Msg("Le NAT sortant est désactivé."))
    network = ipaddress.ip_network(source, strict=False)
    host = str(network.network_address)
    for r in rules:  # manual rules first: in hybrid and advanced modes they decide
        if r.disabled or not _address_matches(cfg, r.source, host):
            continue
        if r.source.any or _covers(cfg, r.source, network):
            if r.nonat:
                return Verdict.non_conforme(observed, expected,
                                            Msg("Une règle exclut {source} du NAT sortant.", source=source))
            return Verdict.conforme(observed, expected, Msg("Le trafic de {source} sortant par {interface} est "
                                                            "traduit.", source=source, interface=interface))
    if mode in ("automatic", "hybrid"):
        local = [i for i in cfg.interfaces.values() if i.name != interface and i.enabled and i.network is not None]
        if any(i.network is not None and network.subnet_of(i.network) for i in local):  # type: ignore[arg-type]
            return Verdict.conforme(observed, expected, Msg("Le NAT sortant automatique couvre {source} (réseau d'une "
                                                            "interface locale).", source=source))
    return Verdict.non_conforme(observed, expected, Msg("Aucune règle de NAT sortant ne couvre {source} par "
                                                        "{interface}.", source=source, interface=interface))


def _covers(cfg: PfConfig, endpoint: Endpoint, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    for value in cfg.resolve(endpoint.network or endpoint.address):
        try:
            if network.subnet_of(ipaddress.ip_network(value, strict=False)):  # type: ignore[arg-type]
                return True
        except (ValueError, TypeError):
            iface = cfg.interfaces.get(value)
            if iface is not None and iface.network is not None and network.subnet_of(iface.network):  # type: ignore[arg-type]
                return True
    return False


def _rule_matches(cfg: PfConfig, r: FilterRule, protocol: str, port: int | None, source: str | None,
                  destination: str | None) -> bool:
    if r.disabled or not _protocol_matches(r.protocol, protocol):
        return False
    if port is not None and not _port_matches(cfg, r.destination.port, port):
        return False
    return _address_matches(cfg, r.source, source) and _address_matches(cfg, r.destination, destination)


def first_matching_rule(cfg: PfConfig, *, interface: str, protocol: str, port: int | None = None,
                        source: str | None = None, destination: str | None = None) -> FilterRule | None:
    """The first enabled rule of ``interface`` (pfSense's first match wins) matching this traffic.

    Interface rules only: :func:`deciding_rule` adds the floating rules, evaluated before them.
    """
    for r in cfg.filter_rules:
        if r.floating or r.interface != interface:
            continue
        if _rule_matches(cfg, r, protocol, port, source, destination):
            return r
    return None


FLOATING_ACTIONS = ("pass", "block", "reject", "match")


def deciding_rule(cfg: PfConfig, *, interface: str, protocol: str, port: int | None = None,
                  source: str | None = None, destination: str | None = None) -> FilterRule | Msg | None:
    """The rule that decides the fate of this traffic entering ``interface``, as pf evaluates pfSense's rules.

    Floating rules come first, in their order: one marked *quick* that matches decides at once; one
    without quick only holds the decision until a later rule matches. Then the interface's own rules
    (all quick): the first that matches decides. Otherwise the last floating rule without quick that
    matched, or the default block (None). A floating ``match`` rule decides nothing (it tags or
    queues). Returns a :class:`Msg` (why) when a floating rule that matches cannot be read.
    """
    held: FilterRule | None = None
    for r in cfg.filter_rules:
        if not r.floating or r.direction not in ("in", "any") or not r.on(interface):
            continue
        if not _rule_matches(cfg, r, protocol, port, source, destination):
            continue
        if r.action not in FLOATING_ACTIONS:
            return Msg("la règle flottante « {descr} » a un type inconnu ({action}) : impossible de conclure",
                       descr=r.descr, action=r.action)
        if r.action == "match":
            continue
        if r.quick:
            return r
        held = r
    return first_matching_rule(cfg, interface=interface, protocol=protocol, port=port, source=source,
                               destination=destination) or held


def _blocked_on_the_way_out(cfg: PfConfig, interface: str, protocol: str, port: int | None, source: str | None,
                            destination: str | None) -> FilterRule | None:
    """A floating rule that blocks this traffic when it leaves by another interface (where it leaves depends
    on the routing, which a config.xml alone does not settle)."""
    for r in cfg.filter_rules:
        if not r.floating or r.action not in ("block", "reject") or r.direction not in ("out", "any"):
            continue
        names = [n.strip() for n in r.interface.split(",") if n.strip()]
        if names and all(n == interface for n in names):
            continue
        if _rule_matches(cfg, r, protocol, port, source, destination):
            return r
    return None


def judge_filter(cfg: PfConfig, *, interface: str, protocol: str, port: int | None = None, allowed: bool,
                 source: str | None = None, destination: str | None = None) -> Verdict:
    """Traffic entering ``interface`` is allowed (or not), by the rule that decides (:func:`deciding_rule`;
    default: blocked); erreur when a floating rule may block it on its way out of another interface."""
    what = Msg("{protocol}{port}{source}{destination} entrant sur {interface}", protocol=protocol,
               port=f"/{port}" if port else "", source=Msg(" de {source}", source=source) if source else "",
               destination=Msg(" vers {destination}", destination=destination) if destination else "",
               interface=interface)
    expected = Msg("autorisé : {what}", what=what) if allowed else Msg("bloqué : {what}", what=what)
    rule = deciding_rule(cfg, interface=interface, protocol=protocol, port=port, source=source,
                         destination=destination)
    if isinstance(rule, Msg):
        return Verdict.erreur(rule, expected=expected)
    passes = rule is not None and rule.action == "pass"
    observed = rule.describe() if rule is not None else Msg("aucune règle ne correspond (blocage par défaut)")
    leaving = _blocked_on_the_way_out(cfg, interface, protocol, port, source, destination) if passes else None
    if leaving is not None:
        return Verdict.erreur(Msg("la règle flottante « {descr} » bloque ce trafic à la sortie d'une autre interface "
                                  "({interfaces}) : sans la route suivie, impossible de conclure", descr=leaving.descr,
                                  interfaces=leaving.interface or Msg("toutes")),
                              observed=Msg("{rule} ; {leaving}", rule=observed, leaving=leaving.describe()),
                              expected=expected)
    if passes == allowed:
        return Verdict.conforme(observed, expected, Msg("Le trafic est autorisé par la première règle qui le concerne.")
                                if allowed else Msg("Le trafic est bloqué par la première règle qui le concerne."))
    return Verdict.non_conforme(observed, expected, Msg("Le trafic est bloqué alors qu'il devrait être autorisé.")
                                if allowed else Msg("Le trafic est autorisé alors qu'il devrait être bloqué."))


def judge_interface(cfg: PfConfig, *, name: str, address: str | None = None, prefix: int | None = None) -> Verdict:
    """The interface ``name`` (wan, lan, opt1 or its description) is enabled, with that address."""
    expected = Msg("{name} activée{address}{prefix}", name=name, address=f", {address}" if address else "",
                   prefix=f"/{prefix}" if prefix else "")
    iface = cfg.interfaces.get(name) or next((i for i in cfg.interfaces.values() if i.descr.lower() == name.lower()), None)
    shown = [f"{i.name} ({i.descr}, {i.device}) {i.ipaddr or '-'}/{i.subnet or '-'}" for i in cfg.interfaces.values()]
    observed = said(limited([text if i.enabled else Msg("{interface} désactivée", interface=text)
                             for text, i in zip(shown, cfg.interfaces.values(), strict=True)]))
    if iface is None:
        return Verdict.non_conforme(observed, expected, Msg("L'interface {name} n'existe pas.", name=name))
    if not iface.enabled:
        return Verdict.non_conforme(observed, expected, Msg("L'interface {name} est désactivée.", name=name))
    if address and iface.ipaddr != address or prefix and iface.subnet != str(prefix):
        return Verdict.non_conforme(observed, expected,
                                    Msg("L'interface {name} n'a pas l'adresse attendue ({ipaddr}/{subnet}).", name=name,
                                        ipaddr=iface.ipaddr, subnet=iface.subnet))
    return Verdict.conforme(observed, expected, Msg("L'interface {name} est configurée comme attendu.", name=name))


def judge_dhcp_range(cfg: PfConfig, *, interface: str, start: str, end: str) -> Verdict:
    """The DHCP server of ``interface`` is enabled and distributes exactly ``start``-``end``."""
    expected = Msg("DHCP actif sur {interface} : {start} - {end}", interface=interface, start=start, end=end)
    ranges = [r for r in cfg.dhcp_ranges if r.interface == interface]
    observed = (said(limited([f"{r.interface} {r.start} - {r.end}" if r.enabled else
                              Msg("{interface} {start} - {end} (serveur désactivé)", interface=r.interface,
                                  start=r.start, end=r.end) for r in cfg.dhcp_ranges]))
                if cfg.dhcp_ranges else Msg("aucune plage DHCP"))
    for r in ranges:
        if r.start == start and r.end == end:
            if not r.enabled:
                return Verdict.non_conforme(observed, expected, Msg("La plage est définie mais le serveur DHCP de "
                                                                    "{interface} est désactivé.", interface=interface))
            return Verdict.conforme(observed, expected, Msg("Le serveur DHCP de {interface} distribue {start} - {end}.",
                                                            interface=interface, start=start, end=end))
    return Verdict.non_conforme(observed, expected,
                                Msg("Le serveur DHCP de {interface} n'a pas la plage attendue.", interface=interface))


def judge_syslog_remote(cfg: PfConfig, *, server: str, port: int = 514) -> Verdict:
    """Remote logging is enabled towards ``server`` (``host`` or ``host:port``; 514 implied)."""
    expected = Msg("journaux envoyés à {server}:{port}", server=server, port=port)
    state = Msg("envoi distant activé") if cfg.syslog_enabled else Msg("envoi distant désactivé")
    observed = (Msg("{state} ; serveurs : {servers}", state=state, servers=", ".join(cfg.syslog_servers))
                if cfg.syslog_servers else Msg("{state} ; aucun serveur", state=state))
    wanted = {f"{server}:{port}"} | ({server} if port == 514 else set())
    if not any(s in wanted for s in cfg.syslog_servers):
        return Verdict.non_conforme(observed, expected, Msg("{server}:{port} n'est pas un serveur de journaux distant.",
                                                            server=server, port=port))
    if not cfg.syslog_enabled:
        return Verdict.non_conforme(observed, expected, Msg("Le serveur est saisi mais l'envoi distant est désactivé."))
    return Verdict.conforme(observed, expected,
                            Msg("Les journaux sont envoyés à {server}:{port}.", server=server, port=port))


def summary(cfg: PfConfig) -> Mapping[str, int]:
    """Counts for a quick look (tests, evidence headers)."""
    return {"interfaces": len(cfg.interfaces), "port_forwards": len(cfg.port_forwards),
            "outbound_rules": len(cfg.outbound_rules), "filter_rules": len(cfg.filter_rules),
            "dhcp_ranges": len(cfg.dhcp_ranges), "syslog_servers": len(cfg.syslog_servers)}
