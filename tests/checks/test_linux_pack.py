"""Meta-tests of the Linux pack: every check honours the contract of grader.check.

Registered through pluggy exactly as the entry point ``linux = "checks.linux"`` loads it;
unique ``linux.*`` ids; a French one-line sentence whose placeholders are parameters; a
Params model; deterministic probes whose commands use absolute paths only; and no conforme
on empty or garbage output. That a test shows each check conforme is held by tests/conftest.py.
"""

from __future__ import annotations

import re
import shlex
import string
import tomllib
from pathlib import Path
from typing import Any

import pydantic
import pytest

import checks.linux
from grader.check import Check, CheckParams, evaluate
from grader.model import ProbeResult, Status, Verdict
from grader.plugins import collect_checks, get_plugin_manager

ROOT = Path(__file__).resolve().parents[2]

# One valid parameter set per check: a new check must add its own here.
SAMPLES: dict[str, dict[str, Any]] = {
    "linux.package_installed": {"package": "apache2"},
    "linux.service_active": {"service": "apache2"},
    "linux.port_listening": {"port": 80, "process": "apache2"},
    "linux.user_in_groups": {"user": "alice", "groups": ["webadmin"], "shell": "/bin/bash"},
    "linux.file_exists": {"path": "/var/www/html/index.html", "owner": "www-data", "mode": "644"},
    "linux.file_contains": {"path": "/etc/ssh/sshd_config", "pattern": r"^PermitRootLogin\s+no"},
    "linux.cron_entry": {"pattern": "sauvegarde", "user": "root"},
    "linux.sshd_setting": {"setting": "PermitRootLogin", "expected": "no"},
    "linux.rsyslog_forward": {"target": "192.168.10.5", "port": 514, "protocol": "tcp"},
    "linux.snmpd_community": {"community": "tssr-ro"},
    "linux.snmpd_v3_user": {"user": "supervision"},
    "linux.http_answers": {"url": "http://srv-web/", "contains": "Bienvenue"},
    "linux.timer": {"timer": "sauvegarde", "calendar": "daily", "ran_within_hours": 24},
    "linux.job_ran": {"command": "sauvegarde", "user": "root", "within_hours": 24},
    "script.bash": {"path": "/usr/local/bin/sauvegarde.sh", "artefact": "/var/backups/etc.tar.gz",
                    "artefact_max_age_hours": 24},
    "backup.recent": {"tool": "restic", "repository": "/srv/sauvegardes/restic", "path": "/srv/partage",
                      "password_credential": "depot"},
    "backup.restorable": {"tool": "borg", "repository": "/srv/sauvegardes/borg", "archives": "partage-*",
                          "file": "/srv/partage/compta.ods", "password_credential": "depot"},
}

SHELL_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"}
SHELL_BUILTINS = {"printf", "echo", "exit", "[", "test", "continue", "break", "true", "false", ":"}
SEPARATORS = {";", "&&", "||", "|", ";;", "(", ")", "&"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def catalogue() -> dict[str, type[Check]]:
    pm = get_plugin_manager(load_entrypoints=False, extra=(checks.linux,))
    return collect_checks(pm)


CATALOGUE = catalogue()
IDS = sorted(CATALOGUE)


def command_heads(command: str) -> list[str]:
    """The words of ``command`` that the shell runs as programs (builtins and keywords excluded).

    A small state machine over shlex tokens: after a separator or a keyword the next word
    is a command; ``case WORD in PATTERN)`` and ``for NAME in WORDS;`` headers are skipped;
    assignments and ``exec`` keep the command position; redirections skip their target.
    """
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    heads: list[str] = []
    at_command = True
    mode = "normal"  # normal | case-word | case-pattern | for-header
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
            continue
        if token and set(token) <= set("<>&") and ("<" in token or ">" in token):
            skip_next = True  # a redirection and its target
            continue
        if mode == "case-word":
            if token == "in":
                mode = "case-pattern"
            continue
        if mode == "case-pattern":
            if token == ")":
                mode, at_command = "normal", True
            elif token == "esac":
                mode, at_command = "normal", False
            continue
        if mode == "for-header":
            if token in (";", "do"):
                mode, at_command = "normal", True
            continue
        if token == ";;":
            mode = "case-pattern"
            continue
        if token in SEPARATORS:
            at_command = True
            continue
        if not at_command:
            continue
        if token == "case":
            mode = "case-word"
        elif token == "for":
            mode = "for-header"
        elif token in SHELL_KEYWORDS or _ASSIGNMENT.match(token) or token == "exec":
            continue  # still at a command position
        elif token in SHELL_BUILTINS or token == "esac":
            at_command = False
        else:
            heads.append(token)
            at_command = False
    return heads


def test_pack_is_registered_through_the_entry_point():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["grader"]["linux"] == "checks.linux"
    assert IDS == sorted(SAMPLES), "every registered check has a sample, every sample a check"
    assert len(IDS) == len(set(IDS)) == len(checks.linux.CHECKS)


@pytest.mark.parametrize("check_id", IDS)
def test_identity_and_sentence(check_id):
    cls = CATALOGUE[check_id]
    assert check_id.startswith(("linux.", "script.", "backup.")) and cls.id == check_id  # script.*, backup.*: issue #12's ids
    assert cls.platform == "linux" and cls.transport in ("ssh", "http")
    sentence = cls.sentence_template()
    assert sentence.endswith(".") and "\n" not in sentence
    assert re.match(r"^(Le |La |Les |L'|Un |Une |Aucun |Aucune )", sentence), f"French sentence expected: {sentence!r}"
    assert not re.search(r"\b(the|is|and|must|with)\b", sentence), f"English in the jury's sentence: {sentence!r}"
    fields = {name for _, name, _, _ in string.Formatter().parse(sentence) if name}
    assert fields <= set(cls.Params.model_fields), f"placeholders {fields} must be parameters"
    rendered = cls.sentence(cls.Params(**SAMPLES[check_id]))
    assert "{" not in rendered


@pytest.mark.parametrize("check_id", IDS)
def test_params_model(check_id):
    cls = CATALOGUE[check_id]
    assert issubclass(cls.Params, CheckParams) and cls.Params is not CheckParams
    with pytest.raises(pydantic.ValidationError):
        cls.Params(**SAMPLES[check_id], unexpected_parameter=1)


@pytest.mark.parametrize("check_id", IDS)
def test_probes_are_declared_deterministically_with_absolute_paths(check_id):
    cls = CATALOGUE[check_id]
    params = cls.Params(**SAMPLES[check_id])
    first, second = cls().probes(params), cls().probes(params)
    assert first == second and [p.key for p in first.values()] == [p.key for p in second.values()]
    assert first, "a check declares at least one probe"
    for name, probe in first.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
        assert probe.timeout > 0
        if probe.transport == "http":
            assert cls.transport == "http" and probe.command.startswith(("http://", "https://"))
            continue
        assert probe.transport == "ssh" and not probe.active
        heads = command_heads(probe.command)
        assert heads, f"no program found in {probe.command!r}"
        for head in heads:
            assert head.startswith("/"), f"{check_id}/{name}: {head!r} is not an absolute path"


def test_command_heads_sees_bare_names():
    assert command_heads("ls -l /etc; /usr/bin/id") == ["ls", "/usr/bin/id"]
    assert command_heads("if [ -x /usr/bin/ss ]; then exec ss -l; fi") == ["ss"]
    assert command_heads("X=$(cat /etc/hostname) && /usr/bin/true") == ["cat", "/usr/bin/true"]
    assert command_heads("case $f in *x*) grep a /b;; esac; /bin/echo") == ["grep", "/bin/echo"]
    assert command_heads("for f in /a /b; do stat $f 2>/dev/null; done") == ["stat"]
    assert command_heads("printf 'x\\n' >&2; exit 127") == []


@pytest.mark.parametrize("stdout", ["", "Bienvenue sur le serveur du candidat !\n", "\x00\x01garbage\n"])
@pytest.mark.parametrize("exit_code", [0, 1])
@pytest.mark.parametrize("check_id", IDS)
def test_empty_or_garbage_output_is_never_conforme(check_id, stdout, exit_code):
    cls = CATALOGUE[check_id]
    params = cls.Params(**SAMPLES[check_id])
    probes = cls().probes(params)
    results = {name: ProbeResult(key=p.key, transport=p.transport, command=p.command, stdout=stdout,
                                 exit_code=exit_code) for name, p in probes.items()}
    verdict = cls().judge(params, results)  # must not raise
    assert isinstance(verdict, Verdict)
    assert verdict.status is not Status.CONFORME


@pytest.mark.parametrize("check_id", IDS)
def test_lost_or_timed_out_probes_are_erreur_before_the_judge(check_id):
    cls = CATALOGUE[check_id]
    params = cls.Params(**SAMPLES[check_id])
    probes = cls().probes(params)
    results = {name: ProbeResult(key=p.key, transport=p.transport, command=p.command, timed_out=True)
               for name, p in probes.items()}
    assert evaluate(cls(), params, results).status is Status.ERREUR


def test_probes_run_in_the_real_batch_envelope():
    """Every ssh probe is valid sh inside grader's envelope, run here by /bin/sh.

    The verdicts depend on this machine (packages, services), so only the shape is
    asserted: each probe completes, the shell never reports a syntax error, dump probes
    parse, and every judge answers without raising.
    """
    import subprocess

    from checks.linux._parse import parse_dump
    from grader.transports import envelope

    probes = {}
    for check_id in IDS:
        cls = CATALOGUE[check_id]
        for probe in cls().probes(cls.Params(**SAMPLES[check_id])).values():
            if probe.transport == "ssh":
                probes[probe.key] = probe
    secrets = {p.secret: "mot-de-passe-essai" for p in probes.values() if p.secret is not None}
    env = envelope.build(list(probes.values()), passwords=secrets)
    proc = subprocess.run(["/bin/sh", "-c", env.remote_command()], input=env.script.encode(),
                          capture_output=True, timeout=120, check=False)
    parsed = envelope.parse(env, proc.stdout)
    assert parsed.complete and not parsed.anomalies
    for key, r in parsed.results.items():
        assert r.ok, r
        assert "syntax error" not in r.stderr and "unexpected" not in r.stderr, r.stderr
        if "printf '==> %s\\n'" in probes[key].command:  # a file dump (other probes print their own « :: » lines)
            parse_dump(r.stdout, truncated=r.truncated)
    for check_id in IDS:
        cls = CATALOGUE[check_id]
        params = cls.Params(**SAMPLES[check_id])
        declared = cls().probes(params)
        if any(p.transport != "ssh" for p in declared.values()):
            continue
        verdict = cls().judge(params, {name: parsed.results[p.key] for name, p in declared.items()})
        assert isinstance(verdict, Verdict) and verdict.message
