"""Rubric validation: every problem of a rubric at once, each ``file:line:col: what — how to fix``.

Expected lines and columns are computed from the fixture's text (never hard-coded), so
editing the fixture's comments or the demo rubric it copies does not break the tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from grader.errors import RubricError
from grader.plugins import default_catalogue
from grader.referential import load_referential
from grader.rubric import load_rubric
from grader.schema import rubric_json_schema

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "rubrics" / "demo.yaml"
FIXTURES = Path(__file__).parent / "fixtures" / "rubrics"
FIVE_MISTAKES = FIXTURES / "five-mistakes.yaml"

PROBLEM = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<what>.+?) — (?P<how>.+)$", re.DOTALL)


def parse(problem: str) -> dict[str, str]:
    m = PROBLEM.match(problem)
    assert m, f"not shaped « file:line:col: what — how to fix »: {problem!r}"
    return m.groupdict()


def locate(text: str, needle: str, key: str, nth: int = 1) -> tuple[int, int]:
    """(line, column), 1-based, of ``key`` on the nth line containing ``needle``."""
    hits = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} occurs {len(hits)} time(s) in the fixture"
    n, line = hits[nth - 1]
    assert key in line, f"{key!r} not on line {n}: {line!r}"
    return n, line.index(key) + 1


def problems_of(path: Path) -> list[str]:
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    problems = info.value.problems
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    assert str(info.value) == "\n".join(problems)
    return problems


def demo_variant(tmp_path: Path, old: str, new: str, name: str = "variant.yaml") -> Path:
    """A copy of the demo rubric with exactly one replacement (asserted to have happened)."""
    text = DEMO.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the demo rubric changed: {old!r} is no longer there exactly once"
    path = tmp_path / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


# --- a valid rubric ---------------------------------------------------------------------


def test_demo_rubric_loads() -> None:
    rubric = load_rubric(DEMO)
    assert rubric.rubric == "demo-srv-lin"
    assert [h.name for h in rubric.hosts] == ["srv-lin", "dc", "routeur", "pc-lan", "srv-wan", "hyperviseur", "vm-web",
                                              "zabbix", "ipbx", "glpi", "rt-vlan", "pc-10"]
    assert rubric.host("zabbix").transport == "zabbix"  # the candidate's own supervision server, read by its API
    assert [h.name for h in rubric.hosts if h.shared is not None] == ["hyperviseur"]  # one for a cluster of four
    from grader.lab.demo import CHECK_IDS  # the demo room's planted truth names every check of the rubric

    assert sorted(c.id for c in rubric.checks) == sorted(CHECK_IDS)
    assert len({c.id for c in rubric.checks}) == len(rubric.checks)
    assert set(rubric.variables) == {"reseau", "hyperviseur"}
    assert rubric.source == DEMO
    assert rubric.text == DEMO.read_text(encoding="utf-8")
    catalogue = default_catalogue()
    criteria = load_referential().criterion_ids()
    for entry in rubric.checks:
        assert entry.check in catalogue
        assert entry.criterion in criteria
        host = {"ad": "dc", "network.nat_works": "pc-lan", "network.port_forward": "srv-wan",
                "network.port_filtered": "srv-wan", "network.nft_masquerade": "routeur",
                "network.dns_resolves": "routeur", "network.dhcp_offer": "routeur",
                "vpn.tunnel_up": "routeur", "vpn.reaches": "srv-wan", "proxy.filters": "pc-lan",
                "hypervisor": "hyperviseur", "voip": "ipbx", "helpdesk": "glpi", "network.syslog_received": "pc-lan",
                "network.intervlan_routed": "pc-10", "network.dhcp_relay": "rt-vlan",
                **dict.fromkeys(("supervision.zabbix_host", "supervision.zabbix_agent", "supervision.zabbix_item"),
                                "zabbix")}
        name = "vm-web" if entry.id == "vm-web-nom" else host.get(entry.check, host.get(entry.check.split(".")[0],
                                                                                          "srv-lin"))
        assert rubric.targets(entry) == [rubric.host(name)]


def test_minimal_rubric_fixture_loads() -> None:
    rubric = load_rubric(FIXTURES / "candidate-dns.yaml")
    assert rubric.variables["domaine"].default == "exam.lan"
    assert rubric.credentials["correcteur"].agent is True


# --- five mistakes, five located problems -------------------------------------------------


def test_five_mistakes_give_exactly_five_located_problems() -> None:
    text = FIVE_MISTAKES.read_text(encoding="utf-8")
    problems = problems_of(FIVE_MISTAKES)
    assert len(problems) == 5, "\n".join(problems)

    # mistake -> (where it is, words the problem must contain, words its hint must contain)
    expected = {
        "unknown plugin": (locate(text, "# erreur 1", "check:"), ["linux.package_instaled"],
                           ["linux.package_installed"]),
        "undefined template variable": (locate(text, "# erreur 2", "url:"), ["resau"],
                                        ["variables:", "reseau"]),
        "duplicate check id": (locate(text, "# erreur 3", "id:"), ["svc-apache", "double"], ["unique"]),
        "wrong parameter type": (locate(text, "# erreur 4", "port:"), ["port"], ["entier"]),
        "unknown criterion": (locate(text, "# erreur 5", "criterion:"), ["CP99.1"], ["CP9.1"]),
    }
    # The duplicate is the second « id: svc-apache », the first one stays valid.
    assert locate(text, "id: svc-apache", "id:", nth=2) == expected["duplicate check id"][0]

    unmatched = list(problems)
    for kind, ((line, col), what_words, how_words) in expected.items():
        found = [p for p in unmatched if all(w in parse(p)["what"] for w in what_words)]
        assert len(found) == 1, f"{kind}: expected one problem mentioning {what_words}, got {found}\n" + "\n".join(problems)
        problem = found[0]
        unmatched.remove(problem)
        parts = parse(problem)
        assert parts["file"] == str(FIVE_MISTAKES)
        assert (int(parts["line"]), int(parts["col"])) == (line, col), f"{kind}: {problem}"
        for word in how_words:
            assert word in parts["how"], f"{kind}: the hint should mention {word!r}: {problem}"
    assert unmatched == []


def test_the_unknown_plugin_hint_suggests_the_right_plugin_first() -> None:
    problem = next(p for p in problems_of(FIVE_MISTAKES) if "package_instaled" in p)
    how = parse(problem)["how"]
    assert how.startswith("vouliez-vous dire linux.package_installed")


def test_the_unknown_criterion_hint_suggests_real_criteria() -> None:
    problem = next(p for p in problems_of(FIVE_MISTAKES) if "CP99.1" in p)
    suggested = re.findall(r"C[A-Z]*\d+\.\d+", parse(problem)["how"])
    assert suggested, problem
    assert set(suggested) <= load_referential().criterion_ids()


def test_undefined_template_variable_in_params_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    # Regression: rendering the parameters for type checking raised jinja2.UndefinedError.
    path = demo_variant(tmp_path, "params: {package: apache2}", 'params: {package: "{{ paquet }}"}')
    problems = problems_of(path)
    assert len(problems) == 1, problems
    line, col = locate(path.read_text(encoding="utf-8"), "{{ paquet }}", "package:")
    parts = parse(problems[0])
    assert (int(parts["line"]), int(parts["col"])) == (line, col)
    assert "paquet" in parts["what"]


def test_host_options_may_differ_per_candidate_and_their_templates_are_checked(tmp_path: Path) -> None:
    old = "syslog: {listen: 10.77.0.1, port: 514, protocol: udp, wait: 4}"
    good = demo_variant(tmp_path, old, 'syslog: {listen: "{{ reseau }}.1", port: 514, protocol: udp, wait: 4}')
    rubric = load_rubric(good)
    assert rubric.host("srv-lin").options["syslog"]["listen"] == "{{ reseau }}.1"  # rendered per candidate
    bad = demo_variant(tmp_path, old, 'syslog: {listen: "{{ reseu }}.1", port: 514, protocol: udp, wait: 4}', "bad.yaml")
    problems = problems_of(bad)
    assert len(problems) == 1, problems
    parts = parse(problems[0])
    assert (int(parts["line"]), int(parts["col"])) == locate(bad.read_text(encoding="utf-8"), "{{ reseu }}", "listen:")
    assert "reseu" in parts["what"] and "reseau" in parts["how"]
    typed = demo_variant(tmp_path, old, 'syslog: {listen: 10.77.0.1, port: 514, protocol: "{{ reseau }}", wait: 4}',
                         "typed.yaml")
    [problem] = problems_of(typed)  # rendered with neutral values, then validated: udp or tcp, not "1"
    assert (int(parse(problem)["line"]), int(parse(problem)["col"])) == locate(
        typed.read_text(encoding="utf-8"), 'protocol: "{{ reseau }}"', "protocol:")


def test_a_template_that_fails_on_values_is_a_located_problem_not_a_crash(tmp_path: Path) -> None:
    path = demo_variant(tmp_path, "params: {package: apache2}", "params: {package: \"{{ reseau | int + 'x' }}\"}")
    [problem] = problems_of(path)
    parts = parse(problem)
    assert (int(parts["line"]), int(parts["col"])) == locate(path.read_text(encoding="utf-8"), "| int + 'x'", "params:")
    assert "unsupported operand" in parts["what"] and "{{ }}" in parts["how"]


def test_host_referenced_but_not_declared(tmp_path: Path) -> None:
    old = "    role: serveur-linux\n    params: {package: apache2}"
    path = demo_variant(tmp_path, old, "    host: srv-win\n    params: {package: apache2}")
    problems = problems_of(path)
    assert len(problems) == 1, problems
    parts = parse(problems[0])
    assert (int(parts["line"]), int(parts["col"])) == locate(path.read_text(encoding="utf-8"), "host: srv-win", "host:")
    assert "srv-win" in parts["what"]
    assert "srv-lin" in parts["how"] and "hosts:" in parts["how"]


# --- templates: samples that fit, per-candidate text, settings that would be ignored ------------

DHCP_ON_DC = """
  - id: etendue-dhcp
    check: windows.dhcp_scope
    host: srv-win
    params: {scope: "{{ reseau }}.0", router: "{{ reseau }}.1"}
    criterion: CP5.1
    hint: "Étendue {{ reseau }}.0, passerelle {{ reseau }}.1"
"""


WINDOWS_HOST = """
  - name: srv-win
    role: serveur-windows
    platform: windows
    address: "{{ reseau }}.50"
    transport: winrm
    credential: lecteur-ad

checks:
"""


def demo_with_check(tmp_path: Path, entry: str, name: str = "extra.yaml") -> Path:
    """The demo rubric with one more check entry at the end of ``checks:``, and a WinRM host srv-win."""
    text = DEMO.read_text(encoding="utf-8").rstrip("\n") + "\n" + entry
    text = text.replace("\nchecks:\n", WINDOWS_HOST, 1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_ip_parameter_built_from_a_variable_validates_with_samples(tmp_path: Path) -> None:
    # Issue #14: « {{ reseau }}.0 » was rendered with reseau=1 and refused as « adresse IPv4 invalide : '1.0' ».
    rubric = load_rubric(demo_with_check(tmp_path, DHCP_ON_DC))
    assert rubric.checks[-1].params["scope"] == "{{ reseau }}.0"


def test_when_no_sample_fits_the_message_says_they_were_samples(tmp_path: Path) -> None:
    path = demo_variant(tmp_path, 'address: "{{ reseau }}.10"', 'address: "{{ reseau }}.999"')
    [problem] = problems_of(path)
    parts = parse(problem)
    assert (int(parts["line"]), int(parts["col"])) == locate(path.read_text(encoding="utf-8"), ".999", "address:")
    assert ".999" in parts["what"] and "valeurs d'essai" in parts["what"] and "reseau=" in parts["what"]
    assert "--roster" in parts["what"]


@pytest.mark.parametrize(("address", "fine"), [("10.77.0.999", "srv-{{ candidat }}.exam.lan"),
                                               ("10.77.0", "10.0.0.{{ candidat }}"), ("-srv.lan", "fe80::1")])
def test_an_address_that_cannot_be_an_address_is_refused(tmp_path: Path, address: str, fine: str) -> None:
    path = demo_variant(tmp_path, 'address: "{{ reseau }}.10"', f'address: "{address}"')
    [problem] = problems_of(path)
    parts = parse(problem)
    assert (int(parts["line"]), int(parts["col"])) == locate(path.read_text(encoding="utf-8"), f'address: "{address}"',
                                                             "address:")
    assert address in parts["what"] and "valeurs d'essai" not in parts["what"]
    # names and addresses that are one (a candidate number, an IPv6 address) are not refused
    load_rubric(demo_variant(tmp_path, 'address: "{{ reseau }}.10"', f'address: "{fine}"', "fine.yaml"))


def test_a_rubric_without_checks_is_refused(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8")
    path = tmp_path / "vide.yaml"
    path.write_text(text[:text.index("\nchecks:")] + "\nchecks: []\n", encoding="utf-8")
    [problem] = problems_of(path)
    parts = parse(problem)
    assert (int(parts["line"]), int(parts["col"])) == locate(path.read_text(encoding="utf-8"), "checks: []", "checks")
    assert "aucune vérification" in parts["what"]


def test_addr_of_an_unknown_host_is_located(tmp_path: Path) -> None:
    path = demo_variant(tmp_path, "url: \"http://{{ addr['srv-lin'] }}/\"", "url: \"http://{{ addr['srv-linux'] }}/\"")
    [problem] = problems_of(path)
    parts = parse(problem)
    assert (int(parts["line"]), int(parts["col"])) == locate(path.read_text(encoding="utf-8"), "srv-linux", "url:")
    assert "srv-linux" in parts["what"] and "srv-lin" in parts["how"]


def test_a_hint_template_is_checked_like_a_parameter(tmp_path: Path) -> None:
    path = demo_variant(tmp_path, 'hint: "apt install apache2"', 'hint: "apt install apache2 sur {{ reseu }}.10"')
    [problem] = problems_of(path)
    parts = parse(problem)
    assert (int(parts["line"]), int(parts["col"])) == locate(path.read_text(encoding="utf-8"), "{{ reseu }}", "hint:")
    assert "reseu" in parts["what"]


def test_a_port_the_transport_does_not_read_is_refused(tmp_path: Path) -> None:
    entry = """
  - id: agent
    check: network.snmp_agent
    host: switch
    params: {sys_location: Salle B12}
    criterion: CP13.2
"""
    text = DEMO.read_text(encoding="utf-8").rstrip("\n") + "\n" + entry
    text = text.replace("\nchecks:\n", """
  - name: switch
    role: switch
    platform: network
    address: "{{ reseau }}.3"
    transport: snmp
    port: 1161
    credential: supervision

checks:
""", 1)
    path = tmp_path / "snmp-port.yaml"
    path.write_text(text, encoding="utf-8")
    [problem] = problems_of(path)
    parts = parse(problem)
    assert (int(parts["line"]), int(parts["col"])) == locate(text, "port: 1161", "port:")
    assert "snmp" in parts["what"] and "options: {snmp: {port: 1161}}" in parts["how"]


def test_a_pfsense_check_on_an_ios_host_is_refused(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8").rstrip("\n") + """
  - id: pf-syslog
    check: network.pfsense_syslog_remote
    host: pare-feu
    params: {server: 10.77.0.1}
    criterion: CP13.3
"""
    text = text.replace("\nchecks:\n", """
  - name: pare-feu
    role: pare-feu
    platform: network
    address: "{{ reseau }}.1"
    transport: cli
    credential: correcteur
    options: {cli: {dialect: ios}}

checks:
""", 1)
    path = tmp_path / "pf-ios.yaml"
    path.write_text(text, encoding="utf-8")
    [problem] = problems_of(path)
    parts = parse(problem)
    assert (int(parts["line"]), int(parts["col"])) == locate(text, "network.pfsense_syslog_remote", "check:")
    assert "shell" in parts["what"] and "ios" in parts["what"] and "pare-feu" in parts["what"]
    path.write_text(text.replace("options: {cli: {dialect: ios}}", 'options: {cli: {dialect: shell, menu: "8"}}'),
                    encoding="utf-8")
    load_rubric(path)


def test_hints_and_sentences_are_written_for_each_candidate(tmp_path: Path) -> None:
    from grader.model import HostOutcome
    from grader.roster import Candidate
    from grader.runner import _judge, plan

    rubric = load_rubric(demo_with_check(tmp_path, DHCP_ON_DC), with_roster=True)
    good, bad = Candidate("01", "", {"reseau": "10.77.1"}), Candidate("02", "", {"reseau": "127.0"})
    jobs = {(j.candidate.id, j.host.name): j for j in plan(rubric, [good, bad], default_catalogue())}
    [mine] = [pc for pc in jobs["01", "srv-win"].checks if pc.entry.id == "etendue-dhcp"]
    assert mine.hint == "Étendue 10.77.1.0, passerelle 10.77.1.1"
    assert "10.77.1.0" in mine.sentence and "{{" not in mine.sentence
    [theirs] = [pc for pc in jobs["02", "srv-win"].checks if pc.entry.id == "etendue-dhcp"]
    assert theirs.hint == "Étendue 127.0.0, passerelle 127.0.1"
    assert "127.0.0" in theirs.sentence and "{{" not in theirs.sentence  # invalid, yet written with its values
    result = _judge(jobs["02", "srv-win"], theirs, {}, HostOutcome(True), {})
    assert result.hint == theirs.hint and result.params["scope"] == "127.0.0"
    message = str(result.message)
    assert "127.0.0" in message and "validation error" not in message and "pydantic" not in message


# --- YAML syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        # a key indented one space less than its siblings
        ("    role: serveur-linux\n    platform: linux", "    role: serveur-linux\n   platform: linux", "   platform:"),
        # a tab used for indentation
        ("  - id: pkg-apache\n", "\t- id: pkg-apache\n", "\t- id: pkg-apache"),
    ],
    ids=["indentation", "tab"],
)
def test_yaml_syntax_error_is_located(tmp_path: Path, old: str, new: str, needle: str) -> None:
    path = demo_variant(tmp_path, old, new)
    problems = problems_of(path)
    assert len(problems) == 1, problems
    parts = parse(problems[0])
    line, _ = locate(path.read_text(encoding="utf-8"), needle, needle)
    assert int(parts["line"]) == line, problems[0]
    assert int(parts["col"]) >= 1
    assert "YAML" in parts["what"]
    assert "syntaxe" in parts["how"]


def test_a_rubric_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- srv-lin\n- srv-win\n", encoding="utf-8")
    problems = problems_of(path)
    assert len(problems) == 1
    assert parse(problems[0])["line"] == "1" and "rubric:" in parse(problems[0])["how"]


def test_missing_file_is_a_located_problem(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "absent.yaml")
    assert len(problems) == 1 and "chemin" in parse(problems[0])["how"]


# --- secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize("alone", [True, False], ids=["instead-of-key", "next-to-key"])
def test_inline_password_is_refused_with_the_way_to_reference_it(tmp_path: Path, alone: bool) -> None:
    secret = "Hunter2-tssr-Zq9"
    old = "    key_file: /var/lib/grader/lab/id_ed25519\n"
    new = f"    password: {secret}\n" if alone else old + f"    password: {secret}\n"
    path = demo_variant(tmp_path, old, new)
    problems = problems_of(path)
    assert len(problems) == 1, problems
    parts = parse(problems[0])
    assert (int(parts["line"]), int(parts["col"])) == locate(path.read_text(encoding="utf-8"), "password:", "password:")
    assert "secret" in parts["what"]
    assert "password_env" in parts["how"] and "password_file" in parts["how"]
    assert secret not in problems[0], "the error message must not repeat the secret"


def test_password_env_reference_is_accepted(tmp_path: Path) -> None:
    # A password sent to candidates' SSH hosts must be asked for (allow_password), see the next test.
    path = demo_variant(tmp_path, "    key_file: /var/lib/grader/lab/id_ed25519\n",
                        "    password_env: GRADER_PW\n    allow_password: true\n")
    rubric = load_rubric(path)
    assert rubric.credentials["correcteur"].password_env == "GRADER_PW"


def test_an_ssh_password_is_refused_unless_the_rubric_asks_for_it(tmp_path: Path) -> None:
    path = demo_variant(tmp_path, "    key_file: /var/lib/grader/lab/id_ed25519\n", "    password_env: GRADER_PW\n")
    problems = problems_of(path)
    assert problems and all("allow_password: true" in p and "clé (key_file)" in p for p in problems)
    assert {int(parse(p)["line"]) for p in problems} == {
        n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if line.strip() == "credential: correcteur"}


def test_a_shared_password_warns_and_a_per_candidate_one_does_not(tmp_path: Path) -> None:
    shared = load_rubric(demo_variant(tmp_path, "    key_file: /var/lib/grader/lab/id_ed25519\n",
                                      "    password_env: GRADER_PW\n    allow_password: true\n"))
    assert any("« correcteur » est le même pour tous les candidats" in w for w in shared.warnings)
    (tmp_path / "v2").mkdir()
    own = load_rubric(demo_variant(tmp_path / "v2", "    key_file: /var/lib/grader/lab/id_ed25519\n",
                                   '    password_file: "secrets/{{ candidat }}.txt"\n    allow_password: true\n'))
    assert not any("« correcteur »" in w for w in own.warnings)


def test_a_credential_template_is_rendered_per_candidate(tmp_path: Path) -> None:
    from grader.plugins import default_catalogue
    from grader.roster import Candidate
    from grader.runner import plan

    rubric = load_rubric(demo_variant(tmp_path, "    key_file: /var/lib/grader/lab/id_ed25519\n",
                                      '    key_file: "/srv/cles/{{ candidat }}/id_ed25519"\n'))
    jobs = plan(rubric, [Candidate("01", "", {"reseau": "10.77.1"}), Candidate("02", "", {"reseau": "10.77.2"})],
                default_catalogue())
    files = {(j.candidate.id, j.credential.key_file) for j in jobs if j.credential is not None
             and j.host.credential == "correcteur"}
    assert {c for c, _ in files} == {"01", "02"}
    assert all(f == f"/srv/cles/{c}/id_ed25519" for c, f in files)


def test_two_secret_sources_are_refused(tmp_path: Path) -> None:
    path = demo_variant(tmp_path, "    key_file: /var/lib/grader/lab/id_ed25519\n",
                        "    key_file: /var/lib/grader/lab/id_ed25519\n    password_env: GRADER_PW\n")
    problems = problems_of(path)
    assert len(problems) == 1
    assert "exactement une source" in parse(problems[0])["what"]
    assert int(parse(problems[0])["line"]) == locate(path.read_text(encoding="utf-8"), "correcteur:", "correcteur:")[0]


# --- SNMP credential sets ---------------------------------------------------------------

SNMP_ONE_SET = "snmp: {community_credential: supervision, timeout: 1, retries: 1}"


def snmp_sets(*items: str, extra: str = "") -> str:
    """``options.snmp`` of srv-lin with a ``credentials`` list (one flow mapping per set)."""
    return ("snmp:\n        timeout: 1\n" + extra + "        credentials:\n"
            + "".join(f"          - {item}\n" for item in items)).rstrip("\n")


def test_snmp_credential_sets_load_in_order_and_the_single_set_form_stays(tmp_path: Path) -> None:
    from grader.probes.snmp import SnmpOptions

    one = SnmpOptions.model_validate(load_rubric(DEMO).host("srv-lin").options["snmp"])
    assert [(s.version, s.community_credential, s.timeout) for s in one.credential_sets()] == [("v2c", "supervision", 1)]
    path = demo_variant(tmp_path, SNMP_ONE_SET, snmp_sets(
        "{version: v3, credential: lecteur-ad, auth_protocol: SHA-256, priv_protocol: none, timeout: 0.5}",
        "{version: v2c, community_credential: supervision}"))
    options = SnmpOptions.model_validate(load_rubric(path).host("srv-lin").options["snmp"])
    sets = options.credential_sets()
    assert [(s.version, s.credential, s.community_credential, s.auth_protocol, s.priv_protocol, s.timeout)
            for s in sets] == [("v3", "lecteur-ad", None, "SHA-256", "none", 0.5),
                               ("v2c", None, "supervision", "SHA", "AES", 1)]
    assert all(s.credentials is None and s.retries == 1 for s in sets)


@pytest.mark.parametrize(("item", "key", "said"), [
    ("{version: v4, community_credential: supervision}", "version:", "v2c"),
    ("{version: v2c, credential: supervision}", "{version: v2c, credential", "community_credential"),
    ("{version: v3, community_credential: supervision}", "{version: v3, community", "credential"),
    ("{version: v2c, community: tssr-ro}", "community:", "community"),
], ids=["version", "v3-field-in-v2c", "community-in-v3", "inline-community"])
def test_a_bad_snmp_credential_set_is_located(tmp_path: Path, item: str, key: str, said: str) -> None:
    path = demo_variant(tmp_path, SNMP_ONE_SET, snmp_sets("{version: v2c, community_credential: supervision}", item))
    [problem] = problems_of(path)
    parts = parse(problem)
    text = path.read_text(encoding="utf-8")
    assert (int(parts["line"]), int(parts["col"])) == locate(text, item, key), problem
    assert "credentials.1" in parts["what"] and said in parts["what"]


def test_an_undeclared_credential_in_a_snmp_set_is_located(tmp_path: Path) -> None:
    path = demo_variant(tmp_path, SNMP_ONE_SET, snmp_sets("{version: v2c, community_credential: supervision}",
                                                          "{version: v3, credential: snmp-v3}"))
    [problem] = problems_of(path)
    parts = parse(problem)
    assert (int(parts["line"]), int(parts["col"])) == locate(path.read_text(encoding="utf-8"), "snmp-v3", "credential:")
    assert "snmp-v3" in parts["what"]


def test_set_fields_next_to_the_snmp_credential_list_are_refused(tmp_path: Path) -> None:
    path = demo_variant(tmp_path, SNMP_ONE_SET, snmp_sets("{version: v2c, community_credential: supervision}",
                                                          extra="        community_credential: supervision\n"))
    [problem] = problems_of(path)
    parts = parse(problem)
    assert int(parts["line"]) == locate(path.read_text(encoding="utf-8"), "snmp:", "snmp:", nth=1)[0]
    assert "community_credential" in parts["what"] and "credentials" in parts["what"]


def test_a_shared_community_named_only_in_a_snmp_set_warns(tmp_path: Path) -> None:
    path = demo_variant(tmp_path, SNMP_ONE_SET, snmp_sets("{version: v3, credential: lecteur-ad}",
                                                          "{version: v2c, community_credential: supervision}"))
    warnings = load_rubric(path).warnings
    assert any("« supervision »" in w and "srv-lin" in w for w in warnings), warnings
    assert any("« lecteur-ad »" in w and "srv-lin" in w for w in warnings), warnings


# --- schema -----------------------------------------------------------------------------


def test_rubric_json_schema() -> None:
    schema = rubric_json_schema()
    json.loads(json.dumps(schema))  # plain JSON, nothing Python-only inside
    assert schema["type"] == "object"
    assert {"hosts", "checks", "rubric", "title", "credentials", "variables"} <= set(schema["properties"])
    assert {"rubric", "title", "hosts", "checks"} <= set(schema["required"])
    assert schema["properties"]["hosts"]["type"] == "array"
    assert schema["properties"]["checks"]["type"] == "array"
    assert schema.get("additionalProperties") is False  # editors flag misspelt keys
    defs = schema["$defs"]
    assert "password" not in defs["Credential"]["properties"]
    assert {"password_env", "password_file", "key_file", "agent"} <= set(defs["Credential"]["properties"])
    assert set(defs["Host"]["properties"]["platform"]["enum"]) == {"linux", "windows", "network"}
