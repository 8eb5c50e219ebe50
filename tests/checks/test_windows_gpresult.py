"""``windows.gpo_applied``: gpresult /r /scope computer, read by its layout (recordings in tests/winrm_standin)."""

from __future__ import annotations

import json

import pytest

from checks.windows.gpresult import GPRESULT, GpoApplied, parse_gpresult
from grader.check import evaluate
from grader.model import Status
from tests.winrm_standin.recordings import load
from tests.winrm_standin.recordings import result as rec


def text_of(recording: str) -> str:
    """gpresult's own text, as the probe's JSON carries it (one string per line)."""
    return "\n".join(json.loads(load(recording).output)["Lines"])


def judge(recording: str, **params):
    return evaluate(GpoApplied(), GpoApplied.Params(**params), {"gpresult": rec(recording, GPRESULT)})


def test_the_layout_is_read_in_english_and_in_french():
    en = parse_gpresult(text_of("gpresult_computer_applied"))
    assert en.applied == ["Sécurité des postes", "Default Domain Policy"]
    assert en.filtered == {"Fond d'écran": "Filtering:  Disabled (GPO)",
                           "Local Group Policy": "Filtering:  Not Applied (Empty)"}
    assert en.header[0] == "CN=PC-COMPTA01,OU=Postes,DC=tssr,DC=lan"
    fr = parse_gpresult(text_of("gpresult_computer_fr_denied"))
    assert fr.applied == ["Default Domain Policy"]
    assert fr.filtered["Sécurité des postes"] == "Filtrage :  Refusé (sécurité)"
    with pytest.raises(ValueError, match="partie ordinateur"):
        parse_gpresult("INFO: The user does not have RSOP data.\r\n")


@pytest.mark.parametrize(("recording", "params", "status", "said"), [
    ("gpresult_computer_applied", {"gpo": "sécurité des postes"}, Status.CONFORME, "a appliqué"),
    ("gpresult_computer_applied", {"gpo": "Fond d'écran"}, Status.NON_CONFORME, "Disabled (GPO)"),
    ("gpresult_computer_applied", {"gpo": "Lecteurs réseau"}, Status.NON_CONFORME, "n'atteint pas"),
    ("gpresult_computer_applied", {"gpo": "Fond d'écran", "applied": False}, Status.CONFORME, "n'applique pas"),
    ("gpresult_computer_fr_denied", {"gpo": "Sécurité des postes"}, Status.NON_CONFORME, "Refusé (sécurité)"),
    ("gpresult_computer_fr_denied", {"gpo": "Default Domain Policy", "applied": False}, Status.NON_CONFORME,
     "ne devrait pas"),
])
def test_verdicts(recording, params, status, said):
    v = judge(recording, **params)
    assert v.status is status and said in v.message, v.message


def test_a_gpresult_that_failed_is_erreur():
    v = evaluate(GpoApplied(), GpoApplied.Params(gpo="x"), {"gpresult": rec("command_not_found_dhcp", GPRESULT)})
    assert v.status is Status.ERREUR


RUBRIC = """\
rubric: postes
title: Stratégies appliquées aux postes
credentials:
  admin: {{username: grader, password_env: GRADER_TEST_WINRM}}
hosts:
  - {{name: pc-compta01, role: poste, platform: windows, address: 127.0.0.1, transport: winrm, port: {port},
     credential: admin, options: {{winrm: {{auth: ntlm}}}}}}
checks:
  - {{id: postes-securite, check: windows.gpo_applied, host: pc-compta01, params: {{gpo: Sécurité des postes}},
     criterion: CP1.2}}
  - {{id: postes-fond, check: windows.gpo_applied, host: pc-compta01, params: {{gpo: "Fond d'écran"}},
     criterion: CP1.2}}
"""


def test_gpresult_graded_end_to_end_through_the_winrm_batch(tmp_path, monkeypatch):
    """The rubric, the plan, pywinrm and the PowerShell envelope, against the WinRM stand-in answering the recording."""
    from grader.plugins import default_catalogue
    from grader.roster import Candidate
    from grader.rubric import load_rubric
    from grader.runner import grade_host, plan
    from tests.winrm_standin import Standin, WindowsHost

    monkeypatch.setenv("GRADER_TEST_WINRM", "Mot-de-passe-1")
    pc = WindowsHost("pc-compta01")
    with Standin(pc, auth=("ntlm",)) as server:
        path = tmp_path / "bareme.yaml"
        path.write_text(RUBRIC.format(port=server.port), encoding="utf-8")
        [job] = plan(load_rubric(path), [Candidate("01")], default_catalogue())
        assert len(job.unique_probes()) == 1  # one gpresult for every GPO asked about
        pc.answer(GPRESULT.command, "gpresult_computer_applied")
        report = grade_host(job, None)
    got = {r.check_id: r for r in report.results}
    assert got["postes-securite"].status is Status.CONFORME, got["postes-securite"].message
    assert got["postes-fond"].status is Status.NON_CONFORME and "Disabled (GPO)" in got["postes-fond"].message
    assert "Sécurité des postes" in report.probes[0].stdout  # the client's own words kept as evidence
