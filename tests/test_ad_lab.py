"""Active Directory over LDAP against the demo room's real Samba AD DCs (``room`` fixture).

Candidate 01's and 02's ``dc`` run ``samba`` under systemd (samba-ad-dc.service), provisioned
once into a cached layer and planted with samba-tool; 03's is down. Every AD check of the demo
rubric is graded for real and compared with the planted truth; the channel's own behaviour
(StartTLS, paging, a refused bind, an untrusted or misnamed certificate, an absent base) is
exercised against the same servers.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import rubrics
from grader.errors import Unreachable
from grader.lab import demo, samba
from grader.model import Status
from grader.plugins import default_catalogue
from grader.probes import ldap as ldap_probes
from grader.probes.ldap import LdapOptions, search
from grader.roster import load_roster
from grader.rubric import Credential, load_rubric
from grader.runner import grade_host, plan
from grader.transports import ldap as ldap_channel
from grader.transports.base import HostContext
from grader.transports.ldap import LdapChannel

pytestmark = pytest.mark.lab

DC01, DC02, DC03 = (demo.DEMO_ROOM[c][demo.DC] for c in ("01", "02", "03"))


def _context(lab, address: str, password_file: Path | None = None, **options) -> HostContext:
    cred = Credential(username=samba.READER_UPN,
                      password_file=str(password_file or samba.reader_password_path(lab.state_dir)))
    opts = {"credential": "lecteur", "ca_file": str(samba.ca_path(lab.state_dir)), **options}
    return HostContext(name="dc", address=address, platform="windows", port=None, credential=None,
                       credentials={"lecteur": cred}, options=LdapOptions(**opts), connect_timeout=3.0)


def test_dc_runs_samba_under_systemd(room):
    lab, info = room
    for name in ("c01-dc", "c02-dc"):
        assert info[name]["state"] in ("running", "degraded")
        assert lab.nsenter(name, "/usr/bin/systemctl", "is-active", "samba-ad-dc").stdout.strip() == "active"
        assert lab.nsenter(name, "/usr/bin/systemctl", "is-system-running").stdout.strip() == "running"
        assert lab.nsenter(name, "/usr/bin/hostname").stdout.strip() == "dc"
    assert {h["name"]: h["state"] for h in lab.status()}["c03-dc"] == "down"
    # The planted DNS record is served by the DC's own DNS (samba-tool dns add after boot).
    out = lab.nsenter("c01-dc", "/usr/bin/getent", "ahostsv4", "intranet.tssr.lan").stdout
    assert out.startswith(demo.DEMO_ROOM["01"][demo.HOST])


def test_lab_secrets_are_private_files(room):
    lab, _ = room
    for path in (samba.reader_password_path(lab.state_dir), lab.state_dir / samba.CA_KEY_FILE):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert samba.ca_path(lab.state_dir).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_every_ad_check_of_the_demo_matches_the_planted_truth(room):
    rubric = load_rubric(rubrics.demo_rubric())
    catalogue = default_catalogue()
    jobs = [j for j in plan(rubric, load_roster(rubrics.demo_roster(), rubric), catalogue) if j.host.name == "dc"]
    assert len(jobs) == 3
    for job in jobs:
        report = grade_host(job, None)
        got = {r.check_id: r.status.value for r in report.results if r.check_id in demo.AD_CHECK_IDS}
        want = {k: v for k, v in demo.PLANTED_TRUTH[job.candidate.id].items() if k in demo.AD_CHECK_IDS}
        assert got == want, {k: (r.message, r.observed) for r in report.results for k in [r.check_id]
                             if got[k] != want[k]}
        if job.candidate.id == "03":
            assert not report.outcome.reached and "10.77.3.20" in report.outcome.reason
            continue
        # One LDAPS session per DC: one bind, each distinct search once (9 LDAP checks, 6 searches).
        assert report.outcome.execs == 1 and report.login == "grader@tssr.lan (mot de passe, LDAPS)"
        assert report.outcome.host_key.startswith("TLS SHA256:") and report.outcome.anomalies == ()
        searches = [p for p in report.probes if p.transport == "ldap"]
        # 7: the 6 searches of the 9 AD checks + the OUs' DACLs of ad.ou_delegation (tests/test_gpo_lab.py)
        assert len(searches) == 7 and all(p.exit_code == 0 for p in searches)
        assert [p.transport for p in report.probes].count("dns") == 1
        by_id = {r.check_id: r for r in report.results}
        if job.candidate.id == "02":
            assert "accents différents" in by_id["ad-ou-compta"].message
            assert "n'est liée nulle part" in by_id["ad-gpo-fond-lien"].message
            assert "le lien est désactivé" in by_id["ad-gpo-postes-lien"].message


def test_starttls_and_paged_searches(room, monkeypatch):
    lab, _ = room
    monkeypatch.setattr(ldap_channel, "PAGE_SIZE", 5)  # force several pages out of the real server
    probe = search("(objectClass=*)", ["objectClass"], base="CN=Users", scope="one")
    got = LdapChannel().collect(_context(lab, DC01, tls="starttls"), [probe])
    assert got.login.endswith("(mot de passe, STARTTLS)")
    base, entries = ldap_probes.parse_output(got.results[probe.key])
    assert base == "CN=Users,DC=tssr,DC=lan" and len(entries) > 15  # built-in groups and accounts: 4+ pages
    assert len({e["dn"] for e in entries}) == len(entries)


def test_absent_base_is_an_observation_not_a_failure(room):
    lab, _ = room
    probe = search("(objectClass=*)", ["ou"], base="OU=Comptabilité", scope="base")
    r = LdapChannel().collect(_context(lab, DC02), [probe]).results[probe.key]
    assert r.exit_code == 32 and r.ok and ldap_probes.parse_output(r)[1] == []


def test_wrong_password_is_unreachable(room, tmp_path):
    lab, _ = room
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    os.chmod(wrong, 0o600)
    with pytest.raises(Unreachable, match="authentification LDAP refusée pour grader@tssr.lan"):
        LdapChannel().collect(_context(lab, DC01, wrong), [search("(cn=x)", ["cn"])])


def test_certificates_are_checked_unless_the_rubric_opts_out(room, tmp_path):
    lab, _ = room
    other_ca = tmp_path / "other"
    other_ca.mkdir()
    samba.ensure_ca(other_ca)
    probe = search("(cn=x)", ["cn"])
    with pytest.raises(Unreachable, match="TLS"):
        LdapChannel().collect(_context(lab, DC01, ca_file=str(samba.ca_path(other_ca))), [probe])
    with pytest.raises(Unreachable, match="n'est pas établi pour « dc2.tssr.lan »"):
        LdapChannel().collect(_context(lab, DC01, tls_name="dc2.tssr.lan"), [probe])
    got = LdapChannel().collect(_context(lab, DC01, tls_name="dc.tssr.lan"), [probe])
    assert got.results[probe.key].exit_code == 0 and got.anomalies == []
    got = LdapChannel().collect(_context(lab, DC01, ca_file=None, verify_tls=False), [probe])
    assert got.results[probe.key].exit_code == 0
    assert got.anomalies == [f"certificat TLS de {DC01}:636 non vérifié (verify_tls: false dans le barème)"]


def test_a_down_dc_is_unreachable(room):
    lab, _ = room
    with pytest.raises(Unreachable):
        LdapChannel().collect(_context(lab, DC03), [search("(cn=x)", ["cn"])])


def test_ldap_result_status_is_never_non_conforme_for_a_down_dc(room):
    rubric = load_rubric(rubrics.demo_rubric())
    [job] = [j for j in plan(rubric, load_roster(rubrics.demo_roster(), rubric), default_catalogue())
             if j.host.name == "dc" and j.candidate.id == "03"]
    assert {r.status for r in grade_host(job, None).results} == {Status.INJOIGNABLE}
