"""The user's side, for real: ad.user_can_logon against the lab's Samba KDC, smb.access_as against its file server.

One Samba AD DC is booted (its own, 10.77.13.20). Planted as a candidate would: users alice and bob
(enabled, their exam passwords), carole (disabled), dave (enabled, then locked by five wrong
passwords: his directory entry still reads « enabled », only the KDC knows), a lockout threshold
of 5; three shares on the DC's own file server: ``compta`` (``valid users = TSSR\\alice``),
``secret`` (open in smb.conf, but its file is mode 0600 root: a configuration reader says
« readable », the server says no) and ``public`` (open to every user: bob gets in).

Graded through the runner (plan + run_jobs), the DC's primary channel being LDAPS:

* logon: alice conforme; alice with another password, carole (disabled), dave (locked), an
  unknown account: non conforme with the KDC's reason; a KDC that refuses the connection: injoignable;
* shares: compta allowed to alice, refused to bob: conforme; secret for alice: non conforme (read
  denied); public refused to bob: non conforme (bob reads it); an absent share: non conforme; a
  user refused because their *logon* fails: erreur; a server that does not answer: injoignable.

* drive maps (Group Policy Preferences, ``Drives.xml`` written in SYSVOL over SMB as the editor saves
  it): S: to the compta share of dc, targeted on GG_Compta, conforme; P: mapped to another path, T: whose item
  is disabled (a reader who greps « T: » in the file would say yes), and a GPO without Drives.xml:
  non conforme.

No password comes back in any probe's command or output.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from grader.lab import gpo, samba
from grader.lab.hosts import HostShell, HostSpec
from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import plan, run_jobs
from grader.transports import kerberos
from tests.conftest import lab_available, locked_lab

pytestmark = [pytest.mark.lab, pytest.mark.own_lab]  # boots its own hosts: after the demo room

DC_IP = "10.77.13.20"
PASSWORDS = {"alice": "Alice-Examen-2026", "bob": "Bob-Examen-2026", "carole": "Carole-Examen-2026",
             "dave": "Dave-Examen-2026"}
WRONG = "Pas-Le-Bon-2026"
SMB_CONF = """
[compta]
    path = /srv/compta
    read only = yes
    valid users = TSSR\\alice
[secret]
    path = /srv/secret
    read only = yes
[public]
    path = /srv/public
    read only = yes
"""

RUBRIC = """\
rubric: cote-utilisateur
title: Ouverture de session et accès aux partages
credentials:
  lecteur-ad: {{username: grader@tssr.lan, password_file: "{reader}"}}
  alice: {{username: alice@tssr.lan, password_env: GRADER_TEST_ALICE}}
  alice-faux: {{username: alice@tssr.lan, password_env: GRADER_TEST_WRONG}}
  bob: {{username: bob@tssr.lan, password_env: GRADER_TEST_BOB}}
  carole: {{username: carole@tssr.lan, password_env: GRADER_TEST_CAROLE}}
  dave: {{username: dave@tssr.lan, password_env: GRADER_TEST_DAVE}}
  inconnu: {{username: zoe@tssr.lan, password_env: GRADER_TEST_WRONG}}
hosts:
  - name: dc
    role: controleur-domaine
    platform: windows
    address: "{ip}"
    transport: ldap
    connect_timeout: 3
    options:
      ldap: {{credential: lecteur-ad, tls: ldaps, ca_file: "{ca}"}}
      smb: {{credential: lecteur-ad}}
  - name: dc-muet
    role: autre
    platform: windows
    address: "{ip}"
    transport: ldap
    connect_timeout: 2
    options:
      ldap: {{credential: lecteur-ad, tls: ldaps, ca_file: "{ca}"}}
      kdc: {{port: 89}}
      smb_as: {{port: 446}}
checks:
{checks}
"""

CASES = {  # id -> (host, check, params, expected status)
    "logon-alice": ("dc", "ad.user_can_logon", "credential: alice", Status.CONFORME),
    "logon-alice-faux": ("dc", "ad.user_can_logon", "credential: alice-faux", Status.NON_CONFORME),
    "logon-carole": ("dc", "ad.user_can_logon", "credential: carole", Status.NON_CONFORME),
    "logon-dave": ("dc", "ad.user_can_logon", "credential: dave", Status.NON_CONFORME),
    "logon-inconnu": ("dc", "ad.user_can_logon", "credential: inconnu", Status.NON_CONFORME),
    "logon-kdc-muet": ("dc-muet", "ad.user_can_logon", "credential: alice", Status.INJOIGNABLE),
    "partage-compta": ("dc", "smb.access_as", "share: compta, file: lisezmoi.txt, allowed_credentials: [alice], denied_credentials: [bob]",
                       Status.CONFORME),
    "partage-secret": ("dc", "smb.access_as", "share: secret, file: paie.txt, allowed_credentials: [alice]", Status.NON_CONFORME),
    "partage-public": ("dc", "smb.access_as", "share: public, file: note.txt, allowed_credentials: [alice], denied_credentials: [bob]",
                       Status.NON_CONFORME),
    "partage-absent": ("dc", "smb.access_as", "share: archives, allowed_credentials: [alice]", Status.NON_CONFORME),
    "partage-refus-non-prouve": ("dc", "smb.access_as", "share: compta, file: lisezmoi.txt, denied_credentials: [carole]",
                                 Status.ERREUR),
    "partage-serveur-muet": ("dc-muet", "smb.access_as", "share: compta, allowed_credentials: [alice]",
                             Status.INJOIGNABLE),
    "lecteur-s": ("dc", "ad.gpo_drive_map", (r"gpo: Lecteurs réseau, letter: S, path: '\\dc\compta', "
                                             "group: GG_Compta, label: Comptabilité"), Status.CONFORME),
    "lecteur-p": ("dc", "ad.gpo_drive_map", r"gpo: Lecteurs réseau, letter: P, path: '\\dc\public'",
                  Status.NON_CONFORME),
    "lecteur-t": ("dc", "ad.gpo_drive_map", r"gpo: Lecteurs réseau, letter: T, path: '\\dc\compta'",
                  Status.NON_CONFORME),
    "lecteur-sans-fichier": ("dc", "ad.gpo_drive_map", r"gpo: Sans lecteurs, letter: S, path: '\\dc\compta'",
                             Status.NON_CONFORME),
}

# As the Group Policy Management Editor saves it (MS-GPPREF §2.2.1.4, Drive Maps); P: points at a
# share that is not the exam's, T:'s item is disabled.
DRIVES_XML = """<?xml version="1.0" encoding="utf-8"?>
<Drives clsid="{8FDDCC1A-0C3C-43cd-A6B4-71A6DF20DA8C}">
<Drive clsid="{935D1B74-9CB8-4e3c-9914-7DD559B7A417}" name="S:" status="S:" image="2" changed="2026-12-06 10:00:00" \
uid="{0B8A3C4E-1111-4A2B-9C3D-000000000001}" bypassErrors="1"><Properties action="U" thisDrive="NOCHANGE" \
allDrives="NOCHANGE" userName="" path="\\\\dc\\compta" label="Comptabilité" persistent="1" useLetter="1" letter="S"/>\
<Filters><FilterGroup bool="AND" not="0" name="TSSR\\GG_Compta" sid="S-1-5-21-1-2-3-1105" userContext="1" \
primaryGroup="0" localGroup="0"/></Filters></Drive>
<Drive clsid="{935D1B74-9CB8-4e3c-9914-7DD559B7A417}" name="P:" status="P:" image="2" changed="2026-12-06 10:00:00" \
uid="{0B8A3C4E-1111-4A2B-9C3D-000000000002}" bypassErrors="1"><Properties action="U" thisDrive="NOCHANGE" \
allDrives="NOCHANGE" userName="" path="\\\\dc\\publique" label="" persistent="1" useLetter="1" letter="P"/></Drive>
<Drive clsid="{935D1B74-9CB8-4e3c-9914-7DD559B7A417}" name="T:" status="T:" image="2" changed="2026-12-06 10:00:00" \
uid="{0B8A3C4E-1111-4A2B-9C3D-000000000003}" disabled="1" bypassErrors="1"><Properties action="U" \
thisDrive="NOCHANGE" allDrives="NOCHANGE" userName="" path="\\\\dc\\compta" label="" persistent="1" useLetter="1" \
letter="T"/></Drive>
</Drives>
"""


def _plant_gpos(shell: HostShell) -> None:
    gpo.set_drive_maps(shell, gpo.create_gpo(shell, "Lecteurs réseau"), DRIVES_XML)
    gpo.create_gpo(shell, "Sans lecteurs")


def _checks() -> str:
    return "\n".join(f"  - {{id: {cid}, check: {check}, host: {host}, criterion: CP1.2, params: {{{params}}}}}"
                     for cid, (host, check, params, _) in CASES.items())


def _plant(root: Path) -> None:
    for user, password in PASSWORDS.items():
        samba.samba_tool(root, "user", "create", user, password)
    samba.samba_tool(root, "user", "disable", "carole")
    samba.samba_tool(root, "domain", "passwordsettings", "set", "--account-lockout-threshold=5")
    conf = root / "etc/samba/smb.conf"
    conf.write_text(conf.read_text() + SMB_CONF)
    for share, name, text, mode in (("compta", "lisezmoi.txt", "Budget 2026\n", 0o644),
                                    ("secret", "paie.txt", "Paie de mars\n", 0o600),
                                    ("public", "note.txt", "Note de service\n", 0o644)):
        (root / "srv" / share).mkdir(parents=True)
        path = root / "srv" / share / name
        path.write_text(text)
        path.chmod(mode)


def _lock_dave() -> None:
    """Five wrong passwords, as a user who forgot theirs: the KDC locks the account (threshold 5)."""
    principal = "dave@TSSR.LAN"
    conf = kerberos.krb5_conf("TSSR.LAN", DC_IP)
    for _ in range(5):
        with kerberos.private_environment(conf), pytest.raises(Exception, match="Preauthentication failed|revoked"):
            kerberos.acquire_with_password(principal, WRONG)


def _wait_for_kdc() -> None:
    conf = kerberos.krb5_conf("TSSR.LAN", DC_IP)
    for _ in range(60):
        try:
            with kerberos.private_environment(conf):
                kerberos.acquire_with_password("bob@TSSR.LAN", PASSWORDS["bob"])
            return
        except Exception:  # noqa: BLE001 - the DC is still starting
            time.sleep(0.5)
    pytest.fail("le KDC du labo ne délivre pas de ticket")


def test_logon_and_share_access_graded_for_real(tmp_path: Path, monkeypatch):
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    if kerberos.available():
        pytest.skip(kerberos.available())
    for user, password in PASSWORDS.items():
        monkeypatch.setenv(f"GRADER_TEST_{user.upper()}", password)
    monkeypatch.setenv("GRADER_TEST_WRONG", WRONG)
    with locked_lab() as lab:
        monkeypatch.setenv("GRADER_LAB_LOCK_HELD", "1")
        try:
            lab.up([HostSpec(name="us-dc", ip=DC_IP, plant=_plant, hostname=samba.DC_HOSTNAME, flavor="dc",
                            setup=_plant_gpos)], timeout=120)
            _wait_for_kdc()
            _lock_dave()
            path = tmp_path / "bareme.yaml"
            path.write_text(RUBRIC.format(reader=samba.reader_password_path(lab.state_dir), ip=DC_IP,
                                          ca=samba.ca_path(lab.state_dir), checks=_checks()), encoding="utf-8")
            jobs = plan(load_rubric(path), [Candidate("01")], default_catalogue())
            t0 = time.perf_counter()
            reports = run_jobs(jobs, known_hosts_path=tmp_path / "known_hosts", workers=2)
            print(f"graded in {time.perf_counter() - t0:.1f} s")
            got = {c.check_id: c for r in reports for c in r.results}
            for check_id, (_, _, _, status) in CASES.items():
                assert got[check_id].status is status, (check_id, got[check_id].message, got[check_id].observed)
            assert "compte désactivé ou verrouillé" in got["logon-carole"].message
            assert "KDC_ERR_CLIENT_REVOKED" in got["logon-dave"].observed
            assert "KDC_ERR_PREAUTH_FAILED" in got["logon-alice-faux"].observed
            assert "KDC_ERR_C_PRINCIPAL_UNKNOWN" in got["logon-inconnu"].observed
            assert "Budget 2026" in got["partage-compta"].observed
            assert "STATUS_ACCESS_DENIED" in got["partage-compta"].observed  # bob's refusal, as the server said it
            assert "lecture refusée (STATUS_ACCESS_DENIED)" in got["partage-secret"].message
            assert "bob@tssr.lan accède au partage" in got["partage-public"].message
            assert "n'existe pas" in got["partage-absent"].message
            assert "STATUS_ACCOUNT_DISABLED" in got["partage-refus-non-prouve"].message
            assert "S: → \\\\dc\\compta [U] « Comptabilité » si TSSR\\GG_Compta" in got["lecteur-s"].observed
            assert "chemin \\\\dc\\publique au lieu de" in got["lecteur-p"].message
            assert "élément désactivé" in got["lecteur-t"].message
            assert "pas de Drives.xml" in got["lecteur-sans-fichier"].message
            # dave's entry still reads enabled in the directory: only the KDC knew he was locked out
            uac = lab.nsenter("us-dc", "/usr/bin/ldbsearch", "-H", "/var/lib/samba/private/sam.ldb",
                              "(sAMAccountName=dave)", "userAccountControl").stdout
            assert "userAccountControl: 512" in uac
            secrets = [*PASSWORDS.values(), WRONG]
            for report in reports:
                for probe in report.probes:
                    text = f"{probe.command}{probe.stdout}{probe.stderr}{probe.error}"
                    assert not any(s in text for s in secrets), probe.command
        finally:
            lab.down()
