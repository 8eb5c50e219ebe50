"""The lab of the ``ccp1-assistance`` pack: CCP1 « Assister les utilisateurs en centre de services ».

The RC's CCP1 session table puts CP1 to CP4 in the mise en situation; the scenario is built around
CP4 (« Assister à l'utilisation des ressources collaboratives »): a new team, « Projets », gets its
collaborative resources, and the checks observe what CP1 (the workstation, access to remote
resources) and CP3 (the knowledge base) leave on the machines. Each candidate gets, on the network
10.77.N.0/24:

- ``srv-lin`` (.10): the team's Debian server: Apache serving the company intranet (Debian's default
  page in /var/www/html), sshd (the shared folders under /srv/partages are reached over SFTP), no
  team account, no /srv/partages;
- ``dc`` (.20): a Samba AD domain controller ``tssr.lan`` as provisioned, with the team's
  workstation already joined (``PC-PROJETS01``, left in ``CN=Computers``): no OU, no user, no group,
  no GPO, no intranet record.

Mail, shared calendars, remote control and the ticketing tool are not in the lab: the jury's.
:func:`solve` does, in the running hosts, what the reference candidate does (``samba-tool`` as
Administrator, the GPO's registry policies written as the editor writes them, files under /srv and
/var/www). The self-test proves both ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from grader.errors import LabError
from grader.lab import gpo, samba
from grader.lab.hosts import HostShell, HostSpec
from grader.lab.packs import (
    STATES,
    lab_name,
    network_variables,
    number,
    sh,
    solve_hosts,
    with_solution,
    write,
)

SRV, DC = "srv-lin", "dc"
HOSTS = (SRV, DC)
LAST_OCTET = {SRV: 10, DC: 20}

TEAM_OU = "Projets"
COMPUTER = "PC-PROJETS01"
GROUP = "GG_Projets"
LINUX_GROUP = "projets"
SHARE = "/srv/partages/projets"
#: login, given name, surname, first password (to change at the first logon)
USERS = (("lea.durand", "Léa", "Durand", "Bienvenue-Equipe-2026!"), ("hugo.petit", "Hugo", "Petit", "Accueil-Equipe-2026!"))
GPO_NAME = "Espace collaboratif Projets"
EDGE_KEY = r"HKCU\Software\Policies\Microsoft\Edge"
DESKTOP_KEY = r"HKCU\Software\Policies\Microsoft\Windows\Control Panel\Desktop"
HOMEPAGE = "http://intranet.tssr.lan/projets/"

SPACE_HTML = """<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>Espace collaboratif Projets</title></head>
<body>
<h1>Espace collaboratif Projets</h1>
<p>Bienvenue à l'équipe Projets. Cette page est la page d'accueil de votre navigateur.</p>
<h2>Le dossier partagé de l'équipe</h2>
<p>Les documents communs sont dans le dossier <code>/srv/partages/projets</code> du serveur srv-lin :
ouvrez-le en SFTP (WinSCP ou l'Explorateur) avec votre identifiant. Seuls les membres de l'équipe y
ont accès ; les fichiers que vous y déposez restent à l'équipe.</p>
<p>Voir aussi : <a href="securite.html">Protection des données</a>, et la base de connaissances du
centre de services.</p>
</body>
</html>
"""
SECURITY_HTML = """<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>Protection des données</title></head>
<body>
<h1>Protection des données</h1>
<ul>
<li>Votre mot de passe est personnel : ne le communiquez à personne, pas même au centre de services.</li>
<li>Verrouillez votre poste (Windows + L) dès que vous le quittez ; il se verrouille seul après 10 minutes.</li>
<li>Les documents de l'équipe vont dans le dossier partagé, jamais sur une clé USB ni une messagerie personnelle.</li>
</ul>
</body>
</html>
"""
KB_HTML = """<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>Accès au dossier de l'équipe Projets</title></head>
<body>
<h1>Accès au dossier de l'équipe Projets</h1>
<h2>Symptôme</h2><p>« Permission non accordée » à l'ouverture de /srv/partages/projets.</p>
<h2>Cause</h2><p>Le compte n'est pas membre du groupe projets sur srv-lin (ou les droits du dossier ont changé).</p>
<h2>Résolution</h2><p>Ajouter le compte au groupe (<code>usermod -aG projets LOGIN</code>), vérifier les droits
(root:projets, 2770), puis faire rouvrir la session SFTP à l'utilisateur.</p>
</body>
</html>
"""


variables = network_variables  # the candidate's roster values (``reseau``)


def address(candidate: str, host: str) -> str:
    return f"10.77.{number(candidate)}.{LAST_OCTET[host]}"


# --- the start state (planted before boot) -----------------------------------------------------------------

def _plant_dc(root: Path) -> None:
    """The team's workstation joined to the domain, left where a join puts it (CN=Computers)."""
    samba.samba_tool(root, "computer", "create", COMPUTER, "--description=Poste de l'équipe Projets")
    samba.ldbmodify(root, f"dn: CN={COMPUTER},CN=Computers,{samba.BASE_DN}\nchangetype: modify\n"
                          "replace: userAccountControl\nuserAccountControl: 4096\n-\nreplace: dNSHostName\n"
                          f"dNSHostName: {COMPUTER.lower()}.{samba.DNS_DOMAIN}\n-\nreplace: operatingSystem\n"
                          "operatingSystem: Windows 11 Professionnel\n-\n")


def specs(candidates: Sequence[str], state: str = "start") -> list[HostSpec]:
    """Every candidate's two hosts; ``state="solution"``: with :func:`solve` run once they are up."""
    if state not in STATES:
        raise LabError(f"état de labo inconnu : {state!r} (connus : {', '.join(STATES)})")
    out: list[HostSpec] = []
    for c in candidates:
        hosts = [
            HostSpec(name=lab_name(c, SRV), ip=address(c, SRV), hostname=SRV),
            HostSpec(name=lab_name(c, DC), ip=address(c, DC), hostname=DC, flavor="dc", plant=_plant_dc),
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
    """The team's accounts and group, its shared folder (2770), its intranet space and the knowledge base sheet."""
    accounts = " && ".join(f"(/usr/bin/id {login} >/dev/null 2>&1 || /usr/sbin/useradd -m -s /bin/bash {login}) && "
                           f"/usr/sbin/usermod -aG {LINUX_GROUP} {login}" for login, *_ in USERS)
    sh(shell, f"/usr/sbin/groupadd -f {LINUX_GROUP} && {accounts}", what="comptes de l'équipe")
    sh(shell, f"/bin/mkdir -p {SHARE} && /bin/chown root:{LINUX_GROUP} {SHARE} && /bin/chmod 2770 {SHARE}",
       what="dossier partagé")
    write(shell, "/var/www/html/projets/index.html", SPACE_HTML)
    write(shell, "/var/www/html/projets/securite.html", SECURITY_HTML)
    write(shell, "/var/www/html/kb/acces-dossier-projets.html", KB_HTML)


def _samba(shell: HostShell, *args: str) -> str:
    return samba.samba_tool_online(shell, *args, "-H", f"ldap://{samba.DC_HOSTNAME}.{samba.DNS_DOMAIN}")


def solve_dc(shell: HostShell, candidate: str) -> None:
    """The OU, the accounts and their group, the workstation moved, the GPO linked with its settings, the DNS record."""
    ou = f"OU={TEAM_OU},{samba.BASE_DN}"
    _samba(shell, "ou", "add", ou)
    for login, given, surname, password in USERS:
        _samba(shell, "user", "create", login, password, f"--given-name={given}", f"--surname={surname}",
               f"--userou=OU={TEAM_OU}", "--must-change-at-next-login")
    _samba(shell, "group", "add", GROUP, f"--groupou=OU={TEAM_OU}", "--group-scope=Global", "--group-type=Security")
    _samba(shell, "group", "addmembers", GROUP, ",".join(login for login, *_ in USERS))
    _samba(shell, "computer", "move", COMPUTER, ou)
    out = _samba(shell, "gpo", "create", GPO_NAME)
    guid = next((w for w in out.replace("'", " ").split() if w.startswith("{") and w.endswith("}")), None)
    if guid is None:
        raise LabError(f"GUID de la GPO « {GPO_NAME} » introuvable dans : {out.strip()}")
    _samba(shell, "gpo", "setlink", ou, guid)
    gpo.set_registry_policy(shell, guid, EDGE_KEY, "HomepageLocation", HOMEPAGE)
    gpo.set_registry_policy(shell, guid, DESKTOP_KEY, "ScreenSaveActive", "1")
    gpo.set_registry_policy(shell, guid, DESKTOP_KEY, "ScreenSaverIsSecure", "1")
    gpo.set_registry_policy(shell, guid, DESKTOP_KEY, "ScreenSaveTimeOut", "600")
    samba.samba_tool_online(shell, "dns", "add", "127.0.0.1", samba.DNS_DOMAIN, "intranet", "A",
                            address(candidate, SRV))


SOLVERS: dict[str, Callable[[HostShell, str], None]] = {SRV: solve_server, DC: solve_dc}
