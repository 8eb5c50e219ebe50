"""Judges of voip.* on registrar outputs: a real Kamailio capture, Asterisk's published formats, and SIP records.

The captures and where each comes from are in data/voip_*.txt (``# origin:``); the checks are graded
against a real Kamailio and real baresip phones in tests/test_voip_lab.py, and the sip channel's
records are made by tests/test_sip_channel.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from checks.network.voip import (
    ExtensionRegistered,
    SipOptions,
    parse_pjsip_contacts,
    parse_sip_peers,
    parse_ul_dump,
)
from grader.check import evaluate
from grader.model import ProbeResult, Status
from tests.checks.conftest import load_capture


def registered(capture: str, **params: Any):
    p = ExtensionRegistered.Params(**params)
    return evaluate(ExtensionRegistered(), p, {"registrations": load_capture(capture)})


# --- Kamailio (real capture) ----------------------------------------------------------------------

def test_kamailio_capture_parses_both_forms_alike():
    text = parse_ul_dump(load_capture("voip_kamcmd_ul_dump.txt").stdout)
    as_json = parse_ul_dump(load_capture("voip_kamctl_ul_show.txt").stdout)
    assert [(c.extension, c.address, c.live) for c in text] == [("102", "10.77.45.11", True),
                                                                  ("101", "10.77.45.11", True)]
    assert [(c.extension, c.address, c.uri) for c in as_json] == [(c.extension, c.address, c.uri) for c in text]
    assert text[0].user_agent == "baresip v1.0.0 (x86_64/linux)" and text[0].source == "uri"


def test_extension_registered_from_the_expected_phone_is_conforme():
    v = registered("voip_kamcmd_ul_dump.txt", extension="101", address="10.77.45.11", registrar="kamailio")
    assert v.status is Status.CONFORME, v
    assert "10.77.45.11" in v.observed and "expire dans 120 s" in v.observed


def test_extension_registered_from_another_address_is_non_conforme():
    """The case a configuration reader misses: 102 exists and is registered, but by the wrong phone."""
    v = registered("voip_kamcmd_ul_dump.txt", extension="102", address="10.77.45.12", registrar="kamailio")
    assert v.status is Status.NON_CONFORME, v
    assert "depuis 10.77.45.11" in v.message and "(10.77.45.12)" in v.message


def test_unknown_extension_is_non_conforme_and_any_address_conforme():
    assert registered("voip_kamctl_ul_show.txt", extension="103", registrar="kamailio").status is Status.NON_CONFORME
    assert registered("voip_kamctl_ul_show.txt", extension="102", registrar="kamailio").status is Status.CONFORME


def test_kamailio_received_wins_over_the_contact_uri_and_expired_is_not_counted():
    contacts = {c.extension: c for c in parse_ul_dump(load_capture("voip_kamcmd_ul_dump_edited.txt").stdout)}
    assert (contacts["102"].address, contacts["102"].source) == ("10.77.45.31", "received")
    assert not contacts["101"].live
    v = registered("voip_kamcmd_ul_dump_edited.txt", extension="102", address="10.77.45.11", registrar="kamailio")
    assert v.status is Status.NON_CONFORME and "10.77.45.31" in v.message, v  # the URI claims .11; the packet came from .31
    v = registered("voip_kamcmd_ul_dump_edited.txt", extension="101", address="10.77.45.11", registrar="kamailio")
    assert v.status is Status.NON_CONFORME and "expiré" in v.message, v


# --- Asterisk (published formats) ------------------------------------------------------------------

def test_pjsip_contacts_parsed():
    contacts = parse_pjsip_contacts(load_capture("voip_pjsip_show_contacts.txt").stdout)
    assert [(c.extension, c.address, c.live) for c in contacts] == [
        ("101", "10.77.1.11", True), ("102", "10.77.1.31", True), ("103", "10.77.1.13", False),
        ("104", "10.77.1.14", True)]
    assert parse_pjsip_contacts("No objects found.\n\n") == []
    with pytest.raises(ValueError):
        parse_pjsip_contacts("No such command 'pjsip show contacts' (type 'core show help pjsip show' for other "
                             "possible commands)\n")


@pytest.mark.parametrize(("extension", "address", "status"), [
    ("101", "10.77.1.11", Status.CONFORME),
    ("102", "10.77.1.12", Status.NON_CONFORME),  # registered from .31
    ("103", "10.77.1.13", Status.NON_CONFORME),  # Unavail: the registrar's qualify gets no answer
    ("104", "10.77.1.14", Status.CONFORME),  # NonQual: registered, never qualified
    ("110", None, Status.NON_CONFORME),
])
def test_pjsip_judged(extension, address, status):
    v = registered("voip_pjsip_show_contacts.txt", extension=extension, address=address)
    assert v.status is status, v


def test_sip_peers_parsed_and_judged():
    peers = {c.extension: c for c in parse_sip_peers(load_capture("voip_sip_show_peers.txt").stdout)}
    assert peers["101"].address == "10.77.1.11" and peers["101"].status == "OK (4 ms)" and peers["101"].live
    assert not peers["103"].live and peers["103"].address == ""  # (Unspecified): never registered
    assert not peers["104"].live and peers["105"].live  # UNREACHABLE / Unmonitored
    for extension, address, status in (("101", "10.77.1.11", Status.CONFORME), ("102", "10.77.1.12", Status.NON_CONFORME),
                                       ("103", None, Status.NON_CONFORME), ("105", "10.77.1.15", Status.CONFORME)):
        v = registered("voip_sip_show_peers.txt", extension=extension, address=address, registrar="chan_sip")
        assert v.status is status, (extension, v)


def test_kamailio_rpc_error_is_erreur_not_non_conforme():
    p = ExtensionRegistered.Params(extension="101", registrar="kamailio")
    for stdout in ('{"jsonrpc": "2.0", "error": {"code": 500, "message": "command ul.dump not found"}, "id": 1}',
                   "error: 500 - command ul.dump not found\n"):
        r = ProbeResult(key="k", transport="ssh", command="", exit_code=0, stdout=stdout)
        assert evaluate(ExtensionRegistered(), p, {"registrations": r}).status is Status.ERREUR, stdout


def test_asterisk_not_reachable_is_erreur_not_non_conforme():
    p = ExtensionRegistered.Params(extension="101")
    r = ProbeResult(key="k", transport="ssh", command="", exit_code=1,
                    stdout="Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)\n")
    assert evaluate(ExtensionRegistered(), p, {"registrations": r}).status is Status.ERREUR


def test_bad_extension_refused_when_the_rubric_loads():
    with pytest.raises(ValueError):
        ExtensionRegistered.Params(extension="101; reboot")


# --- SIP OPTIONS ------------------------------------------------------------------------------------

def options_result(status: int | None = 200, reason: str = "OK", *, exit_code: int | None = 0, **extra: Any):
    record: dict[str, Any] = {"peer": "192.168.10.5:5060", "transport": "udp", "ignored": 0, "provisional": []}
    if status is not None:
        record.update({"status": status, "reason": reason, "rtt_ms": 1.25, "server": None, "user_agent": None, **extra})
    return ProbeResult(key="k", transport="sip", command="{}", stdout=json.dumps(record), exit_code=exit_code)


def options(result: ProbeResult, **params: Any):
    return evaluate(SipOptions(), SipOptions.Params(**params), {"options": result})


def test_options_200_is_conforme_and_names_the_server():
    v = options(options_result(server="Asterisk PBX 18.9.0", ignored=2))
    assert v.status is Status.CONFORME
    assert "Asterisk PBX 18.9.0" in v.observed and "1.25 ms" in v.observed and "2 message(s)" in v.observed
    v = options(options_result(user_agent="FPBX-16.0.40(18.9.0)"), server_contains="fpbx")
    assert v.status is Status.CONFORME and "User-Agent" in v.observed


def test_options_other_answers_and_wrong_server_are_non_conforme():
    assert options(options_result(404, "Not Found")).status is Status.NON_CONFORME
    v = options(options_result(server="kamailio (5.6.3 (x86_64/linux))"), server_contains="Asterisk")
    assert v.status is Status.NON_CONFORME


def test_options_refused_is_non_conforme_silence_is_erreur():
    refused = ProbeResult(key="k", transport="sip", command="{}", exit_code=-1,
                          stderr="192.168.10.5:5060 (udp) : refusé (Connection refused) : aucun service SIP n'écoute")
    assert options(refused).status is Status.NON_CONFORME
    silent = ProbeResult(key="k", transport="sip", command="{}", timed_out=True)
    assert options(silent).status is Status.ERREUR
