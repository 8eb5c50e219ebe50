"""The lab of the ``ccp3-infra-distribuee`` pack: CCP3 « Maintenir et exploiter une infrastructure distribuée et contribuer à sa sécurisation ».

Each candidate gets the five machines of a multi-site company (RC, CCP3 session table: phase 1,
manipulations on server VMs under supervision), on the candidate's network 10.77.N.0/24:

- ``srv-lin`` (.10): the head office's Debian server, Apache (its default page, HTTP only), Nagios 4
  installed and unconfigured, the SNMP tools, and the script a contractor supplied
  (``/usr/local/sbin/sauvegarde-config.sh``, mode 0644, its destination still to be set);
- ``dc`` (.20): the Samba AD domain controller ``tssr.lan`` as provisioned, with the branch's
  workstation ``PC-AGENCE01`` already deployed in the OU ``Postes``: no GPO beyond the defaults;
- ``routeur`` (.2; LAN 10.77.N.65/27 on eth1, WAN 10.77.N.129/27 on eth2): OpenVPN installed, with
  the certificates the company's PKI issued for it in ``/etc/openvpn/server/tssr/`` but no server
  configuration; snmpd and rsyslog as Debian ships them; IPv4 forwarding off; sshd as shipped;
- ``pc-lan`` (.30; LAN .70): a LAN resource (the exam's witness), routing the VPN network back
  through the router, as a LAN whose gateway is the router does;
- ``srv-wan`` (.40; WAN .140): the remote worker's machine (« télétravailleur »), its OpenVPN client
  configured by the exam and enabled: it connects as soon as the router's server exists.

:func:`solve` does, in the running hosts, what the reference candidate does (the same tools:
files under /etc, ``systemctl``, ``samba-tool`` as Administrator, a CA and a certificate as
easy-rsa or openssl would make them). The self-test proves both ends.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from grader.errors import LabError
from grader.lab import gpo, pki, router, samba, supervision, vpn
from grader.lab.hosts import HostShell, HostSpec, Link, then
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

#: The group's central log collector (the grading machine's collector in the lab), the same for every site.
COLLECTOR = "10.77.0.1"
#: The supervision's SNMP community, given by the subject; the lab writes it where the rubric's credential reads it.
COMMUNITY = "tssr-ro"
COMMUNITY_FILE = Path("/var/lib/grader/lab/snmp-communaute")

SCRIPT = "/usr/local/sbin/sauvegarde-config.sh"
BACKUP_DIR = "/var/backups/config"
SCRIPT_SUPPLIED = """#!/bin/sh
# sauvegarde-config.sh : archive la configuration (/etc) du serveur.
# Script fourni par le prestataire. A ADAPTER : DESTINATION.
set -eu
DESTINATION="/CHEMIN/A/DEFINIR"
ARCHIVE="$DESTINATION/config-$(/bin/hostname).tar.gz"
/bin/mkdir -p "$DESTINATION"
/bin/tar -czf "$ARCHIVE" -C / etc
echo "Sauvegarde écrite : $ARCHIVE"
"""
SCRIPT_ADAPTED = """#!/bin/sh
# sauvegarde-config.sh : archive la configuration (/etc) du serveur.
# Usage : sauvegarde-config.sh (sans argument, en root) ; planifié chaque nuit par /etc/cron.d/sauvegarde-config.
# Écrit /var/backups/config/config-<nom du serveur>.tar.gz (l'archive de la veille est remplacée).
# Script fourni par le prestataire ; adapté le jour de l'examen : DESTINATION.
set -eu
DESTINATION="/var/backups/config"
ARCHIVE="$DESTINATION/config-$(/bin/hostname).tar.gz"
/bin/mkdir -p "$DESTINATION"
/bin/tar -czf "$ARCHIVE" -C / etc
echo "Sauvegarde écrite : $ARCHIVE"
"""

COMPUTER = "PC-AGENCE01"
WORKSTATIONS_OU = "Postes"
GPO_UPDATES = "Mises à jour des postes"
WU_KEY = r"HKLM\Software\Policies\Microsoft\Windows\WindowsUpdate"
WU_SERVER = "http://wsus.tssr.lan:8530"


variables = network_variables  # the candidate's roster values (``reseau``)


def address(candidate: str, host: str) -> str:
    return f"10.77.{number(candidate)}.{LAST_OCTET[host]}"


def segments(candidate: str) -> dict[str, str]:
    """LAN 10.77.N.64/27, WAN 10.77.N.128/27 and the VPN's 10.77.N.192/27 inside the candidate's /24."""
    n = number(candidate)
    return {"lan": f"10.77.{n}.64/27", "wan": f"10.77.{n}.128/27", "vpn": vpn.tunnel_net(candidate),
            "router_lan": f"10.77.{n}.65", "router_wan": f"10.77.{n}.129", "lan_client": f"10.77.{n}.70",
            "wan_server": f"10.77.{n}.140"}


# --- the start state (planted before boot) -----------------------------------------------------------------

_file = plant_file


def _plant_server(root: Path) -> None:
    """The contractor's script, as delivered: not executable, its destination to set."""
    _file(root, SCRIPT, SCRIPT_SUPPLIED, 0o644)


def _plant_dc(root: Path) -> None:
    """The branch's workstation, deployed and already in the OU Postes."""
    samba.samba_tool(root, "ou", "add", f"OU={WORKSTATIONS_OU},{samba.BASE_DN}")
    samba.samba_tool(root, "computer", "create", COMPUTER, f"--computerou=OU={WORKSTATIONS_OU}",
                     "--description=Poste de l'agence")
    samba.ldbmodify(root, f"dn: CN={COMPUTER},OU={WORKSTATIONS_OU},{samba.BASE_DN}\nchangetype: modify\n"
                          "replace: userAccountControl\nuserAccountControl: 4096\n-\nreplace: dNSHostName\n"
                          f"dNSHostName: {COMPUTER.lower()}.{samba.DNS_DOMAIN}\n-\nreplace: operatingSystem\n"
                          "operatingSystem: Windows 11 Professionnel\n-\n")


def _plant_router(candidate: str) -> Callable[[Path], None]:
    """The router's VPN certificates, issued by the company's PKI (no server configuration)."""
    def plant(root: Path) -> None:
        files = vpn.pki(candidate)
        for name in ("ca.crt", "serveur.crt"):
            _file(root, f"{vpn.SERVER_DIR}/{vpn.INSTANCE}/{name}", files[name], 0o644)
        _file(root, f"{vpn.SERVER_DIR}/{vpn.INSTANCE}/serveur.key", files["serveur.key"], 0o600)
    return plant


def _plant_remote_worker(candidate: str) -> Callable[[Path], None]:
    """The exam's remote worker: its OpenVPN client, configured and enabled (it retries until a server answers)."""
    def plant(root: Path) -> None:
        vpn.plant_client(root, candidate)
    return plant


def _community_file(shell: HostShell) -> None:
    """The supervision's community where the rubric's ``supervision`` credential reads it (0600)."""
    COMMUNITY_FILE.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(COMMUNITY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(COMMUNITY + "\n")
    os.chmod(COMMUNITY_FILE, 0o600)


def specs(candidates: Sequence[str], state: str = "start") -> list[HostSpec]:
    """Every candidate's five hosts; ``state="solution"``: with :func:`solve` run once they are up."""
    if state not in STATES:
        raise LabError(f"état de labo inconnu : {state!r} (connus : {', '.join(STATES)})")
    out: list[HostSpec] = []
    for c in candidates:
        net, lan, wan = segments(c), f"c{c}-lan", f"c{c}-wan"
        hosts = [
            HostSpec(name=lab_name(c, SRV), ip=address(c, SRV), hostname=SRV, plant=_plant_server,
                     setup=_community_file),
            HostSpec(name=lab_name(c, DC), ip=address(c, DC), hostname=DC, flavor="dc", plant=_plant_dc),
            HostSpec(name=lab_name(c, ROUTER), ip=address(c, ROUTER), hostname=ROUTER, flavor=router.ROUTER.name,
                     plant=_plant_router(c), setup=router.apply_sysctl, tun=True,
                     links=(Link("eth1", lan, f"{net['router_lan']}/27"), Link("eth2", wan, f"{net['router_wan']}/27"))),
            HostSpec(name=lab_name(c, LAN_CLIENT), ip=address(c, LAN_CLIENT), hostname=LAN_CLIENT,
                     plant=router.plant_witness, links=(Link("eth1", lan, f"{net['lan_client']}/27"),),
                     routes=((net["wan"], net["router_lan"]), (net["vpn"], net["router_lan"]))),
            HostSpec(name=lab_name(c, WAN_SERVER), ip=address(c, WAN_SERVER), hostname=WAN_SERVER, tun=True,
                     plant=_plant_remote_worker(c), links=(Link("eth1", wan, f"{net['wan_server']}/27"),)),
        ]
        if state == "solution":  # the solution is done by each host's setup, once the host is up
            hosts = [_with_solution(spec, c) for spec in hosts]
        out += hosts
    return out


def _with_solution(spec: HostSpec, candidate: str) -> HostSpec:
    solved = with_solution(spec, candidate, SOLVERS)
    if spec.own_hostname == ROUTER:  # the remote worker's client retries by itself: wait until it is connected
        solved = replace(solved, setup=then(solved.setup, vpn.wait_for_client))
    return solved


# --- the reference solution (in the running hosts) ---------------------------------------------------------

def solve(shells: Mapping[str, HostShell], candidate: str) -> None:
    """What the reference candidate does, host by host (only the hosts given).

    Once the router's VPN server runs, the remote worker is asked to reconnect (as the jury's
    « utilisateur » would) and the router waits until its status file lists him.
    """
    solve_hosts(shells, candidate, HOSTS, SOLVERS)
    if ROUTER in shells and WAN_SERVER in shells:
        sh(shells[WAN_SERVER], f"/usr/bin/systemctl restart openvpn-client@{vpn.CLIENT_INSTANCE}.service",
           what="reconnexion du télétravailleur")
        vpn.wait_for_client(shells[ROUTER])


def solve_server(shell: HostShell, candidate: str) -> None:
    """The script adapted, documented, tested and scheduled; Nagios supervising the site; the intranet in HTTPS."""
    write(shell, SCRIPT, SCRIPT_ADAPTED, "0750")
    sh(shell, SCRIPT, what="essai du script de sauvegarde")
    write(shell, "/etc/cron.d/sauvegarde-config",
          f"# Sauvegarde nocturne de la configuration\n30 1 * * * root {SCRIPT}\n")
    hosts = {name: address(candidate, name) for name in (SRV, ROUTER, DC)}
    write(shell, supervision.CONF, supervision.hosts_cfg(hosts))
    write(shell, supervision.TMPFILES, "d /run/nagios4 0755 nagios nagios -\n")
    sh(shell, f"/usr/bin/systemd-tmpfiles --create {supervision.TMPFILES} && "
              "/usr/bin/systemctl enable nagios4.service && /usr/bin/systemctl restart nagios4.service",
       what="nagios4")
    _https(shell, address(candidate, SRV))


def _https(shell: HostShell, ip: str) -> None:
    """The company's CA (its key kept in /root/pki), published; apache serving the intranet with a certificate it issued."""
    with tempfile.TemporaryDirectory(prefix="grader-ccp3-pki-") as tmp:
        key, cert, ca = samba.issue_certificate(Path(tmp), ip, (pki.SITE_NAME, pki.HOST_NAME))
        ca_key = (Path(tmp) / samba.CA_KEY_FILE).read_text(encoding="ascii")
    write(shell, f"{pki.CA_DIR}/ca.key", ca_key, "0600")
    write(shell, f"{pki.CA_DIR}/ca.crt", ca.decode())
    write(shell, pki.CA_FILE, ca.decode())
    write(shell, pki.CERT_FILE, cert.decode())
    write(shell, pki.KEY_FILE, key.decode(), "0600")
    write(shell, f"/etc/apache2/sites-available/{pki.SITE_NAME}-ssl.conf", pki.SITE_CONF)
    sh(shell, f"/bin/chmod 0700 {pki.CA_DIR} && /usr/sbin/a2enmod -q ssl && /usr/sbin/a2ensite -q {pki.SITE_NAME}-ssl "
              "&& /usr/bin/systemctl restart apache2.service", what="apache2 en HTTPS")


def solve_dc(shell: HostShell, candidate: str) -> None:
    """The workstations' update GPO: the company's WSUS, linked to the OU Postes."""
    url = f"ldap://{samba.DC_HOSTNAME}.{samba.DNS_DOMAIN}"
    out = samba.samba_tool_online(shell, "gpo", "create", GPO_UPDATES, "-H", url)
    guid = next((w for w in out.replace("'", " ").split() if w.startswith("{") and w.endswith("}")), None)
    if guid is None:
        raise LabError(f"GUID de la GPO « {GPO_UPDATES} » introuvable dans : {out.strip()}")
    samba.samba_tool_online(shell, "gpo", "setlink", f"OU={WORKSTATIONS_OU},{samba.BASE_DN}", guid, "-H", url)
    gpo.set_registry_policy(shell, guid, WU_KEY, "WUServer", WU_SERVER)
    gpo.set_registry_policy(shell, guid, WU_KEY, "WUStatusServer", WU_SERVER)
    gpo.set_registry_policy(shell, guid, WU_KEY + r"\AU", "UseWUServer", 1, "REG_DWORD")


def solve_router(shell: HostShell, candidate: str) -> None:
    """The remote workers' VPN server (routing on), SSH by key only, SNMP for the supervision only, logs to the collector."""
    write(shell, "/etc/sysctl.d/99-routeur.conf", "net.ipv4.ip_forward = 1\n")
    sh(shell, "/usr/sbin/sysctl -q -w net.ipv4.ip_forward=1", what="routage IPv4")
    write(shell, f"{vpn.SERVER_DIR}/{vpn.INSTANCE}.conf", vpn.server_conf(candidate))
    sh(shell, f"/usr/bin/systemctl enable --now openvpn-server@{vpn.INSTANCE}.service", what="openvpn-server")
    write(shell, "/etc/ssh/sshd_config.d/50-durcissement.conf", "PasswordAuthentication no\n")
    sh(shell, "/usr/bin/systemctl reload ssh.service", what="rechargement de sshd")
    write(shell, "/etc/snmp/snmpd.conf",
          f"# Agent SNMP du routeur : pour le serveur de supervision seulement\nagentaddress udp:161\n"
          f"sysLocation Siège\nrocommunity {COMMUNITY} {address(candidate, SRV)}\n", "0640")
    sh(shell, "/bin/chgrp Debian-snmp /etc/snmp/snmpd.conf && /usr/bin/systemctl restart snmpd.service", what="snmpd")
    write(shell, "/etc/rsyslog.d/60-collecteur.conf", f"# Journaux vers le collecteur central\n*.* @{COLLECTOR}:514\n")
    sh(shell, "/usr/bin/systemctl restart rsyslog.service", what="rsyslog")


def _nothing(shell: HostShell, candidate: str) -> None:
    """The LAN resource and the remote worker's machine are the exam's: nothing for the candidate to do there."""


SOLVERS = {SRV: solve_server, DC: solve_dc, ROUTER: solve_router, LAN_CLIENT: _nothing, WAN_SERVER: _nothing}
