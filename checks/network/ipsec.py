"""Site-to-site IPsec (CP12): strongSwan's SAs read with ``swanctl --list-sas``, and a LAN-to-LAN proof.

Two checks, both on a site's router (the host whose charon holds the SAs):

* :class:`IpsecSa`: an IKE SA ``ESTABLISHED`` with the expected peer (its address, and its
  identity when given) carrying a CHILD SA ``INSTALLED`` whose traffic selectors cover the
  expected local and remote LANs. A ``swanctl.conf`` that describes the right tunnel proves
  nothing: the SA list is what charon negotiated with the real peer, now.
* :class:`IpsecLanToLan`: the functional proof. In one probe, the SA list, then one TCP
  connection from the router to a witness on the far LAN (:mod:`checks.network.reach`), then
  the SA list again. Conforme when the witness saw a source inside the local LAN (tunnel mode
  carries the LAN addresses end to end, no NAT) *and* the CHILD SA covering that source and
  the witness counted the connection's packets both ways between the two readings. What a
  configuration reader, or the witness alone, would miss: the two LANs routed to each other
  in the clear over the WAN — the witness sees the same LAN source, but no SA counted a
  packet.

The router's own connection rides the tunnel because charon routes the remote LAN (table 220,
``install_routes``, strongSwan's default) with a source address inside the local traffic
selector; a source outside the local LAN means that route is missing, which proves neither way
(``erreur``): run the same proof from a LAN host with ``vpn.reaches``-style checks.

Probe outputs are read back with :func:`parse_sas` (swanctl 5.x's text format, see
``swanctl/commands/list_sas.c``; tests use outputs captured in the lab, origin in the files).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import Field

from checks._common.text import clip, limited, reason_of, said
from checks.network._common import Address, Network, covered_by
from checks.network.reach import WITNESS_PORT, connect_probe, parse_connection
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict

SWANCTL = "/usr/sbin/swanctl --list-sas"
_MARK = "@@grader-ipsec"

_IKE = re.compile(r"^(?P<name>\S+): #(?P<id>\d+), (?P<state>[A-Z_]+), IKEv(?P<version>\d)")
_ENDPOINT = re.compile(r"^  (?P<side>local|remote) +'(?P<id>[^']*)' @ (?P<host>\S+?)\[(?P<port>\d+)\]")
_CHILD = re.compile(r"^  (?P<name>\S+): #(?P<id>\d+), reqid (?P<reqid>\d+), (?P<state>[A-Z_]+), (?P<mode>[A-Za-z-]+)")
_COUNTER = re.compile(r"^    (?P<dir>in|out) +(?P<spi>[0-9a-f]+)\S*, +(?P<bytes>\d+) bytes, +(?P<packets>\d+) packets")
_TS = re.compile(r"^    (?P<side>local|remote) +(?P<ts>\S.*)$")


@dataclass(frozen=True)
class ChildSa:
    name: str
    unique: int
    state: str  # INSTALLED, REKEYED, ...
    mode: str  # TUNNEL, TUNNEL-in-UDP, TRANSPORT
    local_ts: tuple[str, ...] = ()
    remote_ts: tuple[str, ...] = ()
    spi_in: str = ""
    spi_out: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    packets_in: int = 0
    packets_out: int = 0

    @property
    def installed(self) -> bool:
        return self.state == "INSTALLED"

    @property
    def tunnel(self) -> bool:
        return self.mode.startswith("TUNNEL")

    def covers(self, local: Sequence[str], remote: Sequence[str]) -> bool:
        """Every expected local network in a local selector and every remote one in a remote selector."""
        return all(covered_by(n, _nets(self.local_ts)) for n in local) and all(
            covered_by(n, _nets(self.remote_ts)) for n in remote)

    def describe(self) -> Msg:
        return Msg("CHILD_SA {name} {state} ({mode}) {local} <-> {remote}, entrée {bytes_in} o/{packets_in} paquets, "
                   "sortie {bytes_out} o/{packets_out} paquets", name=self.name, state=self.state, mode=self.mode,
                   local=" ".join(self.local_ts) or "?", remote=" ".join(self.remote_ts) or "?",
                   bytes_in=self.bytes_in, packets_in=self.packets_in, bytes_out=self.bytes_out,
                   packets_out=self.packets_out)


@dataclass(frozen=True)
class IkeSa:
    name: str
    unique: int
    state: str  # ESTABLISHED, CONNECTING, ...
    version: int
    local_id: str = ""
    local_host: str = ""
    remote_id: str = ""
    remote_host: str = ""
    children: tuple[ChildSa, ...] = ()

    @property
    def established(self) -> bool:
        return self.state == "ESTABLISHED"

    def describe(self) -> Msg:
        return Msg("IKE_SA {name} {state} avec {remote_id} @ {remote_host}", name=self.name, state=self.state,
                   remote_id=self.remote_id or "?", remote_host=self.remote_host or "?")


def _nets(values: Iterable[str]) -> list[str]:
    """Selectors as networks: ``10.1.0.0/16``, ``10.1.0.0/16[tcp/80]`` (its protocol/port part dropped)."""
    return [v.split("[", 1)[0] for v in values]


def parse_sas(text: str) -> list[IkeSa]:
    """The SAs of ``swanctl --list-sas`` (5.x text format); ValueError on lines of no known shape at SA level.

    An empty output is no SA at all (charon runs and has none).
    """
    sas: list[IkeSa] = []
    child: ChildSa | None = None

    def flush_child() -> None:
        nonlocal child
        if child is not None:
            sas[-1] = replace(sas[-1], children=sas[-1].children + (child,))
            child = None

    for line in text.splitlines():
        if not line.strip():
            continue
        if m := _IKE.match(line):
            if sas:
                flush_child()
            sas.append(IkeSa(m["name"], int(m["id"]), m["state"], int(m["version"])))
            continue
        if not sas:
            raise ValueError(Msg("ligne inattendue avant toute SA : {line}", line=repr(line[:80])))
        if m := _CHILD.match(line):
            flush_child()
            child = ChildSa(m["name"], int(m["id"]), m["state"], m["mode"])
        elif child is None and (m := _ENDPOINT.match(line)):
            endpoint: dict[str, Any] = {f"{m['side']}_id": m["id"], f"{m['side']}_host": m["host"]}
            sas[-1] = replace(sas[-1], **endpoint)
        elif child is not None and (m := _COUNTER.match(line)):
            d = m["dir"]
            counters: dict[str, Any] = {f"spi_{d}": m["spi"], f"bytes_{d}": int(m["bytes"]),
                                        f"packets_{d}": int(m["packets"])}
            child = replace(child, **counters)
        elif child is not None and (m := _TS.match(line)):
            selectors: dict[str, Any] = {f"{m['side']}_ts": tuple(m["ts"].split())}
            child = replace(child, **selectors)
    if sas:
        flush_child()
    return sas


def _daemon_down(r: ProbeResult) -> bool:
    """swanctl could not reach charon's VICI socket because nothing listens there (not: was not allowed to)."""
    text = f"{r.stdout}\n{r.stderr}"
    return "vici" in text and ("No such file or directory" in text or "Connection refused" in text)


def _said(r: ProbeResult) -> str:
    """What swanctl said, without the warnings of plugins its package does not ship (« plugin 'ldap': failed… »)."""
    lines = [line for line in f"{r.stderr}\n{r.stdout}".splitlines() if line.strip() and not line.startswith("plugin '")]
    return clip("\n".join(lines), 240)


def _sas_or_verdict(r: ProbeResult, expected: str | Msg) -> list[IkeSa] | Verdict:
    if r.exit_code == 127:
        return Verdict.erreur(Msg("swanctl introuvable (/usr/sbin/swanctl) : strongSwan n'est pas installé ou "
                                  "l'IPsec est fait par un autre logiciel"),
                              observed=_said(r), expected=expected)
    if r.exit_code != 0:
        if _daemon_down(r):
            return Verdict.non_conforme(Msg("le démon charon ne répond pas (socket VICI absente) : {output}",
                                            output=_said(r)),
                                        expected, Msg("strongSwan n'est pas en marche : aucune SA IPsec."))
        return Verdict.erreur(Msg("lecture des SA impossible (code {code})", code=r.exit_code),
                              observed=_said(r), expected=expected)
    try:
        return parse_sas(r.stdout)
    except ValueError as exc:
        return Verdict.erreur(Msg("sortie de « swanctl --list-sas » illisible : {exc}", exc=reason_of(exc)),
                              observed=clip(r.stdout), expected=expected)


def _peer_matches(sa: IkeSa, peer: str | None, peer_id: str | None) -> bool:
    return (peer is None or sa.remote_host == peer) and (peer_id is None or sa.remote_id == peer_id)


def _shown(sas: Sequence[IkeSa]) -> str | Msg:
    if not sas:
        return Msg("aucune SA IKE")
    items: list[str | Msg] = []
    for sa in sas:
        items.append(sa.describe())
        items.extend(c.describe() for c in sa.children)
    return said(limited(items, 600))


class IpsecSa(Check):
    """Le tunnel IPsec site à site vers {peer} est établi et relie {local_ts} à {remote_ts}.

    Probe (SSH, root: charon's VICI socket): ``swanctl --list-sas``. Conforme when an IKE SA
    is ``ESTABLISHED`` with the peer whose address is ``peer`` (and identity ``peer_id``, when
    given) and carries a CHILD SA ``INSTALLED`` in tunnel mode whose local selectors cover every
    ``local_ts`` network and remote selectors every ``remote_ts`` network. Only the peer's SA
    connecting, or its CHILD SA missing or narrower than the LANs, is non conforme; charon not
    running (no VICI socket) too. swanctl missing or refused is erreur. The byte counters are
    in the evidence; :class:`IpsecLanToLan` proves the traffic goes through.
    """

    id = "vpn.ipsec_sa"
    platform = "linux"
    transport = "ssh"
    usually_serves = ("CP12.1",)
    example = "{peer: 203.0.113.2, peer_id: site-b, local_ts: [192.168.10.0/24], remote_ts: [192.168.20.0/24]}"

    class Params(CheckParams):
        peer: Address
        local_ts: list[Network] = Field(min_length=1)
        remote_ts: list[Network] = Field(min_length=1)
        peer_id: str | None = None

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"sas": Probe("ssh", SWANCTL, 10.0)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = Msg("SA IKE établie avec {peer}{peer_id}, CHILD_SA installée {local} <-> {remote}",
                       peer=params.peer, peer_id=f" ({params.peer_id})" if params.peer_id else "",
                       local=" ".join(params.local_ts), remote=" ".join(params.remote_ts))
        sas = _sas_or_verdict(results["sas"], expected)
        if isinstance(sas, Verdict):
            return sas
        observed = _shown(sas)
        peers = [sa for sa in sas if _peer_matches(sa, params.peer, params.peer_id)]
        if not peers:
            return Verdict.non_conforme(observed, expected, Msg("Aucune SA IKE avec le pair {peer} : le tunnel "
                                                                "IPsec vers l'autre site n'est pas négocié.",
                                                                peer=params.peer))
        established = [sa for sa in peers if sa.established]
        if not established:
            return Verdict.non_conforme(observed, expected, Msg("La SA IKE avec {peer} n'est pas établie ({state}).",
                                                                peer=params.peer, state=peers[0].state))
        children = [c for sa in established for c in sa.children if c.installed]
        good = [c for c in children if c.tunnel and c.covers(params.local_ts, params.remote_ts)]
        if good:
            return Verdict.conforme(observed, expected, Msg("Le tunnel IPsec vers {peer} est établi et relie les "
                                                            "deux réseaux ({name}).", peer=params.peer,
                                                            name=good[0].name))
        if not children:
            return Verdict.non_conforme(observed, expected, Msg("La SA IKE avec {peer} est établie mais aucune "
                                                                "CHILD_SA n'est installée : aucun trafic ne passe.",
                                                                peer=params.peer))
        return Verdict.non_conforme(observed, expected, Msg("Les CHILD_SA installées avec {peer} ne couvrent pas "
                                                            "les réseaux attendus (sélecteurs de trafic).",
                                                            peer=params.peer))


def lan_to_lan_probe(witness: str, port: int, timeout: float) -> Probe:
    """The SA list, one connection to the witness, the SA list again: one active probe, in this order.

    swanctl's stderr (plugin warnings, or why charon could not be reached) stays on the probe's
    stderr; its exit codes are in the stdout, after each list.
    """
    connect = connect_probe(witness, port, timeout)
    token, _, rest = connect.command.partition("; ")  # "J=<token>" first: parse_connection reads it there
    command = (f"{token}; {SWANCTL}; echo \"{_MARK} $?\"; {rest}; echo \"{_MARK} connexion\"; "
               f"{SWANCTL}; echo \"{_MARK} $?\"")
    return Probe("ssh", command, connect.timeout + 20.0, active=True)


@dataclass(frozen=True)
class LanToLan:
    before: ProbeResult
    connection: ProbeResult
    after: ProbeResult


def split_lan_to_lan(r: ProbeResult) -> LanToLan:
    """The three parts of :func:`lan_to_lan_probe`'s output (ValueError when a marker is missing)."""
    parts = re.split(rf"^{_MARK} (\S+)$\n?", r.stdout, flags=re.MULTILINE)
    # [before, rc, connection, "connexion", after, rc, tail]
    if len(parts) < 7 or parts[3] != "connexion":
        raise ValueError(Msg("sortie de la sonde incomplète"))

    def part(stdout: str, code: str) -> ProbeResult:
        return replace(r, stdout=stdout, exit_code=int(code) if code.isdigit() else None)  # swanctl's stderr: both

    return LanToLan(part(parts[0], parts[1]), replace(r, stdout=parts[2], stderr=""), part(parts[4], parts[5]))


def _covering(sas: Sequence[IkeSa], source: str, destination: str) -> list[tuple[IkeSa, ChildSa]]:
    return [(sa, c) for sa in sas if sa.established for c in sa.children
            if c.installed and c.tunnel and c.covers([f"{source}/32"], [f"{destination}/32"])]


class IpsecLanToLan(Check):
    """Une connexion du LAN local vers le témoin {witness} du site distant passe par le tunnel IPsec.

    Active probe on the site's router, one command: ``swanctl --list-sas``, one TCP connection
    carrying the run's token to the witness ``witness:port`` on the far LAN (see
    :mod:`checks.network.reach`), ``swanctl --list-sas`` again. Conforme when the witness (named
    ``server``, when given) answered with the token, saw a source inside ``local_ts`` (tunnel
    mode: the LAN's own address, no NAT), and the installed tunnel-mode CHILD SA covering that
    source and the witness counted at least ``min_packets`` more packets each way between the
    two readings (same SPIs). Reached with no SA covering the far LAN, or with counters that did
    not move: the LANs talk in the clear, non conforme. Not reached: non conforme. A source
    outside ``local_ts`` while an SA covers the far LAN (the router's route to it carries no
    LAN source) or a rekey between the readings proves nothing: erreur.
    """

    id = "vpn.ipsec_lan_to_lan"
    platform = "linux"
    transport = "ssh"
    usually_serves = ("CP12.1",)
    example = "{witness: 192.168.20.70, server: srv-b, local_ts: [192.168.10.0/24]}"

    class Params(CheckParams):
        witness: Address
        local_ts: list[Network] = Field(min_length=1)
        port: int = Field(default=WITNESS_PORT, ge=1, le=65535)
        server: str | None = None
        min_packets: int = Field(default=2, ge=1, le=100)
        timeout: float = Field(default=3.0, gt=0, le=20)

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"lan_a_lan": lan_to_lan_probe(params.witness, params.port, params.timeout)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        where = f"{params.witness}:{params.port}"
        expected = Msg("le témoin {where} voit arriver la connexion depuis {local} et la CHILD_SA qui couvre ce "
                       "chemin compte ses paquets", where=where, local=" ".join(params.local_ts))
        r = results["lan_a_lan"]
        try:
            parts = split_lan_to_lan(r)
        except ValueError as exc:
            return Verdict.erreur(Msg("sonde interrompue : {exc}", exc=reason_of(exc)), observed=clip(r.stdout),
                                  expected=expected)
        before = _sas_or_verdict(parts.before, expected)
        if isinstance(before, Verdict):
            return before
        after = _sas_or_verdict(parts.after, expected)
        if isinstance(after, Verdict):
            return after
        c = parse_connection(parts.connection)
        if not c.connected:
            if c.code not in (1, 111, 124):
                return Verdict.erreur(Msg("sonde de connexion interrompue (code {code})", code=c.code),
                                      observed=clip(c.answer), expected=expected)
            why = (Msg("aucune réponse de {where} en {timeout} s", where=where, timeout=f"{params.timeout:g}")
                   if c.dropped else Msg("connexion à {where} impossible : {error}", where=where,
                                         error=clip(c.error_text(), 120) or Msg("échec")))
            return Verdict.non_conforme(Msg("{why} ; {sas}", why=why, sas=_shown(after)), expected,
                                        Msg("Le réseau du site distant n'est pas joint depuis ce site."))
        seen = c.witness()
        if seen is None or not c.token or seen[2] != c.token:
            return Verdict.erreur(Msg("le service joint sur {where} n'a pas répondu comme le témoin attendu",
                                      where=where), observed=clip(c.answer) or Msg("aucune réponse"),
                                  expected=expected)
        host, source, _ = seen
        arrived = Msg("le témoin {host} ({where}) a reçu le jeton depuis l'adresse {source}", host=host, where=where,
                      source=source)
        if params.server is not None and host != params.server:
            return Verdict.non_conforme(arrived, expected, Msg("La connexion aboutit chez {host}, pas chez {server}.",
                                                               host=host, server=params.server))
        try:
            ipaddress.ip_address(source)
        except ValueError:
            return Verdict.erreur(Msg("adresse source illisible dans la réponse du témoin"), observed=arrived,
                                  expected=expected)
        if not [c for sa in after if sa.established for c in sa.children
                if c.installed and c.tunnel and covered_by(f"{params.witness}/32", _nets(c.remote_ts))]:
            return Verdict.non_conforme(Msg("{arrived} ; {sas}", arrived=arrived, sas=_shown(after)), expected,
                                        Msg("La connexion arrive au témoin, mais aucune CHILD_SA installée ne couvre "
                                            "le LAN distant : les deux sites communiquent en clair, hors du tunnel "
                                            "IPsec."))
        if not covered_by(f"{source}/32", params.local_ts):
            return Verdict.erreur(Msg("la connexion du routeur est partie avec la source {source}, hors du LAN "
                                      "local : elle ne peut pas prouver le chemin de LAN à LAN (route de charon "
                                      "absente, install_routes = no ?)", source=source),
                                  observed=Msg("{arrived} ; {sas}", arrived=arrived, sas=_shown(after)),
                                  expected=expected)
        return self._counted(params, before, after, source, arrived, expected)

    @staticmethod
    def _counted(params: Params, before: list[IkeSa], after: list[IkeSa], source: str, arrived: Msg,
                 expected: Msg) -> Verdict:
        now = _covering(after, source, params.witness)
        if not now:
            return Verdict.non_conforme(Msg("{arrived} ; {sas}", arrived=arrived, sas=_shown(after)), expected,
                                        Msg("La connexion arrive avec l'adresse du LAN, mais aucune CHILD_SA "
                                            "installée ne couvre ce chemin : elle passe en clair, hors du tunnel "
                                            "IPsec."))
        earlier = {(c.spi_in, c.spi_out): c for _, c in _covering(before, source, params.witness)}
        deltas = []
        for sa, child in now:
            old = earlier.get((child.spi_in, child.spi_out))
            if old is not None:
                deltas.append((sa, child, child.packets_out - old.packets_out, child.packets_in - old.packets_in))
        if not deltas:
            return Verdict.erreur(Msg("la CHILD_SA a été renégociée entre les deux lectures : compteurs non "
                                      "comparables, relancez la vérification"),
                                  observed=Msg("{arrived} ; {sas}", arrived=arrived, sas=_shown(after)),
                                  expected=expected)
        sa, child, sent, received = max(deltas, key=lambda d: min(d[2], d[3]))
        observed = Msg("{arrived} ; {child} de {ike} : +{sent} paquets sortis, +{received} entrés pendant la "
                       "connexion", arrived=arrived, child=child.name, ike=sa.describe(), sent=sent, received=received)
        if sent >= params.min_packets and received >= params.min_packets:
            return Verdict.conforme(observed, expected, Msg("La connexion entre les deux LAN passe par le tunnel "
                                                            "IPsec, adresses d'origine conservées."))
        return Verdict.non_conforme(observed, expected, Msg("La connexion arrive, mais la CHILD_SA n'a pas compté "
                                                            "ses paquets : elle ne passe pas par le tunnel IPsec."))


CHECKS: tuple[type[Check], ...] = (IpsecSa, IpsecLanToLan)
