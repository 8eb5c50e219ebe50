"""The cli channel: paramiko's client over a real socket to the stand-in devices (tests/cli_standin).

Asserted: one TCP connection, one SSH session and one shell per device, never an exec
(counted on the server side); every probe's output equals the recorded output exactly (echo,
sentinel and prompt removed); forged prompts and forged next-command outputs planted in
banners and configurations stay inside the output they belong to; paging is followed when
``terminal length 0`` is ignored; a command that never returns costs only its own probe;
failures map to ``injoignable`` (no TCP, no SSH) or ``erreur`` (authentication, enable).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import paramiko
import pytest

from grader.errors import CredentialError, HostKeyMismatch, TransportError, Unreachable
from grader.plugins import default_transports
from grader.probes.cli import CliOptions, cli
from grader.rubric import Credential
from grader.transports.base import HostContext
from grader.transports.cli import CliChannel
from tests.cli_standin import FIXTURES, Standin, cisco_router, cisco_switch, pfsense_firewall, recorded, show_vlan_brief

VLAN = cli("show vlan brief")
ROUTE = cli("show ip route")
BRIEF = cli("show ip interface brief")
RUN = cli("show running-config")
CONFIG = cli("/bin/cat /conf/config.xml")


@pytest.fixture
def creds(monkeypatch) -> dict[str, Credential]:
    monkeypatch.setenv("GRADER_TEST_CLI", "Lecture-1")
    monkeypatch.setenv("GRADER_TEST_ENABLE", "Enable-1")
    monkeypatch.setenv("GRADER_TEST_PF", "pfsense")
    monkeypatch.setenv("GRADER_TEST_BAD", "faux")
    return {"lecteur": Credential(username="grader", password_env="GRADER_TEST_CLI"),
            "enable": Credential(username="enable", password_env="GRADER_TEST_ENABLE"),
            "pf": Credential(username="admin", password_env="GRADER_TEST_PF"),
            "faux": Credential(username="grader", password_env="GRADER_TEST_BAD")}


def collect(standin: Standin, creds, probes, *, credential: str = "lecteur", port: int | None = None,
            known_hosts: Path | None = None, **options):
    context = HostContext(name="sw1", address="127.0.0.1", platform="network",
                          port=port if port is not None else standin.port, credential=creds[credential],
                          credentials=creds, options=CliOptions(**options), known_hosts=known_hosts, primary=True)
    return CliChannel().collect(context, probes)


def one_session(standin: Standin) -> bool:
    return (standin.counts["connections"], standin.counts["sessions"], standin.counts["shells"],
            standin.counts["execs"]) == (1, 1, 1, 0)


def test_registered_as_a_transport():
    assert default_transports()["cli"] is CliChannel


def test_one_session_several_commands_exact_outputs(creds):
    with Standin(cisco_switch()) as s:
        got = collect(s, creds, [VLAN, ROUTE, BRIEF, RUN], enable_credential="enable")
        assert one_session(s) and s.counts["ptys"] == 1
    assert got.execs == 1 and got.complete and got.anomalies == []
    assert got.host_key.startswith("ssh-rsa SHA256:") and got.login == "grader (mot de passe) ; 1 connexion SSH, 1 session interactive, 4 commande(s)"
    r = got.results
    assert r[VLAN.key].stdout == show_vlan_brief()
    assert r[ROUTE.key].stdout == recorded(FIXTURES / "cisco" / "cisco_ios_show_ip_route.raw")
    assert r[BRIEF.key].stdout == recorded(FIXTURES / "cisco" / "cisco_ios_show_ip_interface_brief.raw")
    assert r[RUN.key].stdout.startswith("Building configuration...") and "hostname Foo" in r[RUN.key].stdout
    assert all(x.exit_code == 0 and x.ok and x.transport == "cli" for x in r.values())
    # the sentinels: one per command, all different, typed after terminal length 0 and enable
    sentinels = [line for line in s.typed if line.startswith("show grader-")]
    assert len(sentinels) == len(set(sentinels)) == 1 + 1 + 1 + 4  # prompt, enable, terminal length, 4 probes
    assert s.typed[s.typed.index("terminal length 0") - 1].startswith("show grader-")


def test_user_mode_without_enable_and_a_refused_command(creds):
    with Standin(cisco_switch()) as s:
        got = collect(s, creds, [RUN, VLAN, cli("show nonsense")])
    assert "enable" not in s.typed
    run, vlan, nonsense = (got.results[p.key] for p in (RUN, VLAN, cli("show nonsense")))
    assert run.exit_code == 1 and "% Invalid input detected at '^' marker." in run.stdout
    assert nonsense.exit_code == 1 and vlan.exit_code == 0 and vlan.stdout == show_vlan_brief()


def test_wrong_enable_secret_is_erreur(creds):
    with Standin(cisco_switch(enable_secret="autre")) as s, pytest.raises(TransportError, match="enable") as info:
        collect(s, creds, [RUN], enable_credential="enable")
    assert not isinstance(info.value, Unreachable)


def test_enable_credential_must_exist(creds):
    with Standin(cisco_switch()) as s, pytest.raises(CredentialError):
        collect(s, creds, [RUN], enable_credential="absent")


def test_paging_followed_when_terminal_length_is_ignored(creds):
    with Standin(cisco_switch(honours_terminal_length=False, page_lines=10)) as s:
        got = collect(s, creds, [ROUTE, VLAN, RUN], enable_credential="enable")
    assert got.results[ROUTE.key].stdout == recorded(FIXTURES / "cisco" / "cisco_ios_show_ip_route.raw")
    assert got.results[VLAN.key].stdout == show_vlan_brief()
    expected_run = s.device.privileged["show running-config"]
    assert got.results[RUN.key].stdout == expected_run
    assert any("pagination --More-- suivie" in a for a in got.anomalies)
    assert "--More--" not in got.results[RUN.key].stdout and "\x08" not in got.results[RUN.key].stdout


FAKE_VLANS = """VLAN Name                             Status    Ports
---- -------------------------------- --------- -------------------------------
1    default                          active
10   Compta                           active    Fa0/1, Fa0/2
"""


def forged_config() -> str:
    """sample_04's running-config whose login banner forges a prompt and a whole fake next command."""
    text = cisco_switch().privileged["show running-config"]
    forged = "SW1#\nSW1#show vlan brief\n" + FAKE_VLANS + "SW1#"
    return text.replace("This is a private computer system", forged + "\nThis is a private computer system")


def test_forged_prompt_in_output_does_not_end_the_command(creds):
    # The device stalls right after the forged "SW1#" line: the channel sees it at the end of
    # what it has read and types its sentinel early; the sentinel's echo still comes last.
    device = cisco_switch(stall_on="SW1#", banner="Acces reserve\nSW1#\nSW1#show vlan brief\n" + FAKE_VLANS + "SW1>")
    device.privileged["show running-config"] = forged_config()
    with Standin(device) as s:
        got = collect(s, creds, [RUN, VLAN], enable_credential="enable")
    assert device.typed_ahead >= 1  # the channel did take the forged line for a prompt and typed its sentinel
    assert got.results[RUN.key].stdout == forged_config()
    assert got.results[VLAN.key].stdout == show_vlan_brief()
    assert "Compta" not in got.results[VLAN.key].stdout


def test_forged_prompt_and_a_pager_eating_the_sentinel_is_a_timeout_not_a_result(creds):
    # terminal length 0 ignored: the early sentinel is typed while the device pages, its pager
    # takes the first key and aborts the output. The end never comes: erreur, never a cut output.
    device = cisco_switch(stall_on="SW1#", honours_terminal_length=False, page_lines=260)  # pages after it
    device.privileged["show running-config"] = forged_config()
    run = cli("show running-config", timeout=2.0)
    with Standin(device) as s:
        got = collect(s, creds, [run, VLAN], enable_credential="enable")
    assert device.typed_ahead >= 1
    assert got.results[run.key].timed_out and not got.results[run.key].ok
    assert got.results[VLAN.key].stdout == show_vlan_brief()


def test_shell_output_is_never_taken_for_a_pager(creds):
    device = pfsense_firewall()
    xml = device.files["/conf/config.xml"].replace("<descr><![CDATA[", "<descr><![CDATA[voir la suite --More--", 1)
    device.files["/conf/config.xml"] = xml
    device.stall_on = "voir la suite --More--"
    with Standin(device) as s:
        got = collect(s, creds, [CONFIG], credential="pf", dialect="shell", menu="8")
    assert got.results[CONFIG.key].stdout == xml and got.anomalies == []


def test_forged_sentinel_lookalikes_do_not_help(creds):
    # A candidate can guess the shape of a sentinel, never its token.
    device = cisco_switch()
    device.outputs["show ip route"] = "SW1#show grader-0123456789abcdef\nSW1#show vlan brief\n" + FAKE_VLANS
    with Standin(device) as s:
        got = collect(s, creds, [ROUTE, VLAN])
    assert got.results[ROUTE.key].stdout == device.outputs["show ip route"]
    assert got.results[VLAN.key].stdout == show_vlan_brief()


def test_command_that_never_returns_costs_only_its_probe(creds):
    hang = cli("show tech-support", timeout=1.0)
    with Standin(cisco_switch(hangs={"show tech-support"})) as s:
        got = collect(s, creds, [VLAN, hang, ROUTE])
        assert one_session(s)
    assert got.results[hang.key].timed_out and not got.results[hang.key].ok
    assert got.results[VLAN.key].stdout == show_vlan_brief()
    assert got.results[ROUTE.key].stdout == recorded(FIXTURES / "cisco" / "cisco_ios_show_ip_route.raw")


def test_authentication_refused_is_erreur_not_injoignable(creds):
    with Standin(cisco_switch()) as s, pytest.raises(TransportError, match="authentification SSH refusée") as info:
        collect(s, creds, [VLAN], credential="faux")
    assert not isinstance(info.value, Unreachable)


def test_port_closed_is_injoignable(creds):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with Standin(cisco_switch()) as s, pytest.raises(Unreachable, match="refuse la connexion"):
        collect(s, creds, [VLAN], port=port)


def test_changed_host_key_is_refused(creds, tmp_path):
    known = tmp_path / "known_hosts"
    with Standin(cisco_switch()) as s:
        other = paramiko.RSAKey.generate(1024)
        known.write_text(f"[127.0.0.1]:{s.port} ssh-rsa {other.get_base64()}\n")
        with pytest.raises(HostKeyMismatch):
            collect(s, creds, [VLAN], known_hosts=known)
        assert s.counts["shells"] == 0


def test_no_prompt_is_erreur(creds):
    # a shell device driven as IOS: no NAME> prompt ever answers
    with Standin(pfsense_firewall()) as s, pytest.raises(TransportError) as info:
        collect(s, creds, [VLAN], credential="pf", login_timeout=2)
    assert not isinstance(info.value, Unreachable)


# --- pfSense: console menu, option 8, a shell --------------------------------------------


def test_pfsense_menu_then_shell_reads_config_exactly(creds):
    with Standin(pfsense_firewall()) as s:
        got = collect(s, creds, [CONFIG, cli("/bin/cat /nope")], credential="pf", dialect="shell", menu="8")
        assert one_session(s)
    assert s.typed[0] == "8"
    xml = (FIXTURES / "pfsense" / "pfsensible-nat-port-forward.xml").read_text(encoding="utf-8")
    assert got.results[CONFIG.key].stdout == xml
    assert got.results[cli("/bin/cat /nope").key].stdout == "cat: /nope: No such file or directory\n"
    markers = [line for line in s.typed if line.startswith("echo GRADER")]
    assert len(markers) == len(set(markers)) == 3


def test_pfsense_shell_that_discards_typeahead_gets_a_new_sentinel(creds):
    with Standin(pfsense_firewall(flushes_typeahead=True)) as s:
        got = collect(s, creds, [CONFIG], credential="pf", dialect="shell", menu="8")
        assert one_session(s)
    assert got.results[CONFIG.key].stdout.startswith("<!-- origin: pfsensible/core")
    assert len([line for line in s.typed if line.startswith("echo GRADER")]) == 3  # 2 at login, 1 for the probe


def test_pfsense_forged_prompt_and_marker_in_config(creds):
    device = pfsense_firewall()
    prompt = device.prompt
    xml = device.files["/conf/config.xml"].replace(
        "<descr><![CDATA[", "<descr><![CDATA[\n" + prompt + "echo GRADER0011''2233\nGRADER00112233\n" + prompt, 1)
    device.files["/conf/config.xml"] = xml
    device.stall_on = prompt
    with Standin(device) as s:
        got = collect(s, creds, [CONFIG, cli("/bin/cat /nope")], credential="pf", dialect="shell", menu="8")
    assert got.results[CONFIG.key].stdout == xml
    assert got.results[cli("/bin/cat /nope").key].stdout == "cat: /nope: No such file or directory\n"


def test_pfsense_command_that_never_returns(creds):
    hang = cli("/usr/local/sbin/pftop", timeout=1.0)
    with Standin(pfsense_firewall(hangs={"/usr/local/sbin/pftop"})) as s:
        got = collect(s, creds, [hang, CONFIG], credential="pf", dialect="shell", menu="8")
    assert got.results[hang.key].timed_out
    assert got.results[CONFIG.key].stdout.startswith("<!-- origin: pfsensible/core")
    assert got.results[CONFIG.key].ok


def test_menu_that_never_shows_is_erreur(creds):
    with Standin(cisco_switch()) as s, pytest.raises(TransportError, match="menu"):
        collect(s, creds, [VLAN], menu="8", login_timeout=1.5)


def test_secret_never_in_results(creds):
    with Standin(cisco_router()) as s:
        got = collect(s, creds, [RUN, VLAN], enable_credential="enable")
    text = repr(got)
    assert "Enable-1" not in text and "Lecture-1" not in text
    assert re.search(r"ip nat inside source list NAT-LAN interface GigabitEthernet0/0 overload",
                     got.results[RUN.key].stdout)


def test_rubric_validates_cli_options(tmp_path):
    from grader.errors import RubricError
    from grader.rubric import load_rubric

    path = tmp_path / "bareme.yaml"
    path.write_text("""rubric: r
title: t
credentials:
  lecteur: {username: grader, password_env: X}
hosts:
  - {name: sw1, role: commutateur, platform: network, address: 10.0.0.1, transport: cli, credential: lecteur,
     options: {cli: {dialect: junos, enable_credential: enable}}}
  - {name: sw2, role: commutateur, platform: network, address: 10.0.0.2, transport: cli}
  - {name: sw3, role: commutateur, platform: network, address: 10.0.0.3, transport: cli, credential: lecteur,
     options: {cli: {enable_credential: absent}}}
checks:
  - {id: vlans, check: network.ios_vlans, role: commutateur, criterion: CP5.1, params: {vlans: {10: null}}}
""", encoding="utf-8")
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    text = "\n".join(info.value.problems)
    assert "bareme.yaml:7:" in text and "dialect" in text  # located at the host's options
    assert "sw2" in text  # a cli host needs a credential
    assert "bareme.yaml:10:" in text and "absent" in text  # the enable secret's credential must be declared
