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

No password comes back in any probe's command or output.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from grader.lab import samba
from grader.lab.hosts import HostSpec
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
    "partage-serveur-muet": ("dc-muet", "smb.access_as", "share: compta, allowed_credentials: [alice]", Status.INJOIGNABLE),
}


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
            lab.up([HostSpec(name="us-dc", ip=DC_IP, plant=_plant, hostname=samba.DC_HOSTNAME, flavor="dc")],
                   timeout=90)
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
