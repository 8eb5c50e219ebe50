"""The ``grader`` command as a proctor or a trainer meets it: French help, located errors, exit codes.

Run as a subprocess (the installed module, a real interpreter, real argv and environment), so
the language detection, the exit codes and what reaches stdout/stderr are what a user gets.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rubrics
from grader.rubric import load_rubric

FIXTURES = Path(__file__).parent / "fixtures" / "rubrics"
SUBCOMMANDS = (["run"], ["preflight"], ["demo"], ["report"], ["referential"], ["lab", "up"], ["lab", "down"], ["lab", "status"],
               ["checks", "list"], ["rubric", "validate"], ["rubric", "schema"], ["export"], ["verify"], ["rejudge"],
               ["junit"], ["moodle"], ["history"], ["diff"],
               ["jury", "note"], ["jury", "override"], ["jury", "list"], ["serve"], ["windows", "record"],
               ["windows", "replay"], ["checks", "show"], ["hosts", "trust"], ["hosts", "list"], ["witness", "install"],
               ["witness", "unit"], ["roster", "from-ansible"], ["pack", "list"], ["pack", "consignes"],
               ["pack", "solve"], ["pack", "selftest"], ["incident", "list"], ["incident", "inject"])


def grader(*args: str, lang: str | None = None, cwd: Path | None = None, timeout: float = 60):
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "GRADER_LANG")}
    env["COLUMNS"] = "200"
    if lang:
        env["LANG"] = lang
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], check=False, capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def test_help_is_french_by_default_and_english_on_demand():
    fr = grader("--help")
    assert fr.returncode == 0
    assert "Utilisation :" in fr.stdout and "Corriger une session" in fr.stdout
    assert "Show this message" not in fr.stdout
    en = grader("--lang", "en", "--help")
    assert "Usage:" in en.stdout and "Grade a session" in en.stdout
    by_env = grader("--help", lang="en_US.UTF-8")
    assert "Grade a session" in by_env.stdout


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_a_french_help(words):
    result = grader(*words, "--help")
    assert result.returncode == 0, result.stderr
    assert "Afficher cette aide et quitter." in result.stdout
    assert "Show this message" not in result.stdout
    english = grader(*words, "--help", "--lang", "en")
    assert "Show this message and exit." in english.stdout


def test_usage_errors_are_french_and_exit_2():
    result = grader("run", "seul.yaml")
    assert result.returncode == 2
    assert "Argument manquant" in result.stderr and "Utilisation :" in result.stderr


def test_five_mistakes_give_five_located_messages():
    result = grader("rubric", "validate", str(FIXTURES / "five-mistakes.yaml"))
    assert result.returncode == 2
    located = [line for line in result.stderr.splitlines()
               if re.match(r".*five-mistakes\.yaml:\d+:\d+: .+ — .+", line)]
    assert len(located) == 5, result.stderr
    assert "5 problème(s)" in result.stderr


def test_valid_rubric_and_roster():
    result = grader("rubric", "validate", str(rubrics.demo_rubric()), "--roster", str(rubrics.demo_roster()))
    assert result.returncode == 0, result.stderr
    demo = load_rubric(rubrics.demo_rubric())
    assert f"Barème valide : {len(demo.checks)} vérifications" in result.stdout and "3 candidats" in result.stdout


ROSTERS = Path(__file__).parent / "fixtures" / "rosters"


def test_rubric_validate_reads_an_excel_roster_and_tries_each_candidates_values(tmp_path):
    # Issue #14: a cp1252 roster (« Hélène Dœuf ») reads; a value that breaks the rubric is located in both files.
    good = grader("rubric", "validate", str(rubrics.demo_rubric()), "--roster", str(ROSTERS / "cp1252-crlf.csv"))
    assert good.returncode == 0, good.stderr
    assert "2 candidats" in good.stdout
    bad = tmp_path / "liste.csv"
    bad.write_bytes("candidat;nom;reseau\r\n01;Hélène Dœuf;10.77.1\r\n02;Yanis;127.0\r\n".encode("cp1252"))
    result = grader("rubric", "validate", str(rubrics.demo_rubric()), "--roster", str(bad))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Barème valide" not in result.stdout
    assert re.search(rf"{re.escape(str(bad))}:3:3: candidat 02 \(reseau=127.0\) : .*127\.0\.10.*demo\.yaml:\d+:\d+",
                     result.stderr), result.stderr
    utf16 = grader("rubric", "validate", str(rubrics.demo_rubric()), "--roster", str(ROSTERS / "utf16-tab.csv"),
                   "--separator", "tab")
    assert utf16.returncode == 0, utf16.stderr


def test_rubric_validate_without_a_roster_says_it_used_samples():
    result = grader("rubric", "validate", str(rubrics.demo_rubric()))
    assert result.returncode == 0, result.stderr
    assert "valeurs d'essai" in result.stdout and "--roster" in result.stdout


def test_a_bad_separator_is_exit_2_without_a_traceback():
    result = grader("rubric", "validate", str(rubrics.demo_rubric()), "--roster", str(rubrics.demo_roster()),
                    "--separator", "|")
    assert result.returncode == 2
    assert "séparateur « | » inconnu" in result.stderr and "Traceback" not in result.stderr


def test_checks_list_filters_by_platform():
    linux = grader("checks", "list", "--platform", "linux")
    ids = set(re.findall(r"linux\.[a-z_0-9]+", linux.stdout))
    assert {"linux.service_active", "linux.http_answers", "linux.rsyslog_forward"} <= ids
    assert "Le service {service} est actif." in linux.stdout
    assert "linux." not in grader("checks", "list", "--platform", "windows").stdout


def test_schema_is_json():
    schema = json.loads(grader("rubric", "schema").stdout)
    assert {"hosts", "checks"} <= set(schema["properties"])


def test_report_without_a_session_is_a_clear_error(tmp_path):
    result = grader("report", "--session", str(tmp_path / "nulle-part"))
    assert result.returncode == 2
    assert "Aucune correction" in result.stderr


def test_run_against_a_closed_port_is_injoignable_with_reports(tmp_path):
    """A whole run without the lab: the host refuses connections, every check is injoignable."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    rubric = tmp_path / "bareme.yaml"
    text = rubrics.demo_rubric().read_text(encoding="utf-8")
    text = text.replace("/var/lib/grader/lab/id_ed25519", str(key)).replace('address: "{{ reseau }}.10"',
                                                                             'address: "127.0.0.1"\n    port: 9')
    for suffix in (".20", ".2", ".30", ".40", ".60", ".25", ".3", ".4"):  # the DC, the routed networks, Zabbix, the IPBX
        text = text.replace(f'address: "{{{{ reseau }}}}{suffix}"', 'address: "127.0.0.1"\n    port: 9')
    text = text.replace('address: "{{ hyperviseur }}"', 'address: "127.0.0.1"\n    port: 9')  # the shared hypervisor
    text = text.replace('address: "10.77.{{ candidat | int }}.50"', 'address: "127.0.0.1"\n    port: 9')  # its VM
    text = text.replace('address: "127.77.{{ candidat | int }}.1"', 'address: "127.0.0.1"').replace(
        "port: 8880", "port: 9")  # the candidate's GLPI (its API's port is a channel option)
    rubric.write_text(text, encoding="utf-8")
    roster = tmp_path / "candidats.csv"
    roster.write_text("candidat;nom;reseau\n07;Test;10.0.0\n", encoding="utf-8")
    session = tmp_path / "session"
    result = grader("run", str(rubric), str(roster), "--session", str(session), "--snapshot")
    assert result.returncode == 1, result.stdout + result.stderr  # finished, not conclusive
    assert "l'hôte srv-lin du candidat 07 (127.0.0.1) : 127.0.0.1 refuse la connexion sur le port 9" in result.stdout
    summary_row = next(line for line in result.stdout.splitlines() if "07 Test" in line)
    demo = load_rubric(rubric)
    points = sum(c.points * len(demo.targets(c)) for c in demo.checks)
    n_checks = sum(len(demo.targets(c)) for c in demo.checks)
    assert [cell.strip() for cell in summary_row.split("│")[2:8]] == ["·", "·", "·", str(n_checks), "·", f"0/{points:g}"]
    for host in demo.hosts:  # every host of the rubric is said unreachable in plain words
        why = {"zabbix": "l'API Zabbix ne répond pas", "glpi": "l'API de GLPI ne répond pas"}.get(
            host.transport, "127.0.0.1")  # a REST channel's words
        assert f"l'hôte {host.name} du candidat 07 (127.0.0.1) : {why}" in result.stdout
    assert "Fenêtre de collecte" in result.stdout
    run_dirs = list((session / "rapports").iterdir())
    assert len(run_dirs) == 1
    page = (run_dirs[0] / "candidat-07.html").read_text(encoding="utf-8")
    assert "injoignable" in page
    assert str(key) not in page  # where the secret lives is not the secret, but keep reports free of it
    again = grader("report", "--session", str(session), "--lang", "en")
    assert again.returncode == 0 and "session.html" in again.stdout
