"""Judge of "network.dhcp_offer" on the dhcp channel's records: range, router, DNS, second server.

Records have the shape :func:`grader.transports.dhcp.transaction` writes; the channel itself is
tested against real dnsmasq servers in tests/transports/test_dhcp.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from checks.network.dhcp import DhcpOffer
from grader.check import evaluate
from grader.model import ProbeResult, Status
from grader.probes.dhcp import READ_ONLY_NOTE

LAN = {"interface": "grd-c01-lan", "range_start": "10.77.1.80", "range_end": "10.77.1.90",
       "router": "10.77.1.65", "dns": ["10.77.1.65"]}


def offer(yiaddr: str = "10.77.1.84", server: str = "10.77.1.65", **options: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {"message-type": 2, "server_id": server, "subnet_mask": "255.255.255.224",
                            "router": ["10.77.1.65"], "name_server": ["10.77.1.65"], "domain": "tssr.lan",
                            "lease_time": 43200}
    opts.update(options)
    for name in [k for k, v in opts.items() if v is None]:
        del opts[name]
    return {"server_id": server, "source_ip": server, "source_mac": "02:11:22:33:44:55", "yiaddr": yiaddr,
            "siaddr": server, "giaddr": "0.0.0.0", "after_ms": 12.5, "options": opts}


def judge(offers: list[dict[str, Any]], **params: Any) -> Any:
    p = DhcpOffer.Params(**{**LAN, **params})
    probe = DhcpOffer().probes(p)["offre"]
    record = {"interface": p.interface, "client_mac": "06:aa:bb:cc:dd:ee", "xid": "0x1234abcd",
              "sent": "DHCPDISCOVER", "broadcast_flag": True, "wait": p.wait, "request_sent": False,
              "note": str(READ_ONLY_NOTE), "offers": offers, "other_replies": 0}
    result = ProbeResult(key=probe.key, transport="dhcp", command=probe.command, stdout=json.dumps(record),
                         exit_code=0 if offers else 1)
    return evaluate(DhcpOffer(), p, {"offre": result})


def test_the_expected_offer_is_conforme_and_the_evidence_says_no_lease_was_taken():
    v = judge([offer()], domain="tssr.lan", lease_time=43200)
    assert v.status is Status.CONFORME, v
    assert "10.77.1.84" in v.observed and "routeur 10.77.1.65" in v.observed
    assert "aucun bail pris" in v.observed and "0x1234abcd" in v.observed


def test_no_offer_is_non_conforme_with_the_wait():
    v = judge([], wait=2)
    assert v.status is Status.NON_CONFORME
    assert "aucune offre DHCP en 2 s" in v.observed


@pytest.mark.parametrize(("options", "fault"), [
    ({"router": None}, "option routeur (3) absente"),
    ({"name_server": None}, "option DNS (6) absente"),
    ({"router": ["10.77.1.1"]}, "passerelle 10.77.1.1 au lieu de 10.77.1.65"),
    ({"name_server": ["8.8.8.8"]}, "DNS 8.8.8.8 au lieu de 10.77.1.65"),
    ({"name_server": ["10.77.1.65", "8.8.8.8"]}, "DNS 10.77.1.65, 8.8.8.8 au lieu de 10.77.1.65"),
])
def test_missing_or_wrong_options_are_non_conforme(options, fault):
    v = judge([offer(**options)])
    assert v.status is Status.NON_CONFORME
    assert fault in v.message


@pytest.mark.parametrize("yiaddr", ["10.77.1.79", "10.77.1.91", "10.77.1.70", "192.168.1.10", "0.0.0.0", "garbage"])
def test_an_address_outside_the_range_is_non_conforme(yiaddr):
    v = judge([offer(yiaddr=yiaddr)])
    assert v.status is Status.NON_CONFORME
    assert "hors de la plage 10.77.1.80-10.77.1.90" in v.message


def test_range_bounds_are_inclusive():
    assert judge([offer(yiaddr="10.77.1.80")]).status is Status.CONFORME
    assert judge([offer(yiaddr="10.77.1.90")]).status is Status.CONFORME


def test_domain_and_lease_time_only_when_asked():
    assert judge([offer(domain=None, lease_time=600)]).status is Status.CONFORME
    v = judge([offer(domain="autre.lan", lease_time=600)], domain="TSSR.lan.", lease_time=43200)
    assert v.status is Status.NON_CONFORME
    assert "nom de domaine autre.lan au lieu de TSSR.lan." in v.message and "bail de 600 s" in v.message
    assert judge([offer()], domain="TSSR.lan.").status is Status.CONFORME


def test_two_servers_answering_are_reported_and_non_conforme_when_exclusive():
    rogue = offer(yiaddr="192.168.0.50", server="10.77.1.66", router=["192.168.0.1"])
    v = judge([offer(), rogue], server="10.77.1.65")
    assert v.status is Status.NON_CONFORME
    assert "10.77.1.66" in v.message and "2 offre(s) de 2 serveur(s)" in v.observed
    v = judge([offer(), rogue], server="10.77.1.65", exclusive=False)
    assert v.status is Status.CONFORME
    assert "autre serveur présent : 10.77.1.66" in v.message
    # without an expected server, every server that answered is a stranger to the others
    assert judge([offer(), offer(server="10.77.1.66")]).status is Status.NON_CONFORME
    # and with exclusive off, every offer must still be right
    assert judge([offer(), rogue], exclusive=False).status is Status.NON_CONFORME


def test_only_another_server_answering_is_non_conforme():
    v = judge([offer(server="10.77.1.66")], server="10.77.1.65")
    assert v.status is Status.NON_CONFORME
    assert "Le serveur DHCP attendu 10.77.1.65 ne répond pas" in v.message


def test_two_offers_from_the_expected_server_are_one_server():
    assert judge([offer(), offer(yiaddr="10.77.1.85")], server="10.77.1.65").status is Status.CONFORME


@pytest.mark.parametrize("stdout", ["", "{}", '{"offers": "x"}', '{"offers": [1]}', "garbage"])
def test_unreadable_records_are_erreur(stdout):
    p = DhcpOffer.Params(**LAN)
    probe = DhcpOffer().probes(p)["offre"]
    result = ProbeResult(key=probe.key, transport="dhcp", command=probe.command, stdout=stdout, exit_code=0)
    assert evaluate(DhcpOffer(), p, {"offre": result}).status is Status.ERREUR


def test_a_channel_failure_is_erreur_never_non_conforme():
    """No raw socket or no interface: the channel sets ``error``; evaluate() makes it erreur with the reason."""
    p = DhcpOffer.Params(**LAN)
    probe = DhcpOffer().probes(p)["offre"]
    result = ProbeResult(key=probe.key, transport="dhcp", command=probe.command,
                         error="socket brute refusée (CAP_NET_RAW requis : lancez grader en root)")
    v = evaluate(DhcpOffer(), p, {"offre": result})
    assert v.status is Status.ERREUR and "CAP_NET_RAW" in v.message


def test_bad_rubric_addresses_are_erreur():
    assert judge([offer()], router="10.77.1.650").status is Status.ERREUR
    assert judge([offer()], range_start="10.77.1.90", range_end="10.77.1.80").status is Status.ERREUR


def test_probe_is_one_active_discover_per_interface_and_wait():
    a = DhcpOffer().probes(DhcpOffer.Params(**LAN))["offre"]
    b = DhcpOffer().probes(DhcpOffer.Params(**{**LAN, "router": "10.77.1.1", "dns": []}))["offre"]
    assert a == b and a.active and a.transport == "dhcp"  # expectations are judged, not sent
    assert json.loads(a.command) == {"interface": "grd-c01-lan", "wait": 3.0}
    with pytest.raises(ValueError):
        DhcpOffer().probes(DhcpOffer.Params(**{**LAN, "interface": "../etc"}))
