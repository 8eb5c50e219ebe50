"""The last French words of the linux and network packs' verdicts reach an English report in English.

tests/test_i18n_observed.py covers the texts 9721ca1 converted; these are the ones it left as
plain text: the « (+N autre(s)) » of a long list (cron's matched entries), a pfSense rule whose
destination is « tout » or « non … », why a parser refused an output (our parsers raise their
``ValueError`` with a :class:`Msg`), the French quotes around a VLAN name or an SNMP value, and
the snmp channel's words for a silent agent. French stays byte-identical; candidate data
(the garbage line quoted in a parser's reason) stays as it was read.
"""

from __future__ import annotations

from pathlib import Path

from checks.linux.cron import CronEntryExists
from checks.linux.ports import PortListening
from checks.network.pfsense_checks import PfPortForward
from checks.network.snmp import SnmpAgent, SnmpVlans
from grader.check import evaluate
from grader.model import Msg, ProbeResult, Status, Verdict
from grader.store import Store
from grader.transports import snmp as snmp_channel
from reports import aggregate
from tests.checks.conftest import load_capture
from tests.checks.test_network_pfsense_checks import XML
from tests.test_i18n_checks import _result, alter_store, session_with

CRON = {"pattern": "sauvegarde", "user": "root"}
PORT = {"port": 80}
FORWARD = {"port": 22022, "target": "10.255.1.20", "local_port": 22}
AGENT = {"sys_location": "Salle B12"}
VLANS = {"vlans": {1: "default", 20: "VOIP", 10: "SERVEURS"}}
# What the snmp channel writes in the probe's stderr for a silent agent (its own words, by reference).
SILENCE = snmp_channel.silent_agent("10.77.2.10:161/udp", Msg("communauté « {label} » (SNMPv2c)",
                                                               label=Msg("identifiants de l'hôte")), 2, 1)


def _cron_dump(entries: int) -> str:
    """A Debian dump whose /etc/cron.d/sauvegarde holds ``entries`` valid lines (too many to list them all)."""
    lines = "".join(f"|{n} 2 * * * root /usr/local/bin/sauvegarde.sh --volume /srv/partage-{n:02d}\n"
                    for n in range(entries))
    return (":: family debian\n==> /etc/cron.d/sauvegarde\n:: lstat root 644 regular file\n"
            f":: stat root 644 regular file\n{lines}\n:: end 0\n")


def _out(transport: str, stdout: str = "", stderr: str | Msg = "", exit_code: int = 0) -> ProbeResult:
    return ProbeResult("k", transport, "x", stdout=stdout, stderr=stderr, exit_code=exit_code)


def _verdicts() -> dict[str, Verdict]:
    any_destination = XML.replace("<network>wanip</network>", "<any/>")
    return {
        "cron": evaluate(CronEntryExists(), CronEntryExists.Params(**CRON),
                         {"crontabs": _out("ssh", _cron_dump(12))}),
        "ss": evaluate(PortListening(), PortListening.Params(**PORT),
                       {"ss": _out("ssh", "Bienvenue sur le serveur du candidat !\n")}),
        "forward": evaluate(PfPortForward(), PfPortForward.Params(**FORWARD),
                            {"config": _out("cli", any_destination)}),
        "agent": evaluate(SnmpAgent(), SnmpAgent.Params(**AGENT),
                          {"system": _out("snmp", stderr=SILENCE, exit_code=1)}),
        "vlans": evaluate(SnmpVlans(), SnmpVlans.Params(**VLANS), {"vlans": load_capture("snmp_procurve_vlans.txt")}),
    }


def _store(tmp_path: Path) -> tuple[Store, str]:
    v = _verdicts()
    return session_with(tmp_path, [_result("cron", CronEntryExists, CRON, v["cron"], "k1"),
                                   _result("ss", PortListening, PORT, v["ss"], "k2"),
                                   _result("forward", PfPortForward, FORWARD, v["forward"], "k3"),
                                   _result("agent", SnmpAgent, AGENT, v["agent"], "k4"),
                                   _result("vlans", SnmpVlans, VLANS, v["vlans"], "k5")])


def test_the_french_texts_are_those_the_checks_always_wrote() -> None:
    v = _verdicts()
    assert v["cron"].status is Status.CONFORME and v["cron"].observed.endswith(" ; (+8 autre(s))")
    assert v["ss"].message == ("sortie de ss illisible : ligne de ss illisible : "
                               "'Bienvenue sur le serveur du candidat !'")
    assert v["forward"].observed == "wan tcp tout port 22022 → 10.255.1.20:22"
    assert (v["agent"].status, v["agent"].observed) == (Status.NON_CONFORME, (
        "l'agent SNMP de 10.77.2.10:161/udp ne répond pas (communauté « identifiants de l'hôte » (SNMPv2c) ; "
        "délai 2 s, 1 nouvel(s) essai(s))"))
    assert v["agent"].expected == "réponse de l'agent, sysLocation = « Salle B12 »"
    assert v["vlans"].expected == "1 « default », 10 « SERVEURS », 20 « VOIP »"
    assert v["vlans"].observed.startswith("1 « default » ; 2 « <private> » ; ")
    assert v["ss"].message_ref is not None and v["ss"].observed_ref is None  # the output itself: data
    assert all(x.observed_ref is not None for k, x in v.items() if k != "ss")


def test_english_report_says_them_in_english_french_unchanged(tmp_path: Path) -> None:
    v = _verdicts()
    store, run_id = _store(tmp_path)
    fr = aggregate.load_frames(store, run_id).results.set_index("check_id")
    for check_id, verdict in v.items():
        assert tuple(fr.loc[check_id, ["observed", "expected", "message"]]) == (
            verdict.observed, verdict.expected, verdict.message)

    en = aggregate.load_frames(store, run_id, lang="en").results.set_index("check_id")
    cron = en.loc["cron", "observed"]
    assert cron.startswith("/etc/cron.d/sauvegarde:1 [root] 0 2 * * * /usr/local/bin/sauvegarde.sh --volume ")
    assert cron.endswith("; (+8 more)") and " ; " not in cron
    assert en.loc["ss", "message"] == (
        "unreadable ss output: unreadable ss line: 'Bienvenue sur le serveur du candidat !'")  # the line: as read
    assert en.loc["forward", "observed"] == "wan tcp any port 22022 → 10.255.1.20:22"
    assert en.loc["agent", "observed"] == ("the SNMP agent of 10.77.2.10:161/udp does not answer (community \"the "
                                           "host's credentials\" (SNMPv2c); timeout 2 s, 1 retry(ies))")
    assert en.loc["agent", "expected"] == "answer from the agent, sysLocation = \"Salle B12\""
    assert en.loc["vlans", "expected"] == "1 \"default\", 10 \"SERVEURS\", 20 \"VOIP\""
    assert en.loc["vlans", "observed"].startswith("1 \"default\"; 2 \"<private>\"; ")
    assert "«" not in en.loc["vlans", "observed"]


def test_a_text_that_no_longer_matches_its_reference_and_a_plain_text_are_shown_as_stored(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    alter_store(store, "UPDATE results SET observed='autre chose' WHERE check_id='forward'")
    en = aggregate.load_frames(store, run_id, lang="en").results.set_index("check_id")
    assert en.loc["forward", "observed"] == "autre chose"  # the evidence as stored, never another text
    assert en.loc["forward", "expected"] == "wan tcp/22022 → 10.255.1.20:22"  # no words: plain all along
    # the same words without their reference (a store or channel from before) stay as read
    short = str(SILENCE)
    v = evaluate(SnmpAgent(), SnmpAgent.Params(**AGENT), {"system": _out("snmp", stderr=short, exit_code=1)})
    assert v.observed == short and v.observed_ref is None
