"""The layers hold: checks speak the channels' probe languages, never their connection code.

``checks/`` and ``grader/probes/`` import nothing from ``grader.transports``; validating a rubric
and listing checks load no connection library; each built-in channel's class is the one its
declaration names, with the declaration's name, options and flags.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.plugins import default_channel_specs, default_transports

ROOT = Path(__file__).resolve().parent.parent
CONNECTION_LIBRARIES = ("paramiko", "ldap3", "pysnmp", "smbprotocol", "smbclient", "scapy", "winrm", "requests",
                        "dns.resolver", "gssapi")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("folder", ["checks", "grader/probes"])
def test_checks_and_probe_languages_import_no_connection_code(folder: str) -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(n for n in _imports(p) if n.startswith("grader.transports"))
                 for p in sorted((ROOT / folder).rglob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_validating_a_rubric_and_listing_checks_load_no_connection_library() -> None:
    code = ("import json, sys\nfrom pathlib import Path\nimport grader.cli\n"
            "from grader.plugins import default_catalogue, default_channel_specs\n"
            "from grader.rubric import load_rubric\n"
            "default_catalogue(); default_channel_specs(); load_rubric(Path('rubrics/demo.yaml'))\n"
            f"print(json.dumps(sorted(m for m in {CONNECTION_LIBRARIES!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_each_builtin_channel_is_the_class_its_declaration_names() -> None:
    specs, classes = default_channel_specs(), default_transports()
    assert set(specs) == set(classes) >= {"ssh", "winrm", "ldap", "smb", "snmp", "cli", "http", "tls", "dns", "dhcp",
                                          "syslog"}
    for name, spec in specs.items():
        cls = classes[name]
        assert (cls.name, cls.Options, cls.grader_side, cls.needs_credential) == (
            spec.name, spec.Options, spec.grader_side, spec.needs_credential), name
