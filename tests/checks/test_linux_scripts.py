"""script.bash: bash -n on the host, shellcheck on the grader side, header, usage, artefact.

Scripts written for the test: sauvegarde.sh (documented, one shellcheck info), casse.sh (a stray
``fi``: bash -n fails), brouillon.sh (no header, shellcheck errors and warnings). Their bash -n
and shellcheck outputs were captured on a Debian 12 machine (data/script_*, data/shellcheck_*);
the artefact's stat line is the one a lab host printed for the tarball its timer had just written.
"""

from __future__ import annotations

from dataclasses import replace

import pydantic
import pytest

from checks.linux import scripts
from checks.linux.scripts import BashScript, documented, has_usage, header, run_shellcheck
from grader.check import analysed, evaluate
from grader.model import ProbeResult, Status

ARTEFACT = "regular file|235246|1796574032\n:: stat 0\n:: now 1796574046\n"
NO_ARTEFACT = ":: stat 1\n:: now 1796574046\n"


def verdict(capture, name, params, shellcheck=True, artefact=None, result=None):
    """The judge on the captured probes of ``name`` (and shellcheck's captured output when asked)."""
    p = BashScript.Params(path=f"/usr/local/bin/{name}.sh", **params)
    results = {"text": capture(f"script_{name}_text.txt"), "syntax": capture(f"script_{name}_syntax.txt")}
    if artefact is not None:
        results["artefact"] = result(artefact)
    assert set(results) == set(BashScript().probes(p))
    if shellcheck and p.shellcheck != "off":
        results["shellcheck"] = capture(f"shellcheck_{name}.txt")
    return BashScript().judge(p, results)


def test_documented_script_with_an_info_finding(capture, result):
    v = verdict(capture, "sauvegarde", {"usage": True, "artefact": "/var/backups/etc.tar.gz",
                                         "artefact_max_age_hours": 24}, artefact=ARTEFACT, result=result)
    assert v.status is Status.CONFORME
    assert "bash -n : aucune erreur" in v.observed and "SC2086 (info) ligne 7" in v.observed
    assert "en-tête : sauvegarde.sh : archive /etc" in v.observed and "texte d'usage présent" in v.observed
    assert "/var/backups/etc.tar.gz : regular file, 235246 octets" in v.observed
    v = verdict(capture, "sauvegarde", {"shellcheck": "info"})
    assert v.status is Status.NON_CONFORME and "1 constat(s) de niveau info" in v.message


def test_syntax_error(capture):
    v = verdict(capture, "casse", {"documented": False, "shellcheck": "off"})
    assert v.status is Status.NON_CONFORME and "syntaxe" in v.message and "line 6" in v.observed


def test_undocumented_script_with_warnings(capture):
    v = verdict(capture, "brouillon", {})
    assert v.status is Status.NON_CONFORME
    assert "3 constat(s) de niveau warning" in v.message and "en-tête" in v.message
    assert "SC2164 (warning) ligne 2" in v.observed
    v = verdict(capture, "brouillon", {"shellcheck": "error", "documented": False})
    assert v.status is Status.NON_CONFORME and "1 constat(s) de niveau error" in v.message
    assert verdict(capture, "brouillon", {"shellcheck": "off", "documented": False}).status is Status.CONFORME


def test_absent_script(capture):
    p = BashScript.Params(path="/usr/local/bin/absent.sh")
    v = BashScript().judge(p, {"text": capture("script_absent_text.txt"), "syntax": capture("script_absent_text.txt")})
    assert v.status is Status.NON_CONFORME and "absent" in v.observed
    assert BashScript().analyse(p, {"text": capture("script_absent_text.txt")}) == {}


def test_artefact_absent_empty_or_stale(capture, result):
    params = {"artefact": "/var/backups/etc.tar.gz", "artefact_max_age_hours": 1, "shellcheck": "off"}
    v = verdict(capture, "sauvegarde", params, artefact=NO_ARTEFACT, result=result)
    assert v.status is Status.NON_CONFORME and "n'existe pas" in v.message
    v = verdict(capture, "sauvegarde", params, artefact=ARTEFACT.replace("|235246|", "|0|"), result=result)
    assert v.status is Status.NON_CONFORME and "vide" in v.message
    stale = ARTEFACT.replace(":: now 1796574046", ":: now 1796584046")  # the host's clock, 2.8 h later
    v = verdict(capture, "sauvegarde", params, artefact=stale, result=result)
    assert v.status is Status.NON_CONFORME and "plus de 1 h" in v.message and "il y a 2.8 h" in v.observed
    v = verdict(capture, "sauvegarde", {**params, "artefact_max_age_hours": 3}, artefact=stale, result=result)
    assert v.status is Status.CONFORME
    assert verdict(capture, "sauvegarde", params, artefact="", result=result).status is Status.ERREUR


def test_truncated_script_is_erreur(capture):
    p = BashScript.Params(path="/usr/local/bin/sauvegarde.sh")
    text = replace(capture("script_sauvegarde_text.txt"), truncated=True)
    assert BashScript().analyse(p, {"text": text}) == {}
    v = BashScript().judge(p, {"text": text, "syntax": capture("script_sauvegarde_syntax.txt")})
    assert v.status is Status.ERREUR


def test_header_and_usage_detection():
    assert header("#!/bin/bash\n# shellcheck disable=SC2086\n\n# Sauvegarde des sites web\n#####\nset -e\n# plus loin\n") \
        == ["Sauvegarde des sites web"]
    assert not documented("#!/bin/bash\n# TODO\nset -e\n# ce commentaire vient après le code\n")
    assert documented("#!/bin/sh\n\n#   Rotation des journaux de l'application\necho\n")
    assert has_usage('usage() {\n  echo "$0 SOURCE DEST"\n}\n') and has_usage('echo "Usage : $0 fichier"\n')
    assert has_usage("function usage {\n") and not has_usage("# l'usage de ce script est simple\n")


@pytest.mark.skipif(scripts.shellcheck_executable() is None, reason="shellcheck absent (apt-get install shellcheck)")
def test_shellcheck_runs_on_the_grader_on_stdin_and_matches_the_capture(capture):
    text = capture("script_brouillon_text.txt").stdout
    r = run_shellcheck(text)
    assert r.transport == "grader" and r.key.startswith("grader-shellcheck-") and r.exit_code == 1
    assert r.stdout == capture("shellcheck_brouillon.txt").stdout
    assert run_shellcheck(text).key == r.key and run_shellcheck(text + "\n").key != r.key
    assert run_shellcheck("#!/bin/bash\necho ok\n").exit_code == 0


def test_shellcheck_missing_on_the_grader_is_erreur_saying_why(capture, monkeypatch):
    monkeypatch.setattr(scripts, "shellcheck_executable", lambda: None)
    check, p = BashScript(), BashScript.Params(path="/usr/local/bin/sauvegarde.sh")
    collected = {"text": capture("script_sauvegarde_text.txt"), "syntax": capture("script_sauvegarde_syntax.txt")}
    extra = analysed(check, p, collected)
    assert set(extra) == {"shellcheck"} and "shellcheck est absent" in extra["shellcheck"].error
    v = evaluate(check, p, {**collected, **extra})
    assert v.status is Status.ERREUR and "shellcheck est absent de la machine du correcteur" in v.message


def test_shellcheck_bounds(monkeypatch):
    monkeypatch.setattr(scripts, "SHELLCHECK_MAX_INPUT", 10)
    monkeypatch.setattr(scripts, "shellcheck_executable", lambda: "/bin/false")
    assert "trop long" in run_shellcheck("#!/bin/bash\necho 1\n").error


def test_an_analysis_that_raises_is_erreur(capture, monkeypatch):
    def boom(self, params, results):
        raise RuntimeError("bug")

    monkeypatch.setattr(BashScript, "analyse", boom)
    p = BashScript.Params(path="/usr/local/bin/sauvegarde.sh")
    collected = {"text": capture("script_sauvegarde_text.txt"), "syntax": capture("script_sauvegarde_syntax.txt")}
    extra = analysed(BashScript(), p, collected)
    assert evaluate(BashScript(), p, {**collected, **extra}).status is Status.ERREUR
    assert analysed(BashScript(), p, {**collected, "syntax": None}) == {}  # a lost probe: no analysis at all


def test_unreadable_shellcheck_output_is_erreur(capture):
    p = BashScript.Params(path="/usr/local/bin/sauvegarde.sh")
    bad = ProbeResult(key="grader-x", transport="grader", command="shellcheck", stdout="", stderr="boom", exit_code=3)
    v = BashScript().judge(p, {"text": capture("script_sauvegarde_text.txt"),
                               "syntax": capture("script_sauvegarde_syntax.txt"), "shellcheck": bad})
    assert v.status is Status.ERREUR and "shellcheck" in v.message


def test_params_and_probes():
    with pytest.raises(pydantic.ValidationError):
        BashScript.Params(path="sauvegarde.sh")
    with pytest.raises(pydantic.ValidationError):
        BashScript.Params(path="/x.sh", shellcheck="fatal")
    probes = BashScript().probes(BashScript.Params(path="/opt/mon script.sh", artefact="/var/backups/a b.tgz"))
    assert probes["text"].command == "/bin/cat -- '/opt/mon script.sh'"
    assert probes["syntax"].command == "/bin/bash -n -- '/opt/mon script.sh'"
    assert "/usr/bin/stat -L -c '%F|%s|%Y' -- '/var/backups/a b.tgz'" in probes["artefact"].command
    assert "/bin/date +%s" in probes["artefact"].command
