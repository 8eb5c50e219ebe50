"""The demo room: three candidates' ``srv-lin`` and ``dc`` with known, planted states and expected verdicts.

Candidate 01 did everything; candidate 02 made several mistakes and left tricks in the grading
account (a chatty .bashrc, an alias and fake binaries that answer "active") that a grader
running bare command names would believe; candidate 03's server is down. Each candidate also
has a Samba AD domain controller ``dc`` (domain tssr.lan, at .20): 01's directory is as asked,
02's has an OU « Comptabilite » without its accent, a GPO created but linked nowhere, a link
disabled, inheritance not blocked, the default password policy and a computer left in
CN=Computers; 03's DC is down too. Each candidate also has a small routed network: a
``routeur`` (nftables, dnsmasq) between a LAN segment (``pc-lan``, which also serves the
port-forwarded service) and a WAN segment (``srv-wan``, the exam's WAN server with its
witness); 01's router translates, forwards port 8080, filters SSH from the WAN and resolves
intranet.tssr.lan; 02's has the masquerade and forward rules but IPv4 forwarding off, no
filtering and a wrong DNS record, and 02's srv-lin has snmpd bound to 127.0.0.1 and rsyslog
sending to the wrong port; 03's router, LAN client and WAN server are down. Each candidate's GLPI is
the API stand-in on loopback (:mod:`grader.lab.glpi`; 02's ticket recorded before the exam behind a recent
opening date, 03's GLPI down) and srv-lin is the log server pc-lan forwards to (:mod:`grader.lab.logserver`;
02's rsyslog input bound to 127.0.0.1), and a routed two-VLAN site (:mod:`grader.lab.demo_vlan`; 02's
router masquerades between the VLANs and its DHCP relay is stopped). ``PLANTED_TRUTH``
says what an honest grader must conclude, check by check, so the demo doubles as an
end-to-end test of the whole chain. ``bench_specs`` clones candidate 01 for benchmarks.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from grader.errors import LabError
from grader.lab import demo_supervision_voip as supervision_voip
from grader.lab import demo_vlan, dhcp, glpi, gpo, logserver, pki, proxy, router, samba, supervision, vpn
from grader.lab import hypervisor as hv
from grader.lab.hosts import HostShell, HostSpec, Link, then

HOST = "srv-lin"
DC = "dc"
ROUTER, LAN_CLIENT, WAN_SERVER = "routeur", "pc-lan", "srv-wan"
DEMO_ROOM: dict[str, dict[str, str]] = {
    c: {HOST: f"10.77.{n}.10", DC: f"10.77.{n}.20", ROUTER: f"10.77.{n}.2", LAN_CLIENT: f"10.77.{n}.30",
        WAN_SERVER: f"10.77.{n}.40"}
    for n, c in ((1, "01"), (2, "02"), (3, "03"))
}


def segments(candidate: str) -> dict[str, str]:
    """A candidate's LAN (10.77.N.64/27) and WAN (10.77.N.128/27) addresses, inside its management /24.

    The /27 routes are more specific than the management /16, so LAN/WAN traffic goes through
    the candidate's router while every host keeps its management address on eth0.
    """
    n = int(candidate)
    return {"lan": f"10.77.{n}.64/27", "wan": f"10.77.{n}.128/27",
            "router_lan": f"10.77.{n}.65", "router_wan": f"10.77.{n}.129",
            "lan_client": f"10.77.{n}.70", "wan_server": f"10.77.{n}.140"}

LINUX_CHECK_IDS = ("pkg-apache", "svc-apache", "port-http", "user-alice", "file-index", "site-intranet", "sshd-root",
                   "cron-backup", "rsyslog-remote", "snmp-community")
AD_CHECK_IDS = ("ad-ou-compta", "ad-user-alice", "ad-group-compta", "ad-gpo-fond", "ad-gpo-fond-lien",
                "ad-gpo-postes-lien", "ad-heritage-direction", "ad-mdp", "ad-pc-compta", "ad-dns-intranet")
NETWORK_CHECK_IDS = ("snmp-agent", "journaux-recus", "nat-regle", "nat-fonctionne", "redirection-web",
                     "filtrage-ssh-wan", "dns-intranet")
DHCP_CHECK_IDS = ("dhcp-lan",)
CHECK_IDS: tuple[str, ...] = LINUX_CHECK_IDS + AD_CHECK_IDS + NETWORK_CHECK_IDS + DHCP_CHECK_IDS
#: GPO settings read in SYSVOL over SMB and the delegation on Comptabilité (grader/lab/gpo.py plants them).
GPO_CHECK_IDS = ("ad-gpo-fond-parametre", "ad-gpo-mdp-longueur", "ad-delegation-compta", "ad-gpo-bureau-distance")
CHECK_IDS += GPO_CHECK_IDS
#: The LAN's web proxy (squid on the router) and the intranet's HTTPS certificate (grader/lab/proxy.py, pki.py).
PROXY_CHECK_IDS = ("proxy-filtrage", "https-intranet")
CHECK_IDS += PROXY_CHECK_IDS
#: The remote worker's VPN (grader/lab/vpn.py) and the Nagios supervision server on srv-lin (supervision.py).
VPN_CHECK_IDS = ("vpn-tunnel", "vpn-lan", "supervision-hotes")
CHECK_IDS += VPN_CHECK_IDS
#: The router's SNMP agent, open to the supervision server (srv-lin) only.
SNMP_SOURCE_CHECK_IDS = ("snmp-routeur-restreint",)
CHECK_IDS += SNMP_SOURCE_CHECK_IDS
#: Each candidate's VM on the room's shared hypervisor (one per four candidates, as in the exam's clusters).
HYPERVISOR_CHECK_IDS = ("vm-web", "vm-web-instantane", "vm-web-agent")
#: Inside that VM, whose network is not set up: graded through the hypervisor's guest agent (« fallback: guest »).
GUEST_CHECK_IDS = ("vm-web-nom",)
CHECK_IDS += HYPERVISOR_CHECK_IDS + GUEST_CHECK_IDS
#: The candidate's GLPI (the API stand-in on loopback, grader/lab/glpi.py) and their own log server:
#: pc-lan's journal forwarded to srv-lin's rsyslog (grader/lab/logserver.py).
HELPDESK_CHECK_IDS = ("glpi-ticket", "glpi-ticket-resolu", "glpi-parc")
LOG_SERVER_CHECK_IDS = ("journaux-serveur-candidat",)
CHECK_IDS += HELPDESK_CHECK_IDS + LOG_SERVER_CHECK_IDS
#: Each candidate's Zabbix server and IPBX with its phones (grader/lab/demo_supervision_voip.py, issue #13).
SUPERVISION_VOIP_CHECK_IDS = supervision_voip.CHECK_IDS
CHECK_IDS += SUPERVISION_VOIP_CHECK_IDS
#: Each candidate's second VLAN: a routed two-VLAN site with a DHCP relay (grader/lab/demo_vlan.py, issue #13).
VLAN_CHECK_IDS = demo_vlan.CHECK_IDS
CHECK_IDS += VLAN_CHECK_IDS
_C, _N, _I = "conforme", "non_conforme", "injoignable"
PLANTED_TRUTH: dict[str, dict[str, str]] = {
    "01": dict.fromkeys(CHECK_IDS, _C),
    "02": {"pkg-apache": _C, "svc-apache": _N, "port-http": _N, "user-alice": _N, "file-index": _C,
           "site-intranet": _N, "sshd-root": _N, "cron-backup": _N, "rsyslog-remote": _N, "snmp-community": _N,
           "ad-ou-compta": _N, "ad-user-alice": _N, "ad-group-compta": _C, "ad-gpo-fond": _C, "ad-gpo-fond-lien": _N,
           "ad-gpo-postes-lien": _N, "ad-heritage-direction": _N, "ad-mdp": _N, "ad-pc-compta": _N,
           "ad-dns-intranet": _N,
           # snmpd bound to 127.0.0.1 (deaf to the grader), rsyslog to port 5514: configured, never arrives
           "snmp-agent": _N, "journaux-recus": _N,
           # the masquerade rule is there (nat-regle) but IPv4 forwarding is off: nothing gets through
           "nat-regle": _C, "nat-fonctionne": _N, "redirection-web": _N, "filtrage-ssh-wan": _N,
           "dns-intranet": _N,
           "dhcp-lan": _N,  # the DHCP offer's router option is .1, outside its LAN, not the router's .65
           # wallpaper GPO sets another file; Default Domain Policy keeps its default; no delegation (and no OU)
           "ad-gpo-fond-parametre": _N, "ad-gpo-mdp-longueur": _N, "ad-delegation-compta": _N,
           # « Sécurité des postes » grants remote desktop logon to the Administrators only
           "ad-gpo-bureau-distance": _N,
           # squid allows the LAN before it denies jeux.example (never reached); apache is stopped (and its
           # certificate self-signed): the HTTPS site does not answer
           "proxy-filtrage": _N, "https-intranet": _N,
           # the remote worker's tunnel is up, but the server pushes no route to the LAN: pc-lan is reached
           # by another path, not through the VPN; Nagios runs without the DC among its hosts
           "vpn-tunnel": _C, "vpn-lan": _N, "supervision-hotes": _N,
           # the router's agent answers everyone (« rocommunity tssr-ro » without a source)
           "snmp-routeur-restreint": _N,
           # c02-web given 128 MiB instead of 96, and no snapshot taken before the update
           "vm-web": _N, "vm-web-instantane": _N, "vm-web-agent": _C,
           # inside the VM, through its guest agent (no network): named as asked
           "vm-web-nom": _C,
           },
    # 03's machines are off, the VM on the shared hypervisor too: the hypervisor answers and says it
    # (the VM is as asked, snapshot taken, but shut off; its agent cannot answer, and the VM itself is
    # injoignable with « VM arrêtée » in its evidence)
    "03": {**dict.fromkeys(CHECK_IDS, _I), "vm-web": _N, "vm-web-instantane": _C, "vm-web-agent": _N},
}
DEMO_RUBRIC_NOTES: dict[str, str] = {
    "01": "tout est fait : apache2 actif et activé, page « Intranet TSSR », alice dans webadmins, "
          "PermitRootLogin no, sauvegarde planifiée, journaux vers 10.77.0.1:514/udp, communauté SNMP tssr-ro ; "
          "annuaire tssr.lan conforme (UO Comptabilité, alice, groupes imbriqués, GPO liées, héritage bloqué, "
          "stratégie de mot de passe, PC-COMPTA01 dans Postes, intranet.tssr.lan dans le DNS, papier peint "
          "\\\\dc\\partage\\fond.jpg dans la GPO « Fond d'écran », longueur minimale 12 dans la Default Domain "
          "Policy, réinitialisation des mots de passe de Comptabilité déléguée à GG_Compta) ; "
          "routeur : routage IPv4, masquerade vers le WAN, redirection 8080 vers pc-lan, SSH fermé côté WAN, "
          "intranet.tssr.lan résolu par dnsmasq ; DHCP du LAN (plage .80 à .90, passerelle et DNS .65) ; proxy squid sur l'adresse LAN du routeur (port 3128) qui refuse "
          "jeux.example ; intranet en HTTPS, certificat émis par son AC publiée dans "
          "/usr/local/share/ca-certificates/tssr-ca.crt ; VPN OpenVPN du télétravailleur (srv-wan) vers le routeur, "
          "route du LAN poussée ; Nagios sur srv-lin supervise srv-lin, routeur et dc ; agent SNMP du routeur "
          "réservé à srv-lin ; sur l'hyperviseur partagé (10.77.0.50), VM c01-web en marche comme demandé "
          "(1 vCPU, 96 Mio, disque qcow2 de 64 Mio en virtio, carte virtio sur br0, démarrage automatique) "
          "avec son instantané « avant-maj » ; le réseau de la VM n'est pas configuré : elle est corrigée par "
          "l'agent invité (nom c01-web).",
    "02": "plusieurs erreurs : apache2 désactivé et arrêté (page Debian par défaut), alice hors de webadmins, "
          "PermitRootLogin yes, ligne cron commentée, rsyslog vers le port 5514, communauté SNMP public ; "
          "pièges dans le compte grader (.bashrc bavard, alias et faux systemctl/ss/dpkg-query qui répondent « active ») ; "
          "annuaire : UO « Comptabilite » sans accent, GPO « Fond d'écran » créée mais liée nulle part, lien de "
          "« Sécurité des postes » désactivé, héritage non bloqué sur Direction, stratégie de mot de passe par "
          "défaut, PC-COMPTA01 resté dans Computers, pas d'enregistrement DNS intranet, papier peint de la GPO "
          "vers fond.png, Default Domain Policy sans paramètre de mot de passe, aucune délégation ; agent SNMP lié à "
          "127.0.0.1 ; routeur : règles masquerade et redirection présentes mais routage IPv4 désactivé, SSH ouvert "
          "côté WAN, intranet.tssr.lan résolu vers une mauvaise adresse ; proxy squid : « allow lan » avant "
          "« deny jeux » (jeux.example servi) ; certificat HTTPS auto-signé au lieu d'un certificat de son AC ; "
          "tunnel VPN monté mais sans route poussée vers le LAN ; Nagios sans le contrôleur de domaine ; DHCP qui "
          "annonce la passerelle .1 au lieu de .65 ; agent SNMP du routeur ouvert à tous ; VM "
          "c02-web avec 128 Mio de mémoire au lieu de 96, sans instantané avant la mise à jour (son réseau non "
          "configuré, elle est corrigée par l'agent invité).",
    "03": "serveur, contrôleur de domaine et réseau routé éteints : rien ne répond sur 10.77.3.10, 10.77.3.20, "
          "10.77.3.2 (routeur), 10.77.3.30 (pc-lan) ni 10.77.3.40 (srv-wan) ; sa VM c03-web, configurée "
          "et son instantané pris, est arrêtée sur l'hyperviseur partagé (injoignable, « VM arrêtée »).",
}
# --- Zabbix supervision and telephony (issue #13): what grader/lab/demo_supervision_voip.py plants -------
PLANTED_TRUTH["02"].update(supervision_voip.PLANTED_02)
for _candidate, _note in supervision_voip.NOTES.items():
    DEMO_RUBRIC_NOTES[_candidate] += " " + _note
# --- the second VLAN (issue #13): what grader/lab/demo_vlan.py plants ---------------------------------
PLANTED_TRUTH["02"].update(demo_vlan.PLANTED_02)
for _candidate, _note in demo_vlan.NOTES.items():
    DEMO_RUBRIC_NOTES[_candidate] += " " + _note

# --- GLPI and the candidate's own log server: 02 wrong where only the facts show it ------------------
PLANTED_TRUTH["02"].update({
    # the ticket is all there, its opening date typed as 10:05 on the exam's day, but GLPI recorded it the
    # evening before; the asset record was updated during the exam
    "glpi-ticket": _N, "glpi-ticket-resolu": _N, "glpi-parc": _C,
    # pc-lan forwards to srv-lin:514, srv-lin's rsyslog input is bound to 127.0.0.1: the line never arrives
    "journaux-serveur-candidat": _N,
})
DEMO_RUBRIC_NOTES["01"] += (" GLPI : ticket « Le poste C01-PC12 ne démarre plus » créé pendant l'épreuve, résolu "
                            "(solution documentée, approuvée), poste C01-PC12 inventorié et lié au ticket ; "
                            "journaux de pc-lan reçus par le serveur de journaux srv-lin (rsyslog, UDP 514).")
DEMO_RUBRIC_NOTES["02"] += (" GLPI : ticket à la date d'ouverture saisie pendant l'épreuve mais enregistré la veille ; "
                            "pc-lan envoie ses journaux à srv-lin:514, dont l'entrée rsyslog n'écoute que 127.0.0.1.")
DEMO_RUBRIC_NOTES["03"] += " Son GLPI ne répond pas."


def _with_helpdesk_and_logs(specs: list[HostSpec]) -> list[HostSpec]:
    """srv-lin as the log server pc-lan forwards to (02's deaf); the GLPI service started with 01's srv-lin."""
    def add(spec: HostSpec) -> HostSpec:
        candidate = spec.name[1:3]
        if spec.name in ("c01-srv-lin", "c02-srv-lin"):
            spec = dataclasses.replace(spec, plant=then(spec.plant, logserver.plant_collector(
                listening=candidate == "01")))
        if spec.name in (f"c01-{LAN_CLIENT}", f"c02-{LAN_CLIENT}"):
            spec = dataclasses.replace(spec, plant=then(spec.plant, logserver.plant_sender(DEMO_ROOM[candidate][HOST])))
        if spec.name == "c01-srv-lin":
            spec = dataclasses.replace(spec, setup=then(spec.setup, glpi.start_service))
        return spec
    return [add(s) for s in specs]


INDEX_HTML = """<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>Intranet</title></head>
<body><h1>Intranet TSSR</h1><p>Bienvenue sur l'intranet de la salle B12.</p></body>
</html>
"""
BACKUP_SCRIPT = """#!/bin/sh
# Sauvegarde nocturne du site web.
set -e
mkdir -p /var/backups/www
tar -czf "/var/backups/www/www-$(date +%F).tar.gz" -C /var www
"""
CRON_LINE = "0 2 * * * root /usr/local/sbin/backup.sh\n"
SNMPD_GOOD = """# Agent SNMP de srv-lin
agentaddress udp:161
sysLocation Salle B12
sysContact admin@tssr.lan
rocommunity tssr-ro 10.77.0.0/16
"""
FAKE_SYSTEMCTL = """#!/bin/sh
case "$1" in
  is-enabled) echo enabled ;;
  show) printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nUnitFileState=enabled\\nMainPID=4242\\n' ;;
  *) echo active ;;
esac
exit 0
"""
FAKE_SS = """#!/bin/sh
echo 'tcp   LISTEN 0      511          0.0.0.0:80        0.0.0.0:*    users:(("apache2",pid=4242,fd=4))'
exit 0
"""
TRICK_BASHRC = """# ~/.bashrc
echo "Bienvenue sur srv-lin !"
shopt -s expand_aliases
alias systemctl='echo active'
export PATH="/home/grader/bin:$PATH"
dpkg-query() { echo "ii  apache2"; }
"""


def _write(root: Path, path: str, text: str, mode: int | None = None, owner: tuple[int, int] | None = None) -> Path:
    """Write a file inside a host's tree (``path`` is absolute in the host).

    An existing file keeps its owner and mode unless they are given (snmpd.conf is
    root:Debian-snmp 0640 on Debian: a daemon that cannot reread it would fail for the wrong reason).
    """
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.lstat() if target.exists() and not target.is_symlink() else None
    if target.is_symlink():
        target.unlink()
    target.write_text(text)
    uid, gid = owner if owner is not None else ((old.st_uid, old.st_gid) if old else (0, 0))
    os.chown(target, uid, gid)
    os.chmod(target, mode if mode is not None else (old.st_mode & 0o7777 if old else 0o644))
    return target


def _chroot(root: Path, *argv: str) -> None:
    proc = subprocess.run(["chroot", str(root), *argv], check=False, capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
    if proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} : {proc.stderr.strip()}")


def _ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise LabError(f"compte {user} absent")


def plant_candidate_01(root: Path) -> None:
    """Everything done as asked."""
    _write(root, "/var/www/html/index.html", INDEX_HTML, 0o644, (0, 0))
    _chroot(root, "groupadd", "webadmins")
    _chroot(root, "useradd", "-m", "-s", "/bin/bash", "-G", "webadmins", "alice")
    _write(root, "/etc/ssh/sshd_config.d/50-tssr.conf", "PermitRootLogin no\nPasswordAuthentication no\n")
    _write(root, "/usr/local/sbin/backup.sh", BACKUP_SCRIPT, 0o755)
    _write(root, "/etc/cron.d/backup", CRON_LINE)
    _write(root, "/etc/rsyslog.d/50-remote.conf", "*.* @10.77.0.1:514\n")
    _write(root, "/etc/snmp/snmpd.conf", SNMPD_GOOD)
    pki.plant_https(root, DEMO_ROOM["01"][HOST], issued_by_ca=True)


def plant_candidate_02(root: Path) -> None:
    """Mistakes everywhere, plus tricks in the grading account that lie to a careless grader.

    apache2 is disabled as ``systemctl disable`` does it (wants link removed, SysV links
    renamed K01) and therefore not started; not masked. The fake /usr/local/bin/systemctl also
    hijacks systemd-halt.service at poweroff, as it would on a real server (``Lab.down`` copes).
    """
    _chroot(root, "systemctl", "disable", "apache2.service")
    wants = root / "etc/systemd/system/multi-user.target.wants/apache2.service"
    if wants.is_symlink() or wants.exists():
        wants.unlink()
    _chroot(root, "groupadd", "webadmins")
    _chroot(root, "useradd", "-m", "-s", "/bin/bash", "alice")
    _write(root, "/etc/ssh/sshd_config.d/50-tssr.conf", "PermitRootLogin yes\n")
    _write(root, "/usr/local/sbin/backup.sh", BACKUP_SCRIPT, 0o755)
    _write(root, "/etc/cron.d/backup", "#" + CRON_LINE)
    _write(root, "/etc/rsyslog.d/50-remote.conf",
           'action(type="omfwd" target="10.77.0.1" port="5514" protocol="udp")\n')
    _write(root, "/etc/snmp/snmpd.conf", "agentaddress udp:127.0.0.1:161\nrocommunity public\n")
    grader = _ids(root, "grader")
    _write(root, "/home/grader/.bashrc", TRICK_BASHRC, 0o644, grader)
    bin_dir = root / "home/grader/bin"
    bin_dir.mkdir(exist_ok=True)
    os.chown(bin_dir, *grader)
    _write(root, "/home/grader/bin/systemctl", FAKE_SYSTEMCTL, 0o755, grader)
    _write(root, "/home/grader/bin/ss", FAKE_SS, 0o755, grader)
    _write(root, "/usr/local/bin/systemctl", FAKE_SYSTEMCTL, 0o755)
    _write(root, "/etc/profile.d/zz-banner.sh", 'echo "*** srv-lin — accès réservé à l\'équipe TSSR ***"\n')
    pki.plant_https(root, DEMO_ROOM["02"][HOST], issued_by_ca=False)


# --- the candidates' domain controllers -------------------------------------------------------

COMPTA, COMPTA_NO_ACCENT = "Comptabilité", "Comptabilite"
GPO_WALLPAPER, GPO_WORKSTATIONS = "Fond d'écran", "Sécurité des postes"
#: « Autoriser l'ouverture de session par les services Bureau à distance », as GptTmpl.inf names its holders.
REMOTE_DESKTOP_RIGHT, ADMINISTRATORS, REMOTE_DESKTOP_USERS = "SeRemoteInteractiveLogonRight", "*S-1-5-32-544", "*S-1-5-32-555"
WALLPAPER_KEY, WALLPAPER = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Policies\System", r"\\dc\partage\fond.jpg"
DEFAULT_DOMAIN_POLICY = "{31B2F340-016D-11D2-945F-00C04FB984F9}"


def _dn(*ous: str) -> str:
    return ",".join([f"OU={o}" for o in ous] + [samba.BASE_DN])


def _plant_directory(root: Path, compta: str, *, policy: bool, computer_ou: str | None) -> None:
    """What both candidates did the same way, offline with samba-tool (before the DC boots)."""
    tool = samba.samba_tool
    for ou in (compta, "Direction", "Postes"):
        tool(root, "ou", "add", _dn(ou))
    tool(root, "user", "create", "alice", "Alice-Compta-2026", "--given-name=Alice", "--surname=Martin",
         f"--userou=OU={compta}", "--must-change-at-next-login", "--mail-address=alice@tssr.lan")
    tool(root, "user", "create", "bdurand", "Bruno-Dir-2026", "--given-name=Bruno", "--surname=Durand",
         "--userou=OU=Direction")
    tool(root, "group", "add", "GG_Compta", f"--groupou=OU={compta}", "--group-scope=Global",
         "--group-type=Security")
    tool(root, "group", "add", "DL_Partage_Compta", f"--groupou=OU={compta}", "--group-scope=Domain",
         "--group-type=Security")
    tool(root, "group", "addmembers", "GG_Compta", "alice")
    tool(root, "group", "addmembers", "DL_Partage_Compta", "GG_Compta")  # AGDLP: alice is a member through it
    if policy:
        tool(root, "domain", "passwordsettings", "set", "--min-pwd-length=12", "--complexity=on",
             "--account-lockout-threshold=5", "--account-lockout-duration=30", "--reset-account-lockout-after=30")
    ou_args = [f"--computerou=OU={computer_ou}"] if computer_ou else []
    tool(root, "computer", "create", "PC-COMPTA01", *ou_args, "--description=Poste de la comptabilité")
    # What a Windows client's join does: the account enabled (samba-tool creates it disabled), then the
    # client writes its DNS name and its operating system.
    where = _dn(computer_ou) if computer_ou else f"CN=Computers,{samba.BASE_DN}"
    samba.ldbmodify(root, f"dn: CN=PC-COMPTA01,{where}\nchangetype: modify\nreplace: userAccountControl\n"
                          "userAccountControl: 4096\n-\nreplace: dNSHostName\n"
                          f"dNSHostName: pc-compta01.{samba.DNS_DOMAIN}\n-\nreplace: operatingSystem\n"
                          "operatingSystem: Windows 11 Professionnel\n-\nreplace: operatingSystemVersion\n"
                          "operatingSystemVersion: 10.0 (22631)\n-\n")


def _gpo(shell: HostShell, name: str) -> str:
    """Create a GPO inside the running DC; its {GUID}."""
    out = samba.samba_tool_online(shell, "gpo", "create", name, "-H", f"ldap://{samba.DC_HOSTNAME}.{samba.DNS_DOMAIN}")
    for word in out.replace("'", " ").split():
        if word.startswith("{") and word.endswith("}"):
            return word
    raise LabError(f"GUID de la GPO « {name} » introuvable dans : {out.strip()}")


def plant_dc_01(root: Path) -> None:
    """The directory as asked (offline part)."""
    _plant_directory(root, COMPTA, policy=True, computer_ou="Postes")
    gpo.delegate(root, _dn(COMPTA), "GG_Compta", "reset_password")


def setup_dc_01(shell: HostShell) -> None:
    """GPOs as asked: wallpaper on the domain, enforced; workstation security on Postes; Direction blocks inheritance."""
    wallpaper, workstations = _gpo(shell, GPO_WALLPAPER), _gpo(shell, GPO_WORKSTATIONS)
    samba.samba_tool_online(shell, "gpo", "setlink", samba.BASE_DN, wallpaper, "--enforce")
    samba.samba_tool_online(shell, "gpo", "setlink", _dn("Postes"), workstations)
    samba.samba_tool_online(shell, "gpo", "setinheritance", _dn("Direction"), "block")
    samba.samba_tool_online(shell, "dns", "add", "127.0.0.1", samba.DNS_DOMAIN, "intranet", "A", DEMO_ROOM["01"][HOST])
    gpo.set_registry_policy(shell, wallpaper, WALLPAPER_KEY, "Wallpaper", WALLPAPER)
    gpo.set_security_setting(shell, DEFAULT_DOMAIN_POLICY, "MinimumPasswordLength", 12)
    gpo.set_privilege_rights(shell, workstations, {REMOTE_DESKTOP_RIGHT: [ADMINISTRATORS, REMOTE_DESKTOP_USERS]})


def plant_dc_02(root: Path) -> None:
    """« Comptabilite » without its accent, default password policy, the computer left in CN=Computers."""
    _plant_directory(root, COMPTA_NO_ACCENT, policy=False, computer_ou=None)


def setup_dc_02(shell: HostShell) -> None:
    """The wallpaper GPO created but linked nowhere; the workstation GPO linked with its link disabled."""
    wallpaper = _gpo(shell, GPO_WALLPAPER)
    gpo.set_registry_policy(shell, wallpaper, WALLPAPER_KEY, "Wallpaper", WALLPAPER.replace(".jpg", ".png"))
    workstations = _gpo(shell, GPO_WORKSTATIONS)
    samba.samba_tool_online(shell, "gpo", "setlink", _dn("Postes"), workstations, "--disable")
    gpo.set_privilege_rights(shell, workstations, {REMOTE_DESKTOP_RIGHT: [ADMINISTRATORS]})  # the group forgotten


# --- the candidates' routed network -----------------------------------------------------------

NFT_NAT = """table ip nat {{
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
NFT_FILTER = """table inet filtre {
    chain entree {
        type filter hook input priority filter; policy accept;
        iifname "eth2" tcp dport 22 drop
    }
}
"""


def _plant_router(candidate: str, *, forwarding: bool, filtering: bool, intranet: str) -> Callable[[Path], None]:
    net = segments(candidate)

    def plant(root: Path) -> None:
        rules = "#!/usr/sbin/nft -f\nflush ruleset\n\n" + (NFT_FILTER if filtering else "") + \
            NFT_NAT.format(lan_client=net["lan_client"], witness=router.WITNESS_PORT)
        _write(root, "/etc/nftables.conf", rules, 0o755)
        router.enable_unit(root, "nftables.service", "sysinit.target")
        if forwarding:
            _write(root, "/etc/sysctl.d/99-routeur.conf", "net.ipv4.ip_forward = 1\n")
        _write(root, "/etc/dnsmasq.d/tssr.conf",
               f"no-resolv\nlocal=/tssr.lan/\nhost-record=intranet.tssr.lan,{intranet}\n")
        dhcp.plant_demo(root, candidate, net)
        # its SNMP agent: for the supervision server only (01), for anyone (02)
        source = f" {DEMO_ROOM[candidate][HOST]}" if filtering else ""
        _write(root, "/etc/snmp/snmpd.conf", f"agentaddress udp:161\nrocommunity tssr-ro{source}\n")
        proxy.plant_router(root, net, block=filtering)
    return plant


def network_specs(candidate: str, *, boot: bool = True) -> list[HostSpec]:
    """A candidate's router, LAN client (with the forwarded service) and WAN server (the witness)."""
    room, net, c = DEMO_ROOM[candidate], segments(candidate), f"c{candidate}"
    lan, wan = f"{c}-lan", f"{c}-wan"
    good = candidate == "01"
    planted = _plant_router(candidate, forwarding=good, filtering=good,
                            intranet=room[HOST] if good else f"10.77.{int(candidate)}.100")
    return [
        HostSpec(name=f"{c}-{ROUTER}", ip=room[ROUTER], hostname=ROUTER, flavor=router.ROUTER.name, boot=boot,
                 plant=planted, setup=router.apply_sysctl,
                 links=(Link("eth1", lan, f"{net['router_lan']}/27"), Link("eth2", wan, f"{net['router_wan']}/27"))),
        HostSpec(name=f"{c}-{LAN_CLIENT}", ip=room[LAN_CLIENT], hostname=LAN_CLIENT, boot=boot,
                 plant=router.plant_witness, links=(Link("eth1", lan, f"{net['lan_client']}/27"),),
                 routes=((net["wan"], net["router_lan"]),)),
        HostSpec(name=f"{c}-{WAN_SERVER}", ip=room[WAN_SERVER], hostname=WAN_SERVER, boot=boot,
                 plant=proxy.plant_wan_server, links=(Link("eth1", wan, f"{net['wan_server']}/27"),)),
    ]


SNMP_COMMUNITY_FILE = Path("/var/lib/grader/lab/snmp-communaute")  # the demo rubric's « supervision » credential


def _supervision_secret(shell: HostShell) -> None:
    """The supervision's SNMP community, where the demo rubric's credential reads it (0600, like a secret)."""
    SNMP_COMMUNITY_FILE.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(SNMP_COMMUNITY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("tssr-ro\n")
    os.chmod(SNMP_COMMUNITY_FILE, 0o600)


# --- the room's shared hypervisor -----------------------------------------------------------

HYPERVISOR, HYPERVISOR_IP = "hyperviseur", "10.77.0.50"  # one per four candidates; the roster's « hyperviseur »
#: Seconds a guest's agent has to answer once started: TCG guests boot in 7-10 s alone, slower while the
#: rest of the room sets up on the same two cores. Past it the lab fails to come up (never a flaky verdict).
AGENT_DEADLINE = 180.0


def demo_guests() -> tuple[hv.Guest, ...]:
    """Each candidate's VM on the shared hypervisor, as they left it (tiny TCG guests: 96-128 MiB)."""
    return (
        hv.Guest("c01-web", memory_mib=96, disk_mib=64, bridge=hv.BRIDGE, autostart=True, snapshot="avant-maj"),
        hv.Guest("c02-web", memory_mib=128, disk_mib=64, bridge=hv.BRIDGE, autostart=True),  # 128 MiB, no snapshot
        hv.Guest("c03-web", memory_mib=96, disk_mib=64, bridge=hv.BRIDGE, autostart=True, snapshot="avant-maj",
                 start=False),  # shut off
    )


def setup_hypervisor(shell: HostShell) -> None:
    """libvirtd, bridge and pool ready; the candidates' VMs defined, snapshotted, started; their agents answering."""
    hv.prepare_host(shell)
    waited = hv.define_guests(shell, demo_guests(), agent_timeout=AGENT_DEADLINE)
    silent = [name for name, seconds in waited.items() if seconds is None]
    if silent:
        raise LabError(f"agent invité muet après {AGENT_DEADLINE:.0f} s : {', '.join(silent)}")


def hypervisor_spec() -> HostSpec:
    return HostSpec(name=HYPERVISOR, ip=HYPERVISOR_IP, hostname=HYPERVISOR, flavor=hv.HYPERVISOR.name, tun=True,
                    setup=setup_hypervisor)


def demo_specs() -> list[HostSpec]:
    """The three candidates' srv-lin, dc and routed network (03's are down), and the hypervisor they share."""
    return _with_helpdesk_and_logs([
        HostSpec(name="c01-srv-lin", ip=DEMO_ROOM["01"][HOST], hostname=HOST,
                 plant=supervision.with_nagios(plant_candidate_01, DEMO_ROOM["01"], (HOST, ROUTER, DC)),
                 setup=_supervision_secret),
        HostSpec(name="c02-srv-lin", ip=DEMO_ROOM["02"][HOST], hostname=HOST,
                 plant=supervision.with_nagios(plant_candidate_02, DEMO_ROOM["02"], (HOST, ROUTER)),
                 setup=_supervision_secret),
        HostSpec(name="c03-srv-lin", ip=DEMO_ROOM["03"][HOST], boot=False, hostname=HOST),
        HostSpec(name="c01-dc", ip=DEMO_ROOM["01"][DC], plant=plant_dc_01, setup=setup_dc_01, hostname=DC,
                 flavor="dc"),
        HostSpec(name="c02-dc", ip=DEMO_ROOM["02"][DC], plant=plant_dc_02, setup=setup_dc_02, hostname=DC,
                 flavor="dc"),
        HostSpec(name="c03-dc", ip=DEMO_ROOM["03"][DC], boot=False, hostname=DC, flavor="dc"),
        *vpn.equip("01", network_specs("01")), *vpn.equip("02", network_specs("02"), push_route=False),
        *network_specs("03", boot=False),
        hypervisor_spec(),  # its guests boot while the rest of the room sets up (setups run side by side)
        *supervision_voip.room_specs(),  # each candidate's Zabbix server and IPBX (after: their setups wait)
        *demo_vlan.room_specs(),  # each candidate's two-VLAN site (router, VLAN 10 client, VLAN 20 witness)
    ])


MAX_BENCH_HOSTS = 200  # 10.77.200.11 to .210: one /24, clear of the gateway and broadcast


def bench_specs(n: int) -> list[HostSpec]:
    """``n`` hosts ``bench-01``.. at 10.77.200.11.., each planted like candidate 01."""
    if not 1 <= n <= MAX_BENCH_HOSTS:
        raise LabError(f"le banc d'essai accepte de 1 à {MAX_BENCH_HOSTS} hôtes")
    return [HostSpec(name=f"bench-{i:02d}", ip=f"10.77.200.{10 + i}", plant=plant_candidate_01) for i in range(1, n + 1)]
