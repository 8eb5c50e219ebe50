"""The lab of the ``ccs-linux`` pack: CCS « Administrer les serveurs Linux ».

The RC's CCS session table puts CCS1 (scripts), CCS3 (supervision) and CCS5 (install and set up a
service) in the mise en situation: « manipulations sur des machines virtuelles de serveurs », 3 h,
under supervision. CCS2 and CCS4 are the jury's, on the candidate's report. Each candidate gets two
Debian machines on the network 10.77.N.0/24:

- ``srv-web`` (.10): the new server to put into production, as installed: Apache with Debian's
  default site, sshd as Debian ships it (root by key, passwords accepted), snmpd answering
  127.0.0.1 only, rsyslog local, nftables installed but without rules and not enabled, cron; the
  extranet delivered by the developers in ``/srv/extranet`` (not published yet), and their
  acceptance-test service (« service de recette ») listening on TCP 7777, to keep private. It is a
  host of the ``router`` flavor only for its ``nft`` binary (the plain flavor has none, adding it
  would rebuild every lab tree): its dnsmasq and squid are disabled, as if never installed;
- ``supervision`` (.50): the supervision and log server: Nagios 4 installed, not configured nor
  enabled (with the tmpfiles.d line Debian's package leaves out, as the demo room adds it), rsyslog
  receiving nothing.

:func:`solve` does in the running hosts what the reference candidate does (files under /etc, the
script written and run once, ``systemctl``). The self-test proves both ends.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from grader.errors import LabError
from grader.lab import router, supervision
from grader.lab.hosts import HostShell, HostSpec
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

SRV, SUP = "srv-web", "supervision"
HOSTS = (SRV, SUP)
LAST_OCTET = {SRV: 10, SUP: 50}
#: The community the supervision server uses (the sheet gives it); the grader's own SNMP leg of
#: ``snmp.restricted_source`` reads it from the file the rubric's « supervision » credential names.
COMMUNITY = "tssr-ro"
COMMUNITY_FILE = Path("/var/lib/grader/lab/snmp-communaute")
RECETTE_PORT = router.WITNESS_PORT

EXTRANET_HTML = """<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>Extranet clients</title></head>
<body><h1>Extranet clients</h1><p>Espace réservé aux clients de l'entreprise (version 1.0).</p></body>
</html>
"""
LIVRAISON = """Extranet clients, version 1.0 — livraison de l'équipe de développement.

Contenu statique, à publier tel quel par Apache (racine : /srv/extranet).
Le service de recette (port 7777) reste en service pour nos tests, depuis le serveur seulement.
"""

VHOST = """<VirtualHost *:80>
    ServerName extranet.tssr.lan
    DocumentRoot /srv/extranet
    <Directory /srv/extranet>
        Options -Indexes
        AllowOverride None
        Require all granted
    </Directory>
    ErrorLog ${APACHE_LOG_DIR}/extranet-error.log
    CustomLog ${APACHE_LOG_DIR}/extranet-access.log combined
</VirtualHost>
"""
NFTABLES = """#!/usr/sbin/nft -f
flush ruleset

table inet filtre {{
    chain entree {{
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        iifname "lo" accept
        meta l4proto {{ icmp, ipv6-icmp }} accept
        tcp dport {{ 22, 80 }} accept
        ip saddr {supervision} udp dport 161 accept
    }}
    chain transit {{
        type filter hook forward priority filter; policy drop;
    }}
}}
"""
BACKUP_SCRIPT = """#!/bin/sh
# sauvegarde-extranet.sh — archive le site de l'extranet (/srv/extranet).
#
# Usage : sauvegarde-extranet.sh [RÉPERTOIRE]   (par défaut /var/backups/extranet)
# Écrit extranet-AAAA-MM-JJ.tar.gz et fait pointer derniere.tar.gz sur la plus récente.
# Code de retour : 0 si l'archive est écrite, 1 sinon (message sur la sortie d'erreur).
set -eu
DEST="${1:-/var/backups/extranet}"
ARCHIVE="$DEST/extranet-$(date +%F).tar.gz"
mkdir -p "$DEST"
tar -czf "$ARCHIVE" -C /srv extranet || { echo "échec de l'archivage vers $ARCHIVE" >&2; exit 1; }
ln -sf "$(basename "$ARCHIVE")" "$DEST/derniere.tar.gz"
logger -t sauvegarde-extranet "archive écrite : $ARCHIVE"
"""
SNMPD = """# Agent SNMP du serveur : lu par le serveur de supervision seulement.
agentaddress udp:161
sysLocation    Salle serveurs
sysContact     admin@tssr.lan
view   systemonly  included   .1.3.6.1.2.1.1
view   systemonly  included   .1.3.6.1.2.1.25.1
rocommunity {community} {supervision} -V systemonly
"""


variables = network_variables  # the candidate's roster values (``reseau``)


def address(candidate: str, host: str) -> str:
    return f"10.77.{number(candidate)}.{LAST_OCTET[host]}"


# --- the start state (planted before boot) -----------------------------------------------------------------

_file = plant_file


def _plant_server(root: Path) -> None:
    """The extranet delivered, the acceptance-test service on 7777; dnsmasq and squid not running."""
    _file(root, "/srv/extranet/index.html", EXTRANET_HTML)
    _file(root, "/srv/extranet/LISEZMOI.txt", LIVRAISON)
    router.plant_witness(root)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    for unit in ("dnsmasq.service", "squid.service"):
        (wants / unit).unlink(missing_ok=True)


def _plant_supervision(root: Path) -> None:
    """Nagios installed only: the /run/nagios4 line Debian leaves out, nothing declared, not enabled."""
    _file(root, supervision.TMPFILES, "d /run/nagios4 0755 nagios nagios -\n")


def _community_secret(shell: HostShell) -> None:
    """The supervision's community where the rubric's credential reads it (0600, like a secret)."""
    COMMUNITY_FILE.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(COMMUNITY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{COMMUNITY}\n")
    os.chmod(COMMUNITY_FILE, 0o600)


def specs(candidates: Sequence[str], state: str = "start") -> list[HostSpec]:
    """Every candidate's two hosts; ``state="solution"``: with :func:`solve` run once they are up."""
    if state not in STATES:
        raise LabError(f"état de labo inconnu : {state!r} (connus : {', '.join(STATES)})")
    out: list[HostSpec] = []
    for c in candidates:
        hosts = [
            HostSpec(name=lab_name(c, SRV), ip=address(c, SRV), hostname=SRV, flavor=router.ROUTER.name,
                     plant=_plant_server),
            HostSpec(name=lab_name(c, SUP), ip=address(c, SUP), hostname=SUP, plant=_plant_supervision,
                     setup=_community_secret),
        ]
        if state == "solution":
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
    """The extranet published, SSH and sudo hardened, the firewall, SNMP and logs, the backup script."""
    sup = address(candidate, SUP)
    write(shell, "/etc/apache2/sites-available/extranet.conf", VHOST)
    sh(shell, "/usr/sbin/a2dissite -q 000-default && /usr/sbin/a2ensite -q extranet && "
              "/usr/bin/systemctl reload apache2.service", what="site extranet")
    sh(shell, "/usr/sbin/groupadd -f www-data && "
              "(/usr/bin/id deploy >/dev/null 2>&1 || /usr/sbin/useradd -m -s /bin/bash deploy) && "
              "/usr/sbin/usermod -aG www-data deploy", what="compte deploy")
    write(shell, "/etc/sudoers.d/deploy", "# Mises en production de l'extranet\n"
                                          "deploy ALL=(root) NOPASSWD: /usr/bin/systemctl reload apache2\n", "0440")
    sh(shell, "/usr/sbin/visudo -c -q -f /etc/sudoers.d/deploy", what="sudoers de deploy")
    write(shell, "/etc/ssh/sshd_config.d/50-durcissement.conf", "PermitRootLogin no\nPasswordAuthentication no\n")
    sh(shell, "/usr/sbin/sshd -t && /usr/bin/systemctl reload ssh.service", what="rechargement de sshd")
    write(shell, "/etc/nftables.conf", NFTABLES.format(supervision=sup), "0755")
    sh(shell, "/usr/bin/systemctl enable --now nftables.service && /usr/bin/systemctl restart nftables.service",
       what="nftables")
    write(shell, "/etc/snmp/snmpd.conf", SNMPD.format(community=COMMUNITY, supervision=sup), "0640")
    sh(shell, "/bin/chgrp Debian-snmp /etc/snmp/snmpd.conf && /usr/bin/systemctl restart snmpd.service", what="snmpd")
    write(shell, "/etc/rsyslog.d/90-supervision.conf",
          f'# Journaux vers le serveur de supervision\n*.* action(type="omfwd" target="{sup}" port="514" '
          'protocol="tcp")\n')
    sh(shell, "/usr/bin/systemctl restart rsyslog.service", what="rsyslog")
    write(shell, "/usr/local/sbin/sauvegarde-extranet.sh", BACKUP_SCRIPT, "0755")
    sh(shell, "/usr/local/sbin/sauvegarde-extranet.sh", what="sauvegarde (essai)")
    write(shell, "/etc/cron.d/sauvegarde-extranet",
          "# Sauvegarde nocturne de l'extranet\n30 1 * * * root /usr/local/sbin/sauvegarde-extranet.sh\n")


def solve_supervision(shell: HostShell, candidate: str) -> None:
    """rsyslog receives on 514/tcp; Nagios supervises srv-web (and is running)."""
    write(shell, "/etc/rsyslog.d/10-reception.conf",
          '# Réception des journaux des serveurs\nmodule(load="imtcp")\ninput(type="imtcp" port="514")\n')
    sh(shell, "/usr/bin/systemctl restart rsyslog.service", what="rsyslog")
    write(shell, supervision.CONF, supervision.hosts_cfg({SRV: address(candidate, SRV)}))
    sh(shell, "/usr/bin/systemctl enable nagios4.service && /usr/bin/systemctl restart nagios4.service",
       what="nagios4")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # its first status.dat, which the grader reads
        if shell.run("/usr/bin/test", "-s", "/var/lib/nagios4/status.dat").returncode == 0:
            return
        time.sleep(1)
    raise LabError(f"{shell.name} : Nagios n'a pas écrit /var/lib/nagios4/status.dat en 60 s")


SOLVERS: dict[str, Callable[[HostShell, str], None]] = {SRV: solve_server, SUP: solve_supervision}
