"""A verdict's ``observed`` and ``expected`` texts reach an English report in English, French unchanged.

Like the message (tests/test_i18n_checks.py): the store keeps the French texts plus their
references (``results.message_ref``, one JSON key per text); a report in English re-renders them
from the ``checks`` catalogue only when the reference gives back exactly the stored French text.
One linux check (packages) and one network check (vpn.tunnel_up) on captured outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

from checks.linux.packages import PackageInstalled
from checks.network.vpn import VpnTunnelUp
from grader.check import evaluate
from grader.model import Msg, Status, Verdict
from grader.store import Store, message_ref_json
from reports import aggregate
from tests.checks.conftest import load_capture
from tests.test_i18n_checks import _result, alter_store, session_with

VPN = {"interface": "tun0", "status_file": "/run/openvpn-server/status-tssr.log", "peer": "teletravailleur",
       "peer_address": "10.77.1.140", "max_age": 3600}


def _verdicts() -> tuple[Verdict, Verdict]:
    pkg = evaluate(PackageInstalled(), PackageInstalled.Params(package="nginx"),
                   {"pkg": load_capture("dpkg_nginx_unknown.txt")})
    vpn = evaluate(VpnTunnelUp(), VpnTunnelUp.Params(**VPN),
                   {"interfaces": load_capture("vpn_server_ip_addr_c01.txt"),
                    "statut": load_capture("vpn_server_status_v2_c01.txt")})
    return pkg, vpn


def _store(tmp_path: Path) -> tuple[Store, str]:
    pkg, vpn = _verdicts()
    return session_with(tmp_path, [_result("apache", PackageInstalled, {"package": "nginx"}, pkg, "k1"),
                                   _result("vpn", VpnTunnelUp, VPN, vpn, "k2")])


def test_observed_and_expected_given_as_msg_are_french_text_plus_reference() -> None:
    v = Verdict.non_conforme(Msg("paquet inconnu de dpkg"), Msg("{package} installé", package="nginx"), "x")
    assert (v.observed, v.expected) == ("paquet inconnu de dpkg", "nginx installé")
    assert v.observed_ref == Msg("paquet inconnu de dpkg") and v.expected_ref is not None
    assert v == Verdict.non_conforme("paquet inconnu de dpkg", "nginx installé", "x")  # references not compared
    stored = json.loads(message_ref_json(None, v.observed_ref, v.expected_ref) or "{}")
    assert set(stored) == {"observed", "expected"}
    assert message_ref_json(None) is None


def test_english_report_shows_english_observed_and_expected_french_unchanged(tmp_path: Path) -> None:
    pkg, vpn = _verdicts()
    assert pkg.status is Status.NON_CONFORME and vpn.status is Status.CONFORME
    store, run_id = _store(tmp_path)
    fr = aggregate.load_frames(store, run_id).results.set_index("check_id")
    assert (fr.loc["apache", "observed"], fr.loc["apache", "expected"]) == ("paquet inconnu de dpkg", "nginx installé")
    assert fr.loc["vpn", "observed"] == vpn.observed and fr.loc["vpn", "expected"] == vpn.expected
    assert " écrit il y a " in vpn.observed and "(active, 10.77.1.193/27)" in vpn.observed
    assert vpn.expected.startswith("interface tun0 active avec une adresse ; pair « teletravailleur » depuis")

    en = aggregate.load_frames(store, run_id, lang="en").results.set_index("check_id")
    assert en.loc["apache", "observed"] == "package unknown to dpkg"
    assert en.loc["apache", "expected"] == "nginx installed"
    observed = en.loc["vpn", "observed"]
    assert observed.startswith("tun0 (up, 10.77.1.193/27); /run/openvpn-server/status-tssr.log written ")
    assert " ago; clients: teletravailleur from 10.77.1.140" in observed
    assert "écrit" not in observed and "depuis" not in observed
    assert en.loc["vpn", "expected"] == (
        "interface tun0 up with an address; peer \"teletravailleur\" from 10.77.1.140 connected according to "
        "/run/openvpn-server/status-tssr.log (written less than 60 min ago)")


def test_a_stored_observed_text_that_no_longer_matches_its_reference_is_shown_as_stored(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    alter_store(store, "UPDATE results SET observed='autre chose' WHERE check_id='apache'")
    en = aggregate.load_frames(store, run_id, lang="en").results.set_index("check_id")
    # the evidence as stored, never another text; the expected text still matches its reference
    assert (en.loc["apache", "observed"], en.loc["apache", "expected"]) == ("autre chose", "nginx installed")
