"""Remote access (CP12): a VPN tunnel up with its peer connected, and a LAN resource reached through it.

Two checks, two sides of the same tunnel:

* :class:`VpnTunnelUp`, on the VPN server (or any host whose OpenVPN writes a server-side
  status file): the tunnel interface exists, is up *with carrier* (``LOWER_UP``: a process
  holds the tun device; a persistent tun left without its daemon has ``NO-CARRIER``), has an
  address, and OpenVPN's status file — written by the running daemon every few seconds —
  lists the expected peer. The file's age is measured against the host's own clock in the
  same probe: a file left by a stopped daemon still lists its last clients, and proves
  nothing.
* :class:`VpnReaches`, on the VPN client (the remote worker): one TCP connection to a LAN
  witness (:mod:`checks.network.reach`: the far side answers with the source address it
  saw and the run's token). Conforme only when that source is one of the client's tunnel
  addresses: a connection that reaches the LAN by another path (no route pushed, a
  management network) is not a VPN access.

Probe outputs are read back with pure functions (:func:`parse_links`, :func:`parse_status`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field

from checks._common.text import clip, limited, reason_of, said
from checks.network._common import absolute_path
from checks.network.reach import WITNESS_PORT, Connection, connect_probe, parse_connection
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import quote, ssh

ADDRESSES = "/usr/sbin/ip -j addr show"
DEFAULT_STATUS = "/run/openvpn-server/status-server.log"  # Debian's openvpn-server@server.service
_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")


# --- interfaces (ip -j addr) ----------------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    name: str
    flags: tuple[str, ...]
    link_type: str
    ipv4: tuple[str, ...]  # address/prefix

    @property
    def up(self) -> bool:
        return "UP" in self.flags

    @property
    def carrier(self) -> bool:
        """A process holds the device (tun) or the link has carrier."""
        return "LOWER_UP" in self.flags

    @property
    def tunnel_like(self) -> bool:
        """A layer-3 tunnel device: tun (OpenVPN), WireGuard: no link-layer address."""
        return self.link_type == "none" or self.name.startswith(("tun", "wg"))

    def addresses(self) -> list[str]:
        return [a.split("/")[0] for a in self.ipv4]

    def describe(self) -> Msg:
        addresses = ", ".join(self.ipv4) or Msg("sans adresse IPv4")
        if not self.up:
            return Msg("{name} (inactive, {addresses})", name=self.name, addresses=addresses)
        if not self.carrier:
            return Msg("{name} (active, sans porteuse, {addresses})", name=self.name, addresses=addresses)
        return Msg("{name} (active, {addresses})", name=self.name, addresses=addresses)


def parse_links(stdout: str) -> list[Link]:
    """The interfaces of ``ip -j addr show`` (ValueError when the output is not that JSON)."""
    data = json.loads(stdout)
    if not isinstance(data, list):
        raise ValueError(Msg("liste d'interfaces attendue"))  # noqa: TRY004 - bad input, not a bad call
    links = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("ifname"), str):
            raise ValueError(Msg("interface sans nom"))  # noqa: TRY004
        ipv4 = tuple(f"{a.get('local')}/{a.get('prefixlen')}" for a in item.get("addr_info") or []
                     if isinstance(a, dict) and a.get("family") == "inet" and a.get("local"))
        links.append(Link(item["ifname"], tuple(str(f) for f in item.get("flags") or []),
                          str(item.get("link_type", "")), ipv4))
    return links


def tunnels(links: Sequence[Link], interface: str | None) -> list[Link]:
    """The interface named ``interface``, or every tunnel-like interface."""
    if interface is not None:
        return [link for link in links if link.name == interface]
    return [link for link in links if link.tunnel_like]


def _interface_name(value: str) -> str:
    if not _IFNAME.match(value):
        raise ValueError("nom d'interface invalide (15 caractères au plus : lettres, chiffres, _ . : -)")
    return value


#: A parameter naming a network interface (Linux's rules: 15 characters at most), checked when the rubric loads.
Interface = Annotated[str, AfterValidator(_interface_name)]


def _links_or_verdict(r: ProbeResult, expected: str | Msg) -> list[Link] | Verdict:
    if r.exit_code != 0:
        return Verdict.erreur(Msg("lecture des interfaces impossible (code {code})", code=r.exit_code),
                              observed=clip(r.stderr or r.stdout), expected=expected)
    try:
        return parse_links(r.stdout)
    except ValueError as exc:
        return Verdict.erreur(Msg("sortie de « ip -j addr » illisible : {exc}", exc=reason_of(exc)),
                              observed=clip(r.stdout),
                              expected=expected)


# --- OpenVPN's status file -----------------------------------------------------------------------

@dataclass(frozen=True)
class Peer:
    common_name: str
    real_address: str  # ip:port as OpenVPN prints it
    virtual_address: str
    since: str

    @property
    def real_ip(self) -> str:
        host = self.real_address
        if host.count(":") == 1:  # IPv4:port (IPv6 peers are printed without brackets and several colons)
            host = host.split(":")[0]
        return host

    def describe(self) -> Msg:
        return Msg("{name} depuis {address}{virtual}", name=self.common_name, address=self.real_address,
                   virtual=" (" + self.virtual_address + ")" if self.virtual_address else "")


@dataclass(frozen=True)
class Status:
    version: int  # 1, 2 or 3 (status-version)
    peers: tuple[Peer, ...]


def parse_status(text: str) -> Status:
    """A server's status file, versions 1 (default), 2 (comma) and 3 (tab); ValueError otherwise."""
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines:
        raise ValueError(Msg("fichier d'état vide"))
    if lines[0] == "OpenVPN CLIENT LIST":
        return Status(1, tuple(_v1_peers(lines)))
    for sep, version in ((",", 2), ("\t", 3)):
        if lines[0].startswith("TITLE" + sep) or any(line.startswith("HEADER" + sep + "CLIENT_LIST") for line in lines):
            return Status(version, tuple(_v23_peers(lines, sep)))
    if lines[0] == "OpenVPN STATISTICS":
        raise ValueError(Msg("fichier d'état d'un client OpenVPN (statistiques seules) : il ne liste pas les pairs"))
    raise ValueError(Msg("format de fichier d'état OpenVPN inconnu"))


def _v1_peers(lines: list[str]) -> list[Peer]:
    peers = []
    try:
        start = lines.index("Common Name,Real Address,Bytes Received,Bytes Sent,Connected Since") + 1
    except ValueError as exc:
        raise ValueError(Msg("en-tête de la liste des clients absent")) from exc
    for line in lines[start:]:
        if line == "ROUTING TABLE":
            break
        fields = line.split(",")
        if len(fields) < 5:
            raise ValueError(Msg("ligne de client illisible : {line}", line=repr(line[:80])))
        peers.append(Peer(fields[0], fields[1], "", fields[4]))
    virtual: dict[tuple[str, str], str] = {}
    if "ROUTING TABLE" in lines:
        for line in lines[lines.index("ROUTING TABLE") + 2:]:
            if line in ("GLOBAL STATS", "END"):
                break
            fields = line.split(",")
            if len(fields) >= 3:
                virtual.setdefault((fields[1], fields[2]), fields[0])
    return [Peer(p.common_name, p.real_address, virtual.get((p.common_name, p.real_address), ""), p.since) for p in peers]


def _v23_peers(lines: list[str], sep: str) -> list[Peer]:
    header: list[str] | None = None
    peers = []
    for line in lines:
        fields = line.split(sep)
        if fields[:2] == ["HEADER", "CLIENT_LIST"]:
            header = fields[2:]
        elif fields[0] == "CLIENT_LIST":
            if header is None:
                raise ValueError(Msg("ligne CLIENT_LIST sans en-tête"))
            row = dict(zip(header, fields[1:]))
            peers.append(Peer(row.get("Common Name", ""), row.get("Real Address", ""),
                              row.get("Virtual Address", ""), row.get("Connected Since", "")))
    return peers


def dated_probe(path: str, reader: str = "/usr/bin/head -c 60000 --") -> Probe:
    """The host's clock, then the file's modification time, then what ``reader`` prints of it.

    The file's content comes last, so it cannot shift the first two lines (see :func:`parse_dated`).
    """
    return ssh(f"/bin/date +%s; /usr/bin/stat -c %Y -- {quote(path)} && {reader} {quote(path)}")


@dataclass(frozen=True)
class Dated:
    now: int
    mtime: int | None  # None: the file could not be read (stat failed)
    text: str

    @property
    def age(self) -> int | None:
        return None if self.mtime is None else self.now - self.mtime


def parse_dated(stdout: str) -> Dated:
    """The output of :func:`dated_probe` (ValueError when the clock line is missing)."""
    first, _, rest = stdout.partition("\n")
    if not first.strip().isdigit():
        raise ValueError(Msg("horloge de l'hôte absente"))
    second, sep, text = rest.partition("\n")
    if not sep and not second:
        return Dated(int(first), None, "")
    if not second.strip().isdigit():
        raise ValueError(Msg("date de modification illisible"))
    return Dated(int(first), int(second), text)


def _age(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


def _who(peer: str | None, address: str | None) -> Msg | str:
    """The expected client, as the message names it (``who`` of the observation, said in the report's language)."""
    if peer and address:
        return Msg("« {peer} » depuis {address}", peer=peer, address=address)
    if peer:
        return Msg("« {peer} »", peer=peer)
    return Msg("depuis {address}", address=address) if address else ""


class VpnTunnelUp(Check):
    """Le tunnel VPN est monté sur cet hôte et le pair attendu y est connecté.

    Probes (one SSH batch): ``ip -j addr show``, and the host's clock, the modification time
    and the content of OpenVPN's server status file ``status_file`` (a ``status`` line of
    the server's configuration; Debian's ``openvpn-server@NAME`` writes
    ``/run/openvpn-server/status-NAME.log`` every 60 s unless the configuration says
    otherwise). Conforme when the interface (``interface``, or any tun/WireGuard-like one)
    is up with carrier and has an IPv4 address, the file was written less than ``max_age``
    seconds ago by the host's own clock, and it lists a connected client (whose common
    name is ``peer`` and whose real address is ``peer_address``, when given). A file that
    is too old (its daemon stopped) or absent cannot prove a connection: ``erreur`` when the
    interface is up, never ``conforme``. A client gone without notice stays listed until the
    server's keepalive expires it: :class:`VpnReaches` is the functional proof from the client.
    """

    id = "vpn.tunnel_up"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        interface: Interface | None = None
        status_file: Annotated[str, absolute_path("pour le fichier d'état")] = DEFAULT_STATUS
        peer: str | None = None
        peer_address: str | None = None
        max_age: int = Field(default=180, ge=5, le=3600)


    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"interfaces": ssh(ADDRESSES), "statut": dated_probe(params.status_file)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("interface {interface} active avec une adresse ; pair {who} connecté d'après {status_file} "
                       "(écrit il y a moins de {age})", interface=params.interface or "tun",
                       who=_who(params.peer, params.peer_address) or Msg("quelconque"),
                       status_file=params.status_file, age=_age(params.max_age))
        links = _links_or_verdict(results["interfaces"], expected)
        if isinstance(links, Verdict):
            return links
        found = tunnels(links, params.interface)
        if not found:
            known = ", ".join(link.name for link in links) or Msg("aucune")
            missing = (Msg("aucune interface {interface} (interfaces : {known})", interface=params.interface,
                           known=known) if params.interface else
                       Msg("aucune interface de tunnel (interfaces : {known})", known=known))
            return Verdict.non_conforme(missing, expected, Msg("Aucun tunnel VPN n'est monté sur cet hôte."))
        usable = [link for link in found if link.up and link.carrier and link.ipv4]
        shown = limited([link.describe() for link in found])
        if not usable:
            return Verdict.non_conforme(said(shown), expected,
                                        Msg("L'interface du tunnel existe mais n'est pas en service (inactive, sans "
                                            "processus VPN qui la tienne, ou sans adresse)."))
        r = results["statut"]
        try:
            dated = parse_dated(r.stdout)
        except ValueError as exc:
            return Verdict.erreur(Msg("lecture du fichier d'état impossible : {exc}", exc=reason_of(exc)),
                                  observed=clip(r.stdout),
                                  expected=expected)
        if dated.mtime is None:
            return Verdict.erreur(Msg("fichier d'état {status_file} introuvable ou illisible : la connexion du pair "
                                      "ne peut pas être vérifiée (indiquez le fichier de la directive « status »)",
                                      status_file=params.status_file),
                                  observed=Msg("{shown} ; {output}", shown=shown,
                                               output=clip(r.stderr.strip()) or Msg("aucune sortie")),
                                  expected=expected)
        age = dated.age if dated.age is not None else 0
        written = {"shown": shown, "status_file": params.status_file, "age": _age(max(age, 0))}
        observed = Msg("{shown} ; {status_file} écrit il y a {age}", **written)
        if age > params.max_age or age < -60:
            return Verdict.erreur(Msg("le fichier d'état n'a pas été réécrit depuis {age} : il ne décrit pas un démon "
                                      "OpenVPN en marche, la connexion du pair ne peut pas être vérifiée",
                                      age=_age(age)), observed=observed, expected=expected)
        try:
            status = parse_status(dated.text)
        except ValueError as exc:
            return Verdict.erreur(Msg("fichier d'état illisible : {exc}", exc=reason_of(exc)),
                                  observed=Msg("{shown} ; {status_file} écrit il y a {age} : {text}", **written,
                                               text=clip(dated.text)), expected=expected)
        peers = status.peers
        observed = Msg("{shown} ; {status_file} écrit il y a {age} ; clients : {clients}", **written,
                       clients=limited([p.describe() for p in peers]) if peers else Msg("aucun"))
        if not peers:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le tunnel est monté côté serveur, mais aucun client n'y est connecté."))
        matching = [p for p in peers if (params.peer is None or p.common_name == params.peer)
                    and (params.peer_address is None or p.real_ip == params.peer_address)]
        if not matching:
            return Verdict.non_conforme(observed, expected, Msg("Le client attendu ({who}) n'est pas connecté au "
                                                                "tunnel.", who=_who(params.peer, params.peer_address)))
        return Verdict.conforme(observed, expected,
                                Msg("Le tunnel VPN est monté et {peer} y est connecté.", peer=matching[0].describe()))


def _route_probe(address: str) -> Probe:
    return ssh(f"/usr/sbin/ip -j route get {quote(address)}")


def _route_text(r: ProbeResult) -> Msg:
    try:
        data = json.loads(r.stdout)
        route = data[0] if isinstance(data, list) and data else {}
        dev = route.get("dev", "?")
        via = f" via {route['gateway']}" if route.get("gateway") else ""
        src = f", source {route['prefsrc']}" if route.get("prefsrc") else ""
        return Msg("route vers {destination} : interface {dev}{via}{src}", destination=str(route.get("dst", "?")),
                   dev=str(dev), via=via, src=src)
    except (ValueError, AttributeError, TypeError):
        return Msg("route : {detail}", detail=clip(r.stderr.strip() or r.stdout.strip(), 120) or Msg("inconnue"))


class VpnReaches(Check):
    """Une ressource du LAN ({witness}:{port}) est jointe depuis cet hôte à travers le tunnel VPN.

    Active probe from the VPN client: one TCP connection carrying the run's token to the LAN
    witness ``witness:port`` (see :mod:`checks.network.reach`), with the client's interfaces
    and its route to the witness as evidence. Conforme when the witness (named ``server``,
    when given) answers with the token and saw as source one of the client's tunnel
    addresses (``interface``, or any tun/WireGuard-like interface). A connection refused,
    dropped, or arriving with another source (the LAN reached by another path: no route
    pushed into the tunnel) is non conforme.
    """

    id = "vpn.reaches"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        witness: str
        port: int = Field(default=WITNESS_PORT, ge=1, le=65535)
        server: str | None = None
        interface: Interface | None = None
        timeout: float = Field(default=3.0, gt=0, le=20)


    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"interfaces": ssh(ADDRESSES), "route": _route_probe(params.witness),
                "connexion": connect_probe(params.witness, params.port, params.timeout)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        where = f"{params.witness}:{params.port}"
        written = (f"le témoin {params.server or ''} ({where}) voit arriver la connexion depuis une adresse du "
                   f"tunnel ({params.interface or 'tun'})").replace("témoin  (", "témoin (")
        said_expected = (Msg("le témoin {server} ({where}) voit arriver la connexion depuis une adresse du tunnel "
                             "({interface})", server=params.server, where=where, interface=params.interface or "tun")
                         if params.server else
                         Msg("le témoin ({where}) voit arriver la connexion depuis une adresse du tunnel ({interface})",
                             where=where, interface=params.interface or "tun"))
        expected = said_expected if said_expected.render() == written else written
        links = _links_or_verdict(results["interfaces"], expected)
        if isinstance(links, Verdict):
            return links
        found = tunnels(links, params.interface)
        tunnel_addresses = {a for link in found if link.up for a in link.addresses()}
        shown = (Msg("tunnel : {links}", links=limited([link.describe() for link in found])) if found else
                 Msg("tunnel : aucune interface"))
        route = _route_text(results["route"])
        c = parse_connection(results["connexion"])
        if not c.connected:
            return self._not_connected(c, where, params.timeout, Msg("{shown} ; {output}", shown=shown, output=route),
                                       expected)
        seen = c.witness()
        if seen is None or not c.token or seen[2] != c.token:
            return Verdict.erreur(Msg("le service joint sur {where} n'a pas répondu comme le témoin attendu",
                                      where=where),
                                  observed=Msg("{shown} ; {route} ; réponse : {answer}", shown=shown, route=route,
                                               answer=clip(c.answer) or Msg("aucune")),
                                  expected=expected)
        host, peer, _ = seen
        observed = Msg("{shown} ; {route} ; le témoin {host} ({where}) a reçu le jeton depuis l'adresse {peer}",
                       shown=shown, route=route, host=host, where=where, peer=peer)
        if params.server is not None and host != params.server:
            return Verdict.non_conforme(observed, expected, Msg("La connexion aboutit chez {host}, pas chez {server}.",
                                                                host=host, server=params.server))
        if peer in tunnel_addresses:
            return Verdict.conforme(observed, expected, Msg("La ressource du LAN est jointe à travers le tunnel VPN."))
        if not found:
            return Verdict.non_conforme(observed, expected, Msg("La ressource est jointe, mais sans tunnel VPN : "
                                                                "aucun tunnel n'est monté sur cet hôte."))
        return Verdict.non_conforme(observed, expected, Msg("La connexion arrive depuis {peer}, pas depuis l'adresse "
                                                            "du tunnel : le LAN n'est pas joint à travers le VPN "
                                                            "(route vers le LAN non poussée ?).", peer=peer))

    @staticmethod
    def _not_connected(c: Connection, where: str, timeout: float, shown: Msg, expected: str | Msg) -> Verdict:
        if c.code not in (1, 111, 124):
            return Verdict.erreur(Msg("sonde de connexion interrompue (code {code})", code=c.code),
                                  observed=Msg("{shown} ; {output}", shown=shown, output=clip(c.answer)),
                                  expected=expected)
        why = (Msg("aucune réponse de {where} en {timeout} s", where=where, timeout=f"{timeout:g}") if c.dropped else
               Msg("connexion à {where} impossible : {error}", where=where,
                   error=clip(c.error_text(), 120) or Msg("échec")))
        return Verdict.non_conforme(Msg("{shown} ; {output}", shown=shown, output=why), expected, Msg("La ressource du LAN n'est pas jointe depuis "
                                                                      "cet hôte (tunnel absent, route ou filtrage)."))
