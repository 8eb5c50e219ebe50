"""The lab of the ``ccp2-infra-centralisee`` pack: CCP2 « Maintenir, exploiter et sécuriser une infrastructure centralisée ».

Each candidate gets the five machines of the mise en situation (RC, CCP2 session table: phase 1,
manipulations on server VMs under supervision), on the candidate's network 10.77.N.0/24:

- ``srv-lin`` (.10): a Debian server with Apache (its default page), cron, sshd as Debian ships it,
  and the backup script the subject provides (``/usr/local/sbin/sauvegarde.sh``), not scheduled;
- ``dc`` (.20): a Samba AD domain controller ``tssr.lan`` as provisioned, with one workstation
  already joined (``PC-COMPTA01``, left in ``CN=Computers``): no OU, no user, no group, no GPO;
- ``routeur`` (.2; LAN 10.77.N.65/27 on eth1, WAN 10.77.N.129/27 on eth2): nftables, dnsmasq and
  squid installed as Debian ships them (no rule, no DHCP, squid refusing the LAN), IPv4 forwarding
  off; the exam's « Internet » names (``www.example``, ``jeux.example``) resolved by a dnsmasq file
  the subject provides;
- ``pc-lan`` (.30; LAN .70) the LAN workstation, with the exam's witness behind the port forward;
- ``srv-wan`` (.40; WAN .140) the exam's « Internet » server: its witness and two web sites.

:func:`solve` does, in the running hosts, what the reference candidate does (the same tools:
``samba-tool`` as Administrator, files under /etc, ``systemctl``). The self-test proves both ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from grader.errors import LabError
from grader.lab import dhcp, proxy, router, samba
from grader.lab.hosts import HostShell, HostSpec, Link
from grader.lab.packs import (
    STATES,
    lab_name,
    network_variables,
    number,
    plant_file,
    sh,
    solve_hosts,
    with_solution,
    write,
)

SRV, DC, ROUTER, LAN_CLIENT, WAN_SERVER = "srv-lin", "dc", "routeur", "pc-lan", "srv-wan"
HOSTS = (SRV, DC, ROUTER, LAN_CLIENT, WAN_SERVER)
LAST_OCTET = {SRV: 10, DC: 20, ROUTER: 2, LAN_CLIENT: 30, WAN_SERVER: 40}

BACKUP_SCRIPT = """#!/bin/sh
# Sauvegarde du site web de l'intranet (script fourni par le sujet).
set -e
mkdir -p /var/backups/www
tar -czf "/var/backups/www/www-$(date +%F).tar.gz" -C /var www
"""
INTERNET_DNS = """# Fourni par l'examen : les sites de l'« Internet » de la salle, servis par srv-wan.
# Ne pas modifier.
{records}"""
INDEX_HTML = """<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>Intranet</title></head>
<body><h1>Intranet TSSR</h1><p>Bienvenue sur l'intranet de l'entreprise.</p></body>
</html>
"""
NFTABLES = """#!/usr/sbin/nft -f
flush ruleset

table inet filtre {{
    chain entree {{
        type filter hook input priority filter; policy accept;
        iifname "eth2" tcp dport 22 drop
    }}
}}
table ip nat {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "eth2" tcp dport 8080 dnat to {lan_client}:{witness}
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "eth2" masquerade
    }}
}}
"""
COMPTA = "Comptabilité"
COMPUTER = "PC-COMPTA01"
GPO_WALLPAPER = "Fond d'écran"


variables = network_variables  # the candidate's roster values (``reseau``)


def address(candidate: str, host: str) -> str:
    return f"10.77.{number(candidate)}.{LAST_OCTET[host]}"


def segments(candidate: str) -> dict[str, str]:
    """LAN 10.77.N.64/27 and WAN 10.77.N.128/27 inside the candidate's /24 (as the demo room)."""
    n = number(candidate)
    return {"lan": f"10.77.{n}.64/27", "wan": f"10.77.{n}.128/27", "router_lan": f"10.77.{n}.65",
            "router_wan": f"10.77.{n}.129", "lan_client": f"10.77.{n}.70", "wan_server": f"10.77.{n}.140"}


# --- the start state (planted before boot) -----------------------------------------------------------------

_file = plant_file


def _plant_server(root: Path) -> None:
    _file(root, "/usr/local/sbin/sauvegarde.sh", BACKUP_SCRIPT, 0o755)


def _plant_dc(root: Path) -> None:
    """A workstation joined to the domain, left where a join puts it (CN=Computers)."""
    samba.samba_tool(root, "computer", "create", COMPUTER, "--description=Poste de la comptabilité")
    samba.ldbmodify(root, f"dn: CN={COMPUTER},CN=Computers,{samba.BASE_DN}\nchangetype: modify\n"
                          "replace: userAccountControl\nuserAccountControl: 4096\n-\nreplace: dNSHostName\n"
                          f"dNSHostName: {COMPUTER.lower()}.{samba.DNS_DOMAIN}\n-\nreplace: operatingSystem\n"
                          "operatingSystem: Windows 11 Professionnel\n-\n")


def _plant_router(candidate: str) -> Callable[[Path], None]:
    net = segments(candidate)

    def plant(root: Path) -> None:
        records = "".join(f"host-record={site},{net['wan_server']}\n" for site in (proxy.ALLOWED_SITE, proxy.BLOCKED_SITE))
        _file(root, "/etc/dnsmasq.d/00-internet-examen.conf", INTERNET_DNS.format(records=records))
    return plant


def specs(candidates: Sequence[str], state: str = "start") -> list[HostSpec]:
    """Every candidate's five hosts; ``state="solution"``: with :func:`solve` run once they are up."""
    if state not in STATES:
        raise LabError(f"état de labo inconnu : {state!r} (connus : {', '.join(STATES)})")
    out: list[HostSpec] = []
    for c in candidates:
        net, lan, wan = segments(c), f"c{c}-lan", f"c{c}-wan"
        hosts = [
            HostSpec(name=lab_name(c, SRV), ip=address(c, SRV), hostname=SRV, plant=_plant_server),
            HostSpec(name=lab_name(c, DC), ip=address(c, DC), hostname=DC, flavor="dc", plant=_plant_dc),
            HostSpec(name=lab_name(c, ROUTER), ip=address(c, ROUTER), hostname=ROUTER, flavor=router.ROUTER.name,
                     plant=_plant_router(c), setup=router.apply_sysctl,
                     links=(Link("eth1", lan, f"{net['router_lan']}/27"), Link("eth2", wan, f"{net['router_wan']}/27"))),
            HostSpec(name=lab_name(c, LAN_CLIENT), ip=address(c, LAN_CLIENT), hostname=LAN_CLIENT,
                     plant=router.plant_witness, links=(Link("eth1", lan, f"{net['lan_client']}/27"),),
                     routes=((net["wan"], net["router_lan"]),)),
            HostSpec(name=lab_name(c, WAN_SERVER), ip=address(c, WAN_SERVER), hostname=WAN_SERVER,
                     plant=proxy.plant_wan_server, links=(Link("eth1", wan, f"{net['wan_server']}/27"),)),
        ]
        if state == "solution":  # the solution is done by each host's setup, once the host is up
            hosts = [_with_solution(spec, c) for spec in hosts]
        out += hosts
    return out


def _with_solution(spec: HostSpec, candidate: str) -> HostSpec:
    return with_solution(spec, candidate, SOLVERS)


# --- the reference solution (in the running hosts) ---------------------------------------------------------

def solve(shells: Mapping[str, HostShell], candidate: str) -> None:
    """What the reference candidate does, host by host (only the hosts given)."""
    solve_hosts(shells, candidate, HOSTS, SOLVERS)


def solve_server(shell: HostShell, candidate: str) -> None:
    """The intranet page, alice in webadmins, no root over SSH, the nightly backup."""
    write(shell, "/var/www/html/index.html", INDEX_HTML)
    sh(shell, "/usr/sbin/groupadd -f webadmins && "
              "(/usr/bin/id alice >/dev/null 2>&1 || /usr/sbin/useradd -m -s /bin/bash alice) && "
              "/usr/sbin/usermod -aG webadmins alice", what="compte alice")
    write(shell, "/etc/ssh/sshd_config.d/50-durcissement.conf", "PermitRootLogin no\n")
    sh(shell, "/usr/bin/systemctl reload ssh.service", what="rechargement de sshd")
    write(shell, "/etc/cron.d/sauvegarde", "# Sauvegarde nocturne de l'intranet\n0 2 * * * root /usr/local/sbin/sauvegarde.sh\n")


def _samba(shell: HostShell, *args: str) -> str:
    return samba.samba_tool_online(shell, *args, "-H", f"ldap://{samba.DC_HOSTNAME}.{samba.DNS_DOMAIN}")


def _dn(*ous: str) -> str:
    return ",".join([f"OU={o}" for o in ous] + [samba.BASE_DN])


def solve_dc(shell: HostShell, candidate: str) -> None:
    """OUs, alice and the AGDLP groups, the password policy, the workstation moved, the GPO linked, the DNS record."""
    for ou in (COMPTA, "Postes"):
        _samba(shell, "ou", "add", _dn(ou))
    _samba(shell, "user", "create", "alice", "Alice-Compta-2026", "--given-name=Alice", "--surname=Martin",
           f"--userou=OU={COMPTA}", "--must-change-at-next-login")
    _samba(shell, "group", "add", "GG_Compta", f"--groupou=OU={COMPTA}", "--group-scope=Global", "--group-type=Security")
    _samba(shell, "group", "add", "DL_Partage_Compta", f"--groupou=OU={COMPTA}", "--group-scope=Domain",
           "--group-type=Security")
    _samba(shell, "group", "addmembers", "GG_Compta", "alice")
    _samba(shell, "group", "addmembers", "DL_Partage_Compta", "GG_Compta")
    _samba(shell, "domain", "passwordsettings", "set", "--min-pwd-length=12", "--complexity=on",
           "--account-lockout-threshold=5", "--account-lockout-duration=30", "--reset-account-lockout-after=30")
    _samba(shell, "computer", "move", COMPUTER, _dn("Postes"))
    out = _samba(shell, "gpo", "create", GPO_WALLPAPER)
    guid = next((w for w in out.replace("'", " ").split() if w.startswith("{") and w.endswith("}")), None)
    if guid is None:
        raise LabError(f"GUID de la GPO « {GPO_WALLPAPER} » introuvable dans : {out.strip()}")
    _samba(shell, "gpo", "setlink", samba.BASE_DN, guid, "--enforce")
    samba.samba_tool_online(shell, "dns", "add", "127.0.0.1", samba.DNS_DOMAIN, "intranet", "A",
                            address(candidate, SRV))


def solve_router(shell: HostShell, candidate: str) -> None:
    """Routing, NAT, port forward and SSH closed on the WAN, DHCP and DNS for the LAN, the filtering proxy."""
    net = segments(candidate)
    write(shell, "/etc/sysctl.d/99-routeur.conf", "net.ipv4.ip_forward = 1\n")
    sh(shell, "/usr/sbin/sysctl -q -w net.ipv4.ip_forward=1", what="routage IPv4")
    write(shell, "/etc/nftables.conf", NFTABLES.format(lan_client=net["lan_client"], witness=router.WITNESS_PORT),
          "0755")
    sh(shell, "/usr/bin/systemctl enable --now nftables.service && /usr/bin/systemctl restart nftables.service",
       what="nftables")
    write(shell, dhcp.CONFIG, dhcp.dnsmasq_config(net["lan"], net["router_lan"], net["router_lan"]))
    write(shell, "/etc/dnsmasq.d/tssr.conf",
          f"no-resolv\nlocal=/tssr.lan/\nhost-record=intranet.tssr.lan,{address(candidate, SRV)}\n")
    sh(shell, "/usr/bin/systemctl restart dnsmasq.service", what="dnsmasq")
    write(shell, "/etc/squid/squid.conf", proxy.SQUID_CONF.format(
        address=net["router_lan"], port=proxy.PORT, lan=net["lan"], blocked=proxy.BLOCKED_SITE, rules=proxy.RULES_GOOD))
    sh(shell, "/usr/bin/systemctl enable squid.service && /usr/bin/systemctl restart squid.service", what="squid",
       timeout=180)


def _nothing(shell: HostShell, candidate: str) -> None:
    """The LAN workstation and the WAN server are the exam's: nothing for the candidate to do there."""


SOLVERS = {SRV: solve_server, DC: solve_dc, ROUTER: solve_router, LAN_CLIENT: _nothing, WAN_SERVER: _nothing}
