"""The reference at hand (issue #14 §2): ``checks show``, ``--json``, ``--platform``, the typed schema, the README table.

A rubric written from the README and ``checks show`` alone must validate where it is right: so every
check's example validates, the schema an editor reads accepts the demo rubric and flags what
``load_rubric`` refuses, and the README's table of channel options is the models' own.
"""

from __future__ import annotations

import copy
import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

import rubrics
from grader import i18n
from grader.plugins import default_catalogue, default_channel_specs
from grader.referential import load_referential
from grader.rubric import load_rubric
from tests.test_cli import grader

README = Path(__file__).resolve().parent.parent / "README.md"


# --- checks show / list ----------------------------------------------------------------------


def test_checks_show_says_params_channel_criteria_and_example():
    result = grader("checks", "show", "network.pfsense_filter")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Paramètre" in out and "Valeurs permises" in out and "Défaut" in out
    assert re.search(r"protocol\s+│\s+texte\s+│\s+tcp, udp, icmp\s+│\s+tcp", out), out
    assert re.search(r"allowed\s+│\s+booléen\s+│.*│\s+obligatoire", out), out
    assert "Canal : cli" in out and "hosts[].options.cli" in out and "dialect" in out and "ios, shell" in out
    assert "options.cli.dialect: shell" in out  # the dialect the host must declare, which load_rubric checks
    assert "CP6.1 — Les mesures de prévention" in out and "déclaré par la vérification" in out
    assert "check: network.pfsense_filter" in out and "allowed: false" in out and "# source: null" in out


def test_checks_show_in_english_and_from_the_demo_rubric():
    result = grader("checks", "show", "linux.package_installed", "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert "Parameter" in result.stdout and "required" in result.stdout
    assert "CP9.1" in result.stdout and "demo rubric: pkg-apache" in result.stdout
    assert "package: apache2" in result.stdout


def test_checks_show_has_a_french_help():
    assert "Afficher cette aide et quitter." in grader("checks", "show", "--help").stdout
    assert "Show this message and exit." in grader("checks", "show", "--help", "--lang", "en").stdout


def test_checks_show_unknown_id_is_an_error_with_a_suggestion():
    result = grader("checks", "show", "linux.package_instaled")
    assert result.returncode == 2
    assert "linux.package_installed" in result.stderr


def test_checks_show_json():
    result = grader("checks", "show", "network.dhcp_offer", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["id"] == "network.dhcp_offer" and info["platform"] == "any"
    params = {p["name"]: p for p in info["params"]}
    assert params["interface"]["required"] and not params["wait"]["required"] and params["wait"]["default"] == 3.0
    assert info["channel"] == {**info["channel"], "name": "dhcp", "grader_side": True}
    assert info["criteria"][0]["id"] == "CP5.1" and info["criteria"][0]["source"] == "demo"
    assert "check: network.dhcp_offer" in info["example"]


def test_checks_list_json_and_platform_includes_any():
    result = grader("checks", "list", "--platform", "network", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert "network.pfsense_filter" in rows
    assert "network.dns_resolves" in rows and rows["network.dns_resolves"]["platform"] == "any"
    assert "network.snmp_agent" in rows
    assert not any(row["platform"] in ("linux", "windows") for row in rows.values())
    assert {"name": "interface", "required": True} in rows["network.pfsense_filter"]["params"]


def test_checks_list_unknown_platform_is_an_error():
    result = grader("checks", "list", "--platform", "netwrk")
    assert result.returncode == 2
    assert "netwrk" in result.stderr and "network" in result.stderr


# --- examples, criteria ------------------------------------------------------------------------


def _minimal_rubric(cls, example: str) -> str:
    from grader.reference import EXAMPLE_ROLES

    spec = default_channel_specs()[cls.transport]
    platform = "linux" if cls.platform == "any" else cls.platform
    transport = "ssh" if spec.grader_side else cls.transport
    return textwrap.dedent(f"""\
        rubric: essai
        title: Essai
        credentials:
          correcteur: {{username: grader, key_file: /var/lib/grader/id_ed25519}}
          alice: {{username: alice@tssr.lan, password_file: /var/lib/grader/alice.password}}
          bob: {{username: bob@tssr.lan, password_file: /var/lib/grader/bob.password}}
        hosts:
          - name: h1
            role: {EXAMPLE_ROLES[cls.platform]}
            platform: {platform}
            address: 192.0.2.1
            transport: {transport}
            credential: correcteur
        """) + (f"    options: {{cli: {{dialect: {cls.dialect}}}}}\n" if getattr(cls, "dialect", None) else "") + \
        "checks:\n" + textwrap.indent(example, "  ")


@pytest.mark.parametrize("check_id", list(default_catalogue()))
def test_every_example_validates_in_a_minimal_rubric(check_id, tmp_path):
    from grader.reference import example_yaml

    cls = default_catalogue()[check_id]
    path = tmp_path / "bareme.yaml"
    path.write_text(_minimal_rubric(cls, example_yaml(cls)), encoding="utf-8")
    rubric = load_rubric(path)
    assert rubric.checks[0].check == check_id


def test_every_check_has_usual_criteria_from_the_referential():
    from grader.reference import usual_criteria

    ids = load_referential().criterion_ids()
    for cid, cls in default_catalogue().items():
        assert set(cls.usually_serves) <= ids, cid
        assert usual_criteria(cls), f"{cid}: no usual criterion (declare usually_serves)"


# --- the editor's schema ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator():
    from grader.schema import rubric_json_schema

    schema = rubric_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def demo():
    return YAML(typ="safe").load(rubrics.demo_rubric().read_text(encoding="utf-8"))


def _errors(validator, doc) -> list[tuple[list, str]]:
    """Every error and nested error (a union's branches), as (path, message)."""
    found = []
    todo = list(validator.iter_errors(doc))
    while todo:
        err = todo.pop()
        found.append((list(err.absolute_path), err.message))
        todo += list(err.context or [])
    return found


def test_schema_accepts_the_demo_rubric(validator, demo):
    assert _errors(validator, demo) == []


def test_schema_flags_a_wrong_param_type(validator, demo):
    doc = copy.deepcopy(demo)
    i = next(i for i, c in enumerate(doc["checks"]) if c["check"] == "linux.port_listening")
    doc["checks"][i]["params"]["port"] = "quatre-vingts"
    errors = _errors(validator, doc)
    assert errors and any(path == ["checks", i, "params", "port"] for path, _ in errors), errors


def test_schema_flags_an_unknown_param_and_an_unknown_option(validator, demo):
    doc = copy.deepcopy(demo)
    i = next(i for i, c in enumerate(doc["checks"]) if c["check"] == "linux.package_installed")
    doc["checks"][i]["params"]["packge"] = "apache2"
    doc["hosts"][0]["options"]["snmp"]["tmeout"] = 1
    doc["hosts"][0]["options"]["smtp"] = {}
    errors = _errors(validator, doc)
    assert any(path == ["checks", i, "params"] and "packge" in msg for path, msg in errors), errors
    assert any(path == ["hosts", 0, "options", "snmp"] and "tmeout" in msg for path, msg in errors), errors
    assert any(path == ["hosts", 0, "options"] and "smtp" in msg for path, msg in errors), errors


def test_schema_flags_a_wrong_option_value_and_accepts_templates(validator, demo):
    doc = copy.deepcopy(demo)
    doc["hosts"][1]["options"]["ldap"]["tls"] = "ssl"
    assert any(path == ["hosts", 1, "options", "ldap", "tls"] for path, _ in _errors(validator, doc))
    doc = copy.deepcopy(demo)
    i = next(i for i, c in enumerate(doc["checks"]) if c["check"] == "linux.port_listening")
    doc["checks"][i]["params"]["port"] = "{{ port_web }}"  # a template where a number is wanted
    assert _errors(validator, doc) == []


def test_rubric_schema_command_prints_the_typed_schema():
    result = grader("rubric", "schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    items = schema["properties"]["checks"]["items"]
    assert items["discriminator"]["propertyName"] == "check"
    assert "network.pfsense_filter" in items["discriminator"]["mapping"]
    assert "cli" in schema["$defs"]["HostOptions"]["properties"]


# --- the README's table of channel options -----------------------------------------------------


def test_readme_options_table_matches_the_models():
    from grader.reference import option_rows

    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- options:begin -->", 1)[1].split("<!-- options:end -->", 1)[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip().replace("`", "") for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 6 and cells[5], line  # every option says what it is for
        rows.append(tuple("" if c == "—" else c for c in cells[:5]))
    before = i18n.get_lang()
    i18n.set_lang("fr")  # the README is French
    try:
        expected = option_rows(default_channel_specs())
    finally:
        i18n.set_lang(before)
    assert rows == expected
