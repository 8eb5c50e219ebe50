"""Inter-VLAN routing (CP5.1), proved by the far VLAN's witness: it sees this host's own VLAN address.

A router on a stick that routes between VLANs and a router that *translates* between them
look alike from a configuration reader's chair: subinterfaces, addresses, ``ip routing``. The
difference is what the far side sees. From a host on VLAN A, one TCP connection carrying the
run's token to a witness on VLAN B (:mod:`checks.network.reach`): routed, the witness saw the
host's own VLAN A address; translated (NAT on the router, a proxy) it saw the router's VLAN B
address; reached another way (a management network, a second interface of the host on VLAN
B) it saw an address that is not in VLAN A. Only the first is inter-VLAN routing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from pydantic import Field

from checks._common.text import clip, limited, said
from checks.network._common import Address, Network
from checks.network.reach import WITNESS_PORT, _no_connection, connect_probe, parse_connection
from checks.network.vpn import ADDRESSES, _links_or_verdict
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict


class IntervlanRouted(Check):
    """Le témoin {witness} d'un autre VLAN est joint depuis cet hôte du VLAN {vlan} ({source_network}) sans traduction d'adresse.

    Active probe (SSH, in the host's batch): the host's addresses (``ip -j addr show``) and one
    TCP connection carrying the run's token to the witness ``witness:port`` on the other VLAN.
    Conforme when the witness (named ``server``, when given) answered with the token and saw as
    source one of this host's own addresses inside ``source_network`` (the host's VLAN): the
    router forwarded the packet between the VLANs as it was. Non conforme when the connection
    fails, or arrives from another address (the router's: NAT; another of the host's
    interfaces: another path), or when the host has no address in its VLAN.
    """

    id = "network.intervlan_routed"
    platform = "linux"
    transport = "ssh"
    usually_serves = ("CP5.1",)
    example = "{witness: 192.168.20.5, source_network: 192.168.10.0/24, vlan: '10', server: srv-fichiers}"

    class Params(CheckParams):
        witness: Address
        source_network: Network
        vlan: str = ""  # the VLAN's number or name, for the report
        port: int = Field(default=WITNESS_PORT, ge=1, le=65535)
        server: str | None = None
        timeout: float = Field(default=3.0, gt=0, le=20)

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"interfaces": Probe("ssh", ADDRESSES, 10.0),
                "connexion": connect_probe(params.witness, params.port, params.timeout)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        where = f"{params.witness}:{params.port}"
        network = ipaddress.ip_network(params.source_network, strict=False)
        expected = Msg("le témoin {where} voit arriver la connexion depuis l'adresse de cet hôte dans {network}",
                       where=where, network=str(network))
        links = _links_or_verdict(results["interfaces"], expected)
        if isinstance(links, Verdict):
            return links
        own = {a for link in links if link.up for a in link.addresses()}
        in_vlan = sorted(a for a in own if ipaddress.ip_address(a) in network)
        mine = (Msg("adresse de l'hôte dans le VLAN : {addresses}", addresses=", ".join(in_vlan)) if in_vlan else
                Msg("aucune adresse de l'hôte dans {network} (adresses : {addresses})", network=str(network),
                    addresses=said(limited(sorted(own))) if own else Msg("aucune")))
        c = parse_connection(results["connexion"])
        if not c.connected:
            if c.code not in (111, 124):
                return Verdict.erreur(Msg("sonde de connexion interrompue (code {code})", code=c.code),
                                      observed=clip(c.answer, 160, squeeze=True), expected=expected)
            return Verdict.non_conforme(Msg("{mine} ; {failure}", mine=mine,
                                            failure=_no_connection(c, where, params.timeout)), expected,
                                        Msg("L'autre VLAN n'est pas joint depuis cet hôte : pas de routage inter-VLAN "
                                            "(passerelle, sous-interface, routage ou filtrage)."))
        seen = c.witness()
        if seen is None or not c.token or seen[2] != c.token:
            return Verdict.erreur(Msg("le service joint sur {where} n'a pas répondu comme le témoin attendu",
                                      where=where), observed=clip(c.answer, 160, squeeze=True) or Msg("aucune réponse"),
                                  expected=expected)
        host, peer, _ = seen
        observed = Msg("{mine} ; le témoin {host} ({where}) a reçu le jeton depuis l'adresse {peer}", mine=mine,
                       host=host, where=where, peer=peer)
        if params.server is not None and host != params.server:
            return Verdict.non_conforme(observed, expected, Msg("La connexion aboutit chez {host}, pas chez {server}.",
                                                                host=host, server=params.server))
        if peer in in_vlan:
            return Verdict.conforme(observed, expected, Msg("Le trafic est routé entre les VLAN, adresse d'origine "
                                                            "conservée."))
        if not in_vlan:
            return Verdict.non_conforme(observed, expected, Msg("Cet hôte n'a pas d'adresse dans son VLAN ({network}).",
                                                                network=str(network)))
        if peer in own:
            return Verdict.non_conforme(observed, expected, Msg("La connexion part par une autre interface de l'hôte "
                                                                "({peer}) : l'autre VLAN est joint sans passer par le "
                                                                "routeur inter-VLAN.", peer=peer))
        return Verdict.non_conforme(observed, expected, Msg("La connexion arrive avec l'adresse {peer} au lieu de celle "
                                                            "de l'hôte : le routeur traduit les adresses (NAT) entre "
                                                            "les VLAN au lieu de les router.", peer=peer))


CHECKS: tuple[type[Check], ...] = (IntervlanRouted,)
