"""Meta-tests of the Windows pack: every check honours the contract of grader.check, its PowerShell is sound.

Registered through pluggy exactly as the entry point ``windows = "checks.windows"`` loads it;
unique ``windows.*`` ids; a French one-line sentence whose placeholders are parameters; a
Params model; deterministic ``winrm`` probes whose PowerShell parses (tree-sitter), calls
only full cmdlet names (``Verb-Noun``, no alias) and asks the deciding cmdlet for
``-ErrorAction Stop``; recordings that state their origin; and no conforme on empty, garbage
or failed output. That a test shows each check conforme is held by tests/conftest.py.
"""

from __future__ import annotations

import json
import re
import string
import tomllib
from pathlib import Path
from typing import Any

import pydantic
import pytest

import checks.windows
from checks.windows._ps import ps_quote
from grader.check import Check, CheckParams, evaluate
from grader.model import ProbeResult, Status, Verdict
from grader.plugins import collect_checks, get_plugin_manager
from tests.winrm_standin import recordings

ROOT = Path(__file__).resolve().parents[2]

# One valid parameter set per check, every optional criterion used: a new check must add its own here.
SAMPLES: dict[str, dict[str, Any]] = {
    "windows.service_running": {"service": "Spooler", "start_mode": "automatic"},
    "windows.feature_installed": {"feature": "DHCP"},
    "windows.scheduled_task": {"task": "Sauvegarde", "path": "\\TSSR\\", "trigger": "weekly", "at": "02:00",
                               "days": ["monday"], "command_contains": "sauvegarde.ps1", "run_as": "SYSTEM"},
    "windows.smb_share": {"share": "Commun", "path": "D:\\Partages\\Commun", "group": "Comptabilité",
                          "share_access": "change", "ntfs_access": "modify"},
    "windows.dhcp_scope": {"scope": "192.168.10.0", "start": "192.168.10.100", "end": "192.168.10.200",
                           "mask": "255.255.255.0", "router": "192.168.10.254", "dns_servers": ["192.168.10.10"],
                           "reservations": [{"ip": "192.168.10.50", "mac": "00-15-5D-0A-01-32"}]},
    "windows.dns_record": {"zone": "tssr.lan", "name": "intranet", "type": "A", "value": "192.168.10.20"},
    "windows.dns_zone": {"zone": "tssr.lan", "type": "Primary", "ad_integrated": True},
    "windows.ps_script_documented": {"path": "C:\\Scripts\\sauvegarde.ps1", "task": "Sauvegarde"},
    "windows.wsus_client_policy": {"server": "http://srv-wsus:8530", "au_options": 4, "target_group": "Postes"},
    "backup.windows_recent": {"volume": "C:", "max_age_hours": 24},
    "windows.gpo_applied": {"gpo": "Sécurité des postes", "applied": True},
}
ALLOWED_BARE = {"foreach"}  # keywords the grammar may report as names; never an alias


def catalogue() -> dict[str, type[Check]]:
    pm = get_plugin_manager(load_entrypoints=False, extra=(checks.windows,))
    return collect_checks(pm)


CATALOGUE = catalogue()
IDS = sorted(CATALOGUE)


def all_probes(check_id: str):
    cls = CATALOGUE[check_id]
    return cls().probes(cls.Params(**SAMPLES[check_id]))


def test_pack_is_registered_through_the_entry_point():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["grader"]["windows"] == "checks.windows"
    assert IDS == sorted(SAMPLES), "every registered check has a sample, every sample a check"
    assert len(IDS) == len(set(IDS)) == len(checks.windows.CHECKS)


@pytest.mark.parametrize("check_id", IDS)
def test_identity_and_sentence(check_id):
    cls = CATALOGUE[check_id]
    assert check_id.startswith(("windows.", "backup.")) and cls.id == check_id  # backup.*: issue #12's ids
    assert cls.platform == "windows" and cls.transport == "winrm"
    sentence = cls.sentence_template()
    assert sentence.endswith(".") and "\n" not in sentence
    assert re.match(r"^(Le |La |Les |L'|Un |Une )", sentence), f"French sentence expected: {sentence!r}"
    assert not re.search(r"\b(the|is|and|must|with)\b", sentence), f"English in the jury's sentence: {sentence!r}"
    fields = {name for _, name, _, _ in string.Formatter().parse(sentence) if name}
    assert fields <= set(cls.Params.model_fields), f"placeholders {fields} must be parameters"
    assert "{" not in cls.sentence(cls.Params(**SAMPLES[check_id]))


@pytest.mark.parametrize("check_id", IDS)
def test_params_model(check_id):
    cls = CATALOGUE[check_id]
    assert issubclass(cls.Params, CheckParams) and cls.Params is not CheckParams
    assert all(re.fullmatch(r"[a-z][a-z_]*", name) for name in cls.Params.model_fields), "English parameter names"
    with pytest.raises(pydantic.ValidationError):
        cls.Params(**SAMPLES[check_id], unexpected_parameter=1)


def _command_names(text: str) -> list[str]:
    ts = pytest.importorskip("tree_sitter")
    tsp = pytest.importorskip("tree_sitter_powershell")
    parser = ts.Parser(ts.Language(tsp.language()))
    tree = parser.parse(text.encode("utf-8"))
    assert not tree.root_node.has_error, f"PowerShell syntax error in: {text}"
    names: list[str] = []

    def walk(node: Any) -> None:
        if node.type == "command_name":
            names.append(text.encode("utf-8")[node.start_byte:node.end_byte].decode("utf-8"))
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    return names


@pytest.mark.parametrize("check_id", IDS)
def test_probes_are_sound_powershell(check_id):
    first, second = all_probes(check_id), all_probes(check_id)
    assert first == second and first, "deterministic, at least one probe"
    for name, probe in first.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
        assert probe.transport == "winrm" and probe.timeout > 0 and not probe.active
        commands = _command_names(probe.command)
        assert commands, probe.command
        for command in commands:
            assert command in ALLOWED_BARE or re.fullmatch(r"[A-Z][A-Za-z]+-[A-Z][A-Za-z0-9]+", command), \
                f"{check_id}/{name}: {command!r} is not a full cmdlet name"
        assert "-ErrorAction Stop" in probe.command, f"{check_id}/{name}: the deciding cmdlet must stop on error"
        assert "ConvertTo-Json" in probe.command and "-Depth 4" in probe.command


@pytest.mark.parametrize("value,quoted", [("Comptabilité", "'Comptabilité'"), ("O'Brien", "'O''Brien'"),
                                          ("a’b‘c‚d‛", "'a’’b‘‘c‚‚d‛‛'"), ("$env:x `n", "'$env:x `n'")])
def test_ps_quote(value, quoted):
    assert ps_quote(value) == quoted


def test_ps_quote_refuses_control_characters():
    with pytest.raises(ValueError):
        ps_quote("a\nb")


GARBAGE = ["", "Bienvenue sur SRV-DC1 !", "\x00\x01garbage", "[\r\n\r\n]", "{}", "null", "[1, 2]", '{"Name": null}']


@pytest.mark.parametrize("stdout", GARBAGE)
@pytest.mark.parametrize("exit_code", [0, 1, 2])
@pytest.mark.parametrize("check_id", IDS)
def test_empty_garbage_or_failed_output_is_never_conforme(check_id, stdout, exit_code):
    cls = CATALOGUE[check_id]
    params = cls.Params(**SAMPLES[check_id])
    stderr = "" if exit_code == 0 else json.dumps([{"type": "System.Exception", "id": "x", "category": "NotSpecified",
                                                     "message": "boom", "target": ""}])
    results = {name: ProbeResult(key=p.key, transport=p.transport, command=p.command, stdout=stdout, stderr=stderr,
                                 exit_code=exit_code) for name, p in all_probes(check_id).items()}
    verdict = cls().judge(params, results)  # must not raise
    assert isinstance(verdict, Verdict) and verdict.message
    assert verdict.status is not Status.CONFORME


@pytest.mark.parametrize("check_id", IDS)
def test_lost_or_timed_out_probes_are_erreur_before_the_judge(check_id):
    cls = CATALOGUE[check_id]
    results = {name: ProbeResult(key=p.key, transport=p.transport, command=p.command, timed_out=True)
               for name, p in all_probes(check_id).items()}
    assert evaluate(cls(), cls.Params(**SAMPLES[check_id]), results).status is Status.ERREUR


@pytest.mark.parametrize("name", recordings.names())
def test_every_recording_states_its_origin_and_is_what_powershell_writes(name):
    rec = recordings.load(name)
    assert rec.origin.startswith("http") or "tests/conftest.py" in rec.origin, rec.origin
    if name.startswith("stderr_"):
        assert rec.output.startswith("#< CLIXML\r\n")
        return
    assert "shape" in rec.meta
    if rec.output and "-Compress" in rec.meta["shape"]:
        json.loads(rec.output)  # ConvertTo-Json -Compress: one line, no layout to check
        assert "\n" not in rec.output.strip()
    elif rec.output:
        json.loads(rec.output)
        assert "\r\n" in rec.output and "\n" not in rec.output.replace("\r\n", "")
        if rec.output != "[\r\n\r\n]":  # an empty array (ConvertTo-Json -InputObject @()) has no key
            assert re.search(r'^ +"[^"]+":  ', rec.output, re.MULTILINE), "ConvertTo-Json of Windows PowerShell 5.1: two spaces"
    for error in rec.errors:
        assert set(error) == {"type", "id", "category", "message", "target"}
