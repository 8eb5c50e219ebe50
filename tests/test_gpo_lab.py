"""GPO settings (SYSVOL over SMB) and OU delegation (DACL over LDAP) against the demo room's real Samba DCs.

Candidate 01's DC has the wallpaper value in « Fond d'écran »'s Registry.pol, MinimumPasswordLength
12 in the Default Domain Policy's GptTmpl.inf and the reset-password delegation on Comptabilité
for GG_Compta (grader/lab/gpo.py); 02's wallpaper points at another file, its Default Domain
Policy has no template and no delegation exists; 03's DC is down. The reader account of the demo
rubric is an ordinary domain user: these tests prove it can read SYSVOL and the OU's DACL.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import threading
from pathlib import Path

import pytest

import rubrics
from checks.windows._gpo import parse_registry_pol
from checks.windows.delegation import OU_ACLS
from checks.windows.gpo_settings import POLICY_FILES, USER_POL
from grader.errors import TransportError, Unreachable
from grader.lab import demo, samba
from grader.plugins import default_catalogue
from grader.probes import ldap as ldap_probes
from grader.probes import smb as smb_probes
from grader.roster import load_roster
from grader.rubric import Credential, load_rubric
from grader.runner import grade_host, plan
from grader.transports import ldap as ldap_channel
from grader.transports import smb
from grader.transports.base import HostContext

pytestmark = pytest.mark.lab

DC01, DC02, DC03 = (demo.DEMO_ROOM[c][demo.DC] for c in ("01", "02", "03"))


def _context(lab, address: str, options, password_file: Path | None = None) -> HostContext:
    cred = Credential(username=samba.READER_UPN,
                      password_file=str(password_file or samba.reader_password_path(lab.state_dir)))
    return HostContext(name="dc", address=address, platform="windows", port=None, credential=None,
                       credentials={"lecteur": cred}, options=options, connect_timeout=3.0)


def _smb(lab, address: str, password_file: Path | None = None, port: int = 445):
    return smb.SmbChannel().collect(_context(lab, address, smb_probes.SmbOptions(credential="lecteur", port=port),
                                             password_file), [POLICY_FILES])


def _ldap(lab, address: str, probes):
    opts = ldap_probes.LdapOptions(credential="lecteur", ca_file=str(samba.ca_path(lab.state_dir)))
    return ldap_channel.LdapChannel().collect(_context(lab, address, opts), probes)


def _fond_folder(dirs: list[dict]) -> dict:
    return next(d for d in dirs if USER_POL in d["files"] and "base64" in d["files"][USER_POL])


def test_reader_is_a_plain_user_and_reads_sysvol_in_one_session(room):
    lab, _ = room
    admins = lab.nsenter("c01-dc", "/usr/bin/samba-tool", "group", "listmembers", "Domain Admins").stdout
    assert "Administrator" in admins and samba.READER not in admins.split()
    got = _smb(lab, DC01)
    assert got.login == "grader@tssr.lan (mot de passe, SMB)" and got.execs == 1 and got.complete
    dirs = smb_probes.parse_output(got.results[POLICY_FILES.key])
    assert len(dirs) == 4  # Default Domain Policy, Default DC Policy, « Fond d'écran », « Sécurité des postes »
    records = parse_registry_pol(base64.b64decode(_fond_folder(dirs)["files"][USER_POL]["base64"]))
    assert [(r.value, r.data) for r in records] == [("Wallpaper", demo.WALLPAPER)]


def test_registry_pol_parsed_like_samba_parses_it(room):
    """The file read over SMB, parsed by the grader, equals Samba's own NDR reading of it on the DC."""
    lab, _ = room
    folder = _fond_folder(smb_probes.parse_output(_smb(lab, DC01).results[POLICY_FILES.key]))
    ours = [[r.key, r.value, r.type, r.data] for r in
            parse_registry_pol(base64.b64decode(folder["files"][USER_POL]["base64"]))]
    script = ("import json,sys,glob\nfrom samba.dcerpc import preg\nfrom samba.ndr import ndr_unpack\n"
              "p=glob.glob('/var/lib/samba/sysvol/tssr.lan/Policies/'+sys.argv[1]+'/[Uu][Ss][Ee][Rr]/Registry.pol')[0]\n"
              "f=ndr_unpack(preg.file,open(p,'rb').read())\n"
              "print(json.dumps([[e.keyname,e.valuename,e.type,e.data] for e in f.entries]))\n")
    guid = folder["path"].rsplit("/", 1)[-1]
    theirs = json.loads(lab.nsenter("c01-dc", "/usr/bin/python3", "-c", script, guid).stdout)
    assert ours == theirs


def test_reader_reads_the_ou_dacl_only_with_the_sd_flags_control(room, monkeypatch):
    lab, _ = room
    monkeypatch.setattr(ldap_channel, "PAGE_SIZE", 2)  # the control must ride along every page (4 OUs: 2 pages)
    without = ldap_probes.search("(objectClass=organizationalUnit)", ["ou", "nTSecurityDescriptor"])
    got = _ldap(lab, DC01, [OU_ACLS, without])
    with_control = ldap_probes.parse_output(got.results[OU_ACLS.key])[1]
    plain = ldap_probes.parse_output(got.results[without.key])[1]
    assert got.results[OU_ACLS.key].exit_code == 0 and len(with_control) == len(plain) == 4  # + Domain Controllers
    compta = next(e for e in with_control if e["dn"].startswith("OU=Comptabilité"))
    assert "base64" in compta["attributes"]["nTSecurityDescriptor"][0]
    assert all("nTSecurityDescriptor" not in e["attributes"] for e in plain)  # SACL asked: nothing for a plain user


def test_demo_gpo_checks_match_the_planted_truth(room):
    rubric = load_rubric(rubrics.demo_rubric())
    jobs = [j for j in plan(rubric, load_roster(rubrics.demo_roster(), rubric), default_catalogue())
            if j.host.name == "dc"]
    assert len(jobs) == 3
    for job in jobs:
        report = grade_host(job, None)
        got = {r.check_id: r.status.value for r in report.results if r.check_id in demo.GPO_CHECK_IDS}
        want = {k: demo.PLANTED_TRUTH[job.candidate.id][k] for k in demo.GPO_CHECK_IDS}
        assert got == want, {r.check_id: (r.message, r.observed) for r in report.results if r.check_id in got}
        if job.candidate.id == "03":
            continue
        assert [p.transport for p in report.probes].count("smb") == 1  # one SYSVOL read for both GPO checks
        by_id = {r.check_id: r for r in report.results}
        if job.candidate.id == "01":
            assert "GG_Compta" in by_id["ad-delegation-compta"].observed
            assert "Réinitialiser le mot de passe" in by_id["ad-delegation-compta"].observed
        else:
            assert "fond.png" in by_id["ad-gpo-fond-parametre"].observed
            assert "fichier absent" in by_id["ad-gpo-mdp-longueur"].observed


def test_dc_down_or_no_smb_service_is_injoignable(room):
    lab, _ = room
    with pytest.raises(Unreachable, match=DC03):
        _smb(lab, DC03)
    with pytest.raises(Unreachable, match="refuse la connexion"):  # srv-lin is up, nothing listens on 445
        _smb(lab, demo.DEMO_ROOM["01"][demo.HOST])


def test_wrong_password_is_erreur_with_the_reason(room, tmp_path):
    lab, _ = room
    wrong = tmp_path / "wrong.password"
    wrong.write_text("pas-le-bon-mot-de-passe\n")
    wrong.chmod(0o600)
    with pytest.raises(TransportError, match="authentification") as info:
        _smb(lab, DC01, password_file=wrong)
    assert "pas-le-bon" not in str(info.value)


def test_refused_smb_account_is_erreur_for_the_gpo_checks_only(room, tmp_path):
    """The rubric's SMB account is refused: the GPO settings are « erreur » (not « non conforme »), LDAP checks stand."""
    wrong = tmp_path / "faux.password"
    wrong.write_text("pas-le-bon-mot-de-passe\n")
    wrong.chmod(0o600)
    text = rubrics.demo_rubric().read_text(encoding="utf-8")
    text = text.replace("      smb: {credential: lecteur-ad}", "      smb: {credential: lecteur-faux}", 1)
    text = text.replace("credentials:\n", f"credentials:\n  lecteur-faux:\n    username: grader@tssr.lan\n"
                                          f"    password_file: {wrong}\n", 1)
    path = tmp_path / "demo-faux.yaml"
    path.write_text(text, encoding="utf-8")
    rubric = load_rubric(path)
    job = next(j for j in plan(rubric, load_roster(rubrics.demo_roster(), rubric), default_catalogue())
               if j.host.name == "dc" and j.candidate.id == "01")
    report = grade_host(job, None)
    by_id = {r.check_id: r for r in report.results}
    assert report.outcome.reached
    for check_id in ("ad-gpo-fond-parametre", "ad-gpo-mdp-longueur"):
        assert by_id[check_id].status.value == "erreur" and "authentification" in by_id[check_id].message
    assert by_id["ad-delegation-compta"].status.value == "conforme" and by_id["ad-ou-compta"].status.value == "conforme"


class _StallingProxy:
    """127.0.0.1:port -> the DC's port 445; after ``forward`` messages from the grader, forwards nothing more.

    A server that stops answering mid-session (smbprotocol would wait for it without limit).
    """

    def __init__(self, target: str, forward: int):
        self.target, self.forward = target, forward
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection((self.target, 445), timeout=5)
            upstream.settimeout(None)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, self.forward), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, limit: int | None) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                if limit is not None and sent >= limit:
                    continue  # swallowed: the server never sees it, never answers
                dst.sendall(data)
                sent += 1
        except OSError:
            return

    def close(self) -> None:
        for s in [self.server, *self.sockets]:
            try:
                s.close()
            except OSError:
                pass


def test_a_server_that_stops_answering_costs_the_probes_timeout_not_the_run(room):
    """smbprotocol waits without limit: the channel's watchdog closes the session when a probe's time is spent."""
    lab, _ = room
    proxy = _StallingProxy(DC01, forward=3)  # negotiate and the two NTLM legs pass; the first read never returns
    try:
        slow = dataclasses.replace(POLICY_FILES, timeout=2.0)
        other = smb_probes.read_tree("SYSVOL", "*/Policies/*", ["GPT.INI"], timeout=2.0)
        context = _context(lab, "127.0.0.1", smb_probes.SmbOptions(credential="lecteur", port=proxy.port))
        done: list = []
        worker = threading.Thread(target=lambda: done.append(smb.SmbChannel().collect(context, [slow, other])),
                                  daemon=True)
        worker.start()
        worker.join(60)  # liveness, not speed: without the watchdog the collect never returns
    finally:
        proxy.close()
    assert done, "the SMB channel still waits for a server that stopped answering"
    [got] = done
    assert got.results[slow.key].timed_out and not got.complete
    assert got.results[other.key].error == ("session SMB perdue : fermée par le correcteur après le délai de 2 s "
                                            "d'une sonde")


def test_a_server_that_stalls_the_session_set_up_is_injoignable(room):
    lab, _ = room
    proxy = _StallingProxy(DC01, forward=1)  # the negotiate passes, the NTLM legs get no answer
    try:
        context = _context(lab, "127.0.0.1", smb_probes.SmbOptions(credential="lecteur", port=proxy.port))
        context = dataclasses.replace(context, connect_timeout=1.0)
        with pytest.raises(Unreachable, match="n'a pas ouvert la session SMB en 3 s"):
            smb.SmbChannel().collect(context, [POLICY_FILES])
    finally:
        proxy.close()

