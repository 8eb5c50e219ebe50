"""The VPN checks' judges: "vpn.tunnel_up" (server side) and "vpn.reaches" (from the remote worker).

Outputs captured on the demo lab's OpenVPN server and client (data/vpn_*), plus states an
adversarial candidate could leave: a tun interface up with no peer, a persistent tun that
no daemon holds, a status file left by a stopped daemon, a status file from a client.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from checks.network.reach import connect_probe
from checks.network.vpn import (
    VpnReaches,
    VpnTunnelUp,
    dated_probe,
    parse_dated,
    parse_links,
    parse_status,
    tunnels,
)
from grader.check import TOKEN, evaluate
from grader.model import ProbeResult, Status
from tests.checks.conftest import load_capture, make_result

TOK = "0123456789abcdef"
SERVER = {"interface": "tun0", "status_file": "/run/openvpn-server/status-tssr.log", "peer": "teletravailleur",
          "peer_address": "10.77.1.140", "max_age": 60}


def _tunnel(interfaces: ProbeResult, statut: ProbeResult, **params):
    check = VpnTunnelUp()
    p = VpnTunnelUp.Params(**{**SERVER, **params})
    assert set(check.probes(p)) == {"interfaces", "statut"}
    verdict = evaluate(check, p, {"interfaces": interfaces, "statut": statut})
    assert verdict.message
    return verdict


def _aged(result: ProbeResult, seconds: int) -> ProbeResult:
    """The same status output read ``seconds`` after the file was last written."""
    _now, mtime, rest = result.stdout.split("\n", 2)
    return replace(result, stdout=f"{int(mtime) + seconds}\n{mtime}\n{rest}")


V2_NO_CLIENT = ("TITLE,OpenVPN 2.6.14 x86_64-pc-linux-gnu\nTIME,2026-11-29 04:04:50,1795925090\n"
                "HEADER,CLIENT_LIST,Common Name,Real Address,Virtual Address,Virtual IPv6 Address,Bytes Received,"
                "Bytes Sent,Connected Since,Connected Since (time_t),Username,Client ID,Peer ID,Data Channel Cipher\n"
                "HEADER,ROUTING_TABLE,Virtual Address,Common Name,Real Address,Last Ref,Last Ref (time_t)\n"
                "GLOBAL_STATS,Max bcast/mcast queue length,0\nGLOBAL_STATS,dco_enabled,0\nEND\n")
# status-version 1 (OpenVPN's default), as its manual page describes it
V1 = ("OpenVPN CLIENT LIST\nUpdated,2026-11-29 04:04:50\n"
      "Common Name,Real Address,Bytes Received,Bytes Sent,Connected Since\n"
      "teletravailleur,10.77.1.140:40417,1880,1982,2026-11-29 04:04:46\nROUTING TABLE\n"
      "Virtual Address,Common Name,Real Address,Last Ref\n10.77.1.194,teletravailleur,10.77.1.140:40417,"
      "2026-11-29 04:04:47\nGLOBAL STATS\nMax bcast/mcast queue length,1\nEND\n")
CLIENT_STATS = ("OpenVPN STATISTICS\nUpdated,2026-11-29 04:04:50\nTUN/TAP read bytes,0\nTUN/TAP write bytes,0\n"
                "TCP/UDP read bytes,1234\nTCP/UDP write bytes,5678\nAuth read bytes,0\nEND\n")


def _status(text: str, age: int = 3) -> ProbeResult:
    return make_result(f"1795925093\n{1795925093 - age}\n{text}")


# --- parsers -----------------------------------------------------------------------------------------

def test_parse_links_on_the_servers_interfaces():
    links = parse_links(load_capture("vpn_server_ip_addr_c01.txt").stdout)
    tun = tunnels(links, None)
    assert [t.name for t in tun] == ["tun0"] and tun[0].up and tun[0].carrier
    assert tun[0].ipv4 == ("10.77.1.193/27",) and tunnels(links, "eth2")[0].addresses() == ["10.77.1.129"]
    with pytest.raises(ValueError):
        parse_links('{"not": "a list"}')


def test_parse_status_versions():
    v2 = parse_status(parse_dated(load_capture("vpn_server_status_v2_c01.txt").stdout).text)
    assert v2.version == 2 and [(p.common_name, p.real_ip, p.virtual_address) for p in v2.peers] == [
        ("teletravailleur", "10.77.1.140", "10.77.1.194")]
    v1 = parse_status(V1)
    assert v1.version == 1 and v1.peers[0].real_ip == "10.77.1.140" and v1.peers[0].virtual_address == "10.77.1.194"
    v3 = parse_status(load_capture("vpn_server_status_v2_c01.txt").stdout.split("\n", 2)[2].replace(",", "\t"))
    assert v3.version == 3 and v3.peers[0].common_name == "teletravailleur"
    assert parse_status(V2_NO_CLIENT).peers == ()
    for bad in ("", "Bienvenue !\n", CLIENT_STATS):
        with pytest.raises(ValueError):
            parse_status(bad)


def test_dated_probe_puts_the_clock_and_the_mtime_before_the_content():
    probe = dated_probe("/run/x y.log")
    assert probe.command.startswith("/bin/date +%s; /usr/bin/stat -c %Y -- '/run/x y.log' && /usr/bin/head")
    assert parse_dated("100\n").mtime is None
    dated = parse_dated("100\n90\nTITLE,fake\n")
    assert dated.age == 10 and dated.text == "TITLE,fake\n"
    with pytest.raises(ValueError):
        parse_dated("TITLE,OpenVPN\n")


# --- vpn.tunnel_up -----------------------------------------------------------------------------------

def test_tunnel_up_with_its_peer_connected():
    v = _tunnel(load_capture("vpn_server_ip_addr_c01.txt"), load_capture("vpn_server_status_v2_c01.txt"))
    assert v.status is Status.CONFORME
    assert "tun0 (active, 10.77.1.193/27)" in v.observed and "teletravailleur depuis 10.77.1.140" in v.observed


def test_tun_up_without_any_peer_is_non_conforme():
    v = _tunnel(load_capture("vpn_server_ip_addr_c01.txt"), _status(V2_NO_CLIENT))
    assert v.status is Status.NON_CONFORME and "clients : aucun" in v.observed and "aucun client" in v.message


def test_another_peer_than_the_expected_one_is_non_conforme():
    v = _tunnel(load_capture("vpn_server_ip_addr_c01.txt"), load_capture("vpn_server_status_v2_c01.txt"),
                peer_address="10.77.1.141")
    assert v.status is Status.NON_CONFORME and "10.77.1.141" in v.message
    assert _tunnel(load_capture("vpn_server_ip_addr_c01.txt"), _status(V1), peer="teletravailleur").status \
        is Status.CONFORME


def test_a_stale_status_file_never_proves_a_connection():
    """The file still lists the peer, but nobody rewrote it for 10 minutes: its daemon is gone."""
    stale = _aged(load_capture("vpn_server_status_v2_c01.txt"), 600)
    v = _tunnel(load_capture("vpn_server_ip_addr_c01.txt"), stale)
    assert v.status is Status.ERREUR and "10 min" in v.message and "teletravailleur" not in v.observed


def test_a_persistent_tun_that_no_daemon_holds_is_non_conforme():
    """Captured: the server stopped, then tun0 made by hand (ip tuntap), addressed and up: NO-CARRIER."""
    v = _tunnel(load_capture("vpn_server_ip_addr_persistent_tun.txt"), load_capture("vpn_server_status_stopped.txt"))
    assert v.status is Status.NON_CONFORME and "sans porteuse" in v.observed


def test_no_tunnel_interface_or_no_status_file():
    no_tun = make_result(json.dumps([{"ifname": "lo", "flags": ["UP", "LOWER_UP"], "link_type": "loopback",
                                      "addr_info": []}]))
    v = _tunnel(no_tun, load_capture("vpn_server_status_v2_c01.txt"))
    assert v.status is Status.NON_CONFORME and "aucune interface tun0" in v.observed
    absent = make_result("1795925093\n", "/usr/bin/stat: cannot statx '/run/openvpn-server/status-tssr.log': "
                                        "No such file or directory\n", 1)
    v = _tunnel(load_capture("vpn_server_ip_addr_c01.txt"), absent)
    assert v.status is Status.ERREUR and "introuvable" in v.message


def test_a_client_status_file_or_garbage_is_erreur():
    for text in (CLIENT_STATS, "Bienvenue sur le routeur !\n"):
        v = _tunnel(load_capture("vpn_server_ip_addr_c01.txt"), _status(text))
        assert v.status is Status.ERREUR
    v = _tunnel(make_result("not json"), load_capture("vpn_server_status_v2_c01.txt"))
    assert v.status is Status.ERREUR


# --- vpn.reaches -------------------------------------------------------------------------------------

def _conn(stdout: str, address: str = "10.77.1.70") -> ProbeResult:
    probe = connect_probe(address, 7777)
    return ProbeResult(probe.key, "ssh", probe.command.replace(TOKEN, TOK), stdout=stdout, exit_code=0)


def _reaches(connexion: ProbeResult, *, route: str = "vpn_client_route_c01.txt",
             interfaces: ProbeResult | None = None, **params):
    check = VpnReaches()
    p = VpnReaches.Params(**{"witness": "10.77.1.70", "server": "pc-lan", **params})
    assert set(check.probes(p)) == {"interfaces", "route", "connexion"}
    verdict = evaluate(check, p, {"interfaces": interfaces or load_capture("vpn_client_ip_addr_c01.txt"),
                                  "route": load_capture(route), "connexion": connexion})
    assert verdict.message
    return verdict


def test_the_lan_witness_saw_the_tunnel_address():
    v = _reaches(_conn(f"@connecte\nTEMOIN pc-lan 10.77.1.194 {TOK}\n@code 0\n"))
    assert v.status is Status.CONFORME
    assert "interface tun0 via 10.77.1.193" in v.observed and "depuis l'adresse 10.77.1.194" in v.observed


def test_reached_by_another_path_is_not_a_vpn_access():
    """02: no route pushed; the connection leaves by the management interface and still arrives."""
    v = _reaches(_conn(f"@connecte\nTEMOIN pc-lan 10.77.2.40 {TOK}\n@code 0\n", "10.77.2.70"),
                 route="vpn_client_route_c02_no_push.txt", witness="10.77.2.70")
    assert v.status is Status.NON_CONFORME and "interface eth0" in v.observed and "10.77.2.40" in v.message


def test_unreachable_wrong_witness_or_forged_answer():
    dropped = _reaches(_conn("@code 124\n"))
    assert dropped.status is Status.NON_CONFORME and "aucune réponse de 10.77.1.70:7777" in dropped.observed
    other = _reaches(_conn(f"@connecte\nTEMOIN srv-lin 10.77.1.194 {TOK}\n@code 0\n"))
    assert other.status is Status.NON_CONFORME and "srv-lin" in other.message
    forged = _reaches(_conn("@connecte\nTEMOIN pc-lan 10.77.1.194 fedcba9876543210\n@code 0\n"))
    assert forged.status is Status.ERREUR
    no_tunnel = make_result(json.dumps([{"ifname": "eth0", "flags": ["UP", "LOWER_UP"], "link_type": "ether",
                                         "addr_info": [{"family": "inet", "local": "10.77.1.194", "prefixlen": 16}]}]))
    v = _reaches(_conn(f"@connecte\nTEMOIN pc-lan 10.77.1.194 {TOK}\n@code 0\n"), interfaces=no_tunnel)
    assert v.status is Status.NON_CONFORME and "sans tunnel" in v.message
