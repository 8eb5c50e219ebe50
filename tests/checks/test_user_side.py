"""Judges of ad.user_can_logon and smb.access_as, and their channels' failures without a server.

The outputs are in the ``kdc`` and ``smb_as`` channels' own format, with the values the lab's
Samba 4.17 DC gave (tests/test_user_side_lab.py grades the same cases against the real server).
"""

from __future__ import annotations

import base64
import json
import socket

import pytest
from pydantic import ValidationError

from checks.windows.ad.logon import UserCanLogon
from checks.windows.ad.share_access import ShareAccessAs
from grader.check import evaluate
from grader.errors import Unreachable
from grader.model import ProbeResult, Status
from grader.probes.kdc import KdcOptions, as_exchange
from grader.probes.smb_as import SmbAsOptions, access_as
from grader.rubric import Credential
from grader.transports import kerberos
from grader.transports.base import HostContext
from grader.transports.kdc import KdcChannel, krb5_number
from grader.transports.smb_as import SmbAsChannel

C, N, E = Status.CONFORME, Status.NON_CONFORME, Status.ERREUR


def _kdc(body: dict) -> ProbeResult:
    probe = as_exchange("alice")
    return ProbeResult(key=probe.key, transport="kdc", command=probe.command, exit_code=0 if body["ticket"] else 1,
                       stdout=json.dumps({"principal": "alice@TSSR.LAN", "kdc": "10.77.13.20", **body}))


def _logon(body: dict):
    check = UserCanLogon()
    params = UserCanLogon.Params(credential="alice")
    return evaluate(check, params, {"logon": _kdc(body)})


def test_a_ticket_whose_answer_decrypted_is_conforme():
    verdict = _logon({"ticket": True, "lifetime": 36000})
    assert verdict.status is C and "déchiffrée avec le mot de passe" in verdict.observed


@pytest.mark.parametrize(("code", "meaning"), [
    ("KDC_ERR_CLIENT_REVOKED", "désactivé ou verrouillé"),
    ("KDC_ERR_PREAUTH_FAILED", "mot de passe refusé"),
    ("KRB_AP_ERR_BAD_INTEGRITY", "ne se déchiffre pas"),
    ("KDC_ERR_C_PRINCIPAL_UNKNOWN", "compte inconnu"),
    ("KDC_ERR_KEY_EXPIRED", "expiré"),
])
def test_each_refusal_of_the_kdc_is_non_conforme_with_its_reason(code, meaning):
    verdict = _logon({"ticket": False, "code": code, "number": 18, "detail": "Client's credentials have been revoked"})
    assert verdict.status is N and meaning in verdict.message and code in verdict.observed


def test_an_output_that_is_not_the_channels_is_erreur():
    result = ProbeResult(key="k", transport="kdc", command="{}", stdout='{"ticket": "yes"}', exit_code=0)
    assert evaluate(UserCanLogon(), UserCanLogon.Params(credential="a"), {"logon": result}).status is E


def test_the_probe_names_the_credential_never_the_password():
    probe = as_exchange("alice")
    assert probe.secret == "alice" and probe.active and json.loads(probe.command) == {"as_req": "alice"}
    assert probe.key != as_exchange("bob").key


def test_gss_minor_codes_map_to_protocol_numbers():
    assert krb5_number(2529638930) == 18  # as gssapi gave it (unsigned) for a disabled account
    assert krb5_number(2529638936) == 24 and krb5_number(2529639068) == 156
    assert krb5_number(-1765328378) == 6


def _context(options, **cred) -> HostContext:
    creds = {"alice": Credential(username="alice@tssr.lan", password_env="GRADER_TEST_USERSIDE_PW", **cred)}
    return HostContext(name="dc", address="127.0.0.1", platform="windows", port=None, credential=None,
                       credentials=creds, options=options, connect_timeout=1.0)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_kdc_that_refuses_the_connection_is_unreachable(monkeypatch):
    if kerberos.available():
        pytest.skip(kerberos.available())
    monkeypatch.setenv("GRADER_TEST_USERSIDE_PW", "x")
    with pytest.raises(Unreachable, match="KDC 127.0.0.1:.* injoignable"):
        KdcChannel().collect(_context(KdcOptions(port=_closed_port())), [as_exchange("alice")])


def test_an_undeclared_credential_is_that_probes_error(monkeypatch):
    got = KdcChannel().collect(_context(KdcOptions(port=_closed_port())), [as_exchange("personne")])
    [result] = got.results.values()
    assert "non déclarés" in result.error and not result.ok


def test_a_file_server_that_refuses_the_connection_is_unreachable_never_refused(monkeypatch):
    monkeypatch.setenv("GRADER_TEST_USERSIDE_PW", "x")
    with pytest.raises(Unreachable):
        SmbAsChannel().collect(_context(SmbAsOptions(port=_closed_port())), [access_as("alice", "compta")])


# --- smb.access_as ---------------------------------------------------------------------------------


def _smb(user: str, session: dict, listed: dict | None = None, read: dict | None = None) -> ProbeResult:
    body = {"user": user, "share": "compta", "session": session}
    if listed is not None:
        body["list"] = listed
    if read is not None:
        body["read"] = read
    return ProbeResult(key=user, transport="smb_as", command="{}", stdout=json.dumps(body), exit_code=0)


OK = {"ok": True}
LISTED = {"ok": True, "names": ["lisezmoi.txt"], "count": 1}
READ = {"ok": True, "bytes": 12, "base64": base64.b64encode(b"Budget 2026\n").decode()}
DENIED = {"ok": False, "status": "STATUS_ACCESS_DENIED"}


def _share(results: dict[str, ProbeResult], **params):
    p = ShareAccessAs.Params(share="compta", file="lisezmoi.txt", **params)
    return evaluate(ShareAccessAs(), p, results)


def test_allowed_reads_and_denied_refused_is_conforme():
    verdict = _share({"allowed:alice": _smb("alice", OK, LISTED, READ), "denied:bob": _smb("bob", OK, DENIED, DENIED)},
                     allowed_credentials=["alice"], denied_credentials=["bob"])
    assert verdict.status is C and "Budget 2026" in verdict.observed and "STATUS_ACCESS_DENIED" in verdict.observed


def test_a_file_the_allowed_user_cannot_read_is_non_conforme_though_the_share_lists():
    verdict = _share({"allowed:alice": _smb("alice", OK, LISTED, DENIED)}, allowed_credentials=["alice"])
    assert verdict.status is N and "lecture refusée" in verdict.message


def test_a_denied_user_who_reads_is_non_conforme():
    verdict = _share({"denied:bob": _smb("bob", OK, LISTED, READ)}, denied_credentials=["bob"])
    assert verdict.status is N and "accède au partage" in verdict.message


def test_a_denied_user_whose_logon_fails_proves_nothing():
    verdict = _share({"denied:bob": _smb("bob", {"ok": False, "status": "STATUS_LOGON_FAILURE"})}, denied_credentials=["bob"])
    assert verdict.status is E and "pas prouvé" in verdict.message


def test_an_allowed_user_whose_logon_fails_is_non_conforme_and_wins_over_an_unproved_refusal():
    verdict = _share({"allowed:alice": _smb("alice", {"ok": False, "status": "STATUS_ACCOUNT_DISABLED"}),
                      "denied:bob": _smb("bob", {"ok": False, "status": "STATUS_LOGON_FAILURE"})},
                     allowed_credentials=["alice"], denied_credentials=["bob"])
    assert verdict.status is N and "STATUS_ACCOUNT_DISABLED" in verdict.message


def test_an_absent_share_is_non_conforme_and_an_absent_file_is_no_refusal():
    verdict = _share({"allowed:alice": _smb("alice", OK, {"ok": False, "status": "STATUS_NOT_FOUND"})},
                     allowed_credentials=["alice"])
    assert verdict.status is N and "n'existe pas" in verdict.message
    missing = {"ok": False, "status": "STATUS_OBJECT_NAME_NOT_FOUND"}
    verdict = _share({"denied:bob": _smb("bob", OK, {"ok": False, "status": "STATUS_ACCESS_DENIED"}, missing)},
                     denied_credentials=["bob"])
    assert verdict.status is C  # refused at the share: the file's absence adds nothing
    verdict = _share({"denied:bob": _smb("bob", OK, {"ok": False, "status": "0xC0000001"}, missing)},
                     denied_credentials=["bob"])
    assert verdict.status is E


def test_params_need_someone_and_no_one_twice():
    with pytest.raises(ValidationError, match="au moins un compte"):
        ShareAccessAs.Params(share="compta")
    with pytest.raises(ValidationError, match="à la fois"):
        ShareAccessAs.Params(share="compta", allowed_credentials=["a"], denied_credentials=["a"])
    probes = ShareAccessAs().probes(ShareAccessAs.Params(share="compta", allowed_credentials=["a"], denied_credentials=["b"]))
    assert {p.secret for p in probes.values()} == {"a", "b"} and all(p.transport == "smb_as" for p in probes.values())
    assert ShareAccessAs.sentence(ShareAccessAs.Params(share="compta", allowed_credentials=["a"])) == \
        "Le partage compta est lisible par a et refusé à —."
