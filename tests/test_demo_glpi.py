"""The demo room's GLPI, without the lab: the demo rubric's GLPI checks graded against the demo seeds.

The stand-ins are the ones ``grader demo`` serves (:mod:`grader.lab.glpi`), on the candidates' loopback
addresses (a free port here): 01 conforme everywhere; 02's ticket, typed as opened during the exam but
recorded by GLPI the day before, non conforme (its asset record conforme); 03's GLPI does not answer:
injoignable, never non conforme. The tokens never reach the stored results.
"""

from __future__ import annotations

from pathlib import Path

import rubrics
from grader.lab import demo, glpi
from grader.lab.glpi_standin.server import StandIn
from grader.lab.standin import running
from grader.model import Status
from grader.plugins import default_catalogue
from grader.roster import load_roster
from grader.rubric import load_rubric
from grader.runner import grade_host, plan


def test_the_demo_rubric_grades_the_demo_glpi_as_planted(tmp_path: Path) -> None:
    user, app = tmp_path / "user", tmp_path / "app"
    user.write_text("jeton-utilisateur-demo\n")
    app.write_text("jeton-application-demo\n")
    user.chmod(0o600)
    app.chmod(0o600)
    text = rubrics.demo_rubric().read_text(encoding="utf-8")
    text = text.replace(str(glpi.USER_TOKEN_FILE), str(user)).replace(str(glpi.APP_TOKEN_FILE), str(app))
    seed01 = glpi.demo_seed("01", "jeton-utilisateur-demo", "jeton-application-demo")
    with running(StandIn(seed01, (glpi.address("01"), 0))) as first:
        seed02 = glpi.demo_seed("02", "jeton-utilisateur-demo", "jeton-application-demo")
        with running(StandIn(seed02, (glpi.address("02"), first.port))):
            path = tmp_path / "bareme.yaml"
            path.write_text(text.replace(f"port: {glpi.PORT}", f"port: {first.port}"), encoding="utf-8")
            cat = default_catalogue()
            rubric = load_rubric(path, cat)
            jobs = [j for j in plan(rubric, load_roster(rubrics.demo_roster(), rubric), cat) if j.host.name == "glpi"]
            reports = [grade_host(j, None) for j in jobs]
    got = {(r.candidate, c.check_id): c for r in reports for c in r.results}
    for cand, truth in demo.PLANTED_TRUTH.items():
        for check in demo.HELPDESK_CHECK_IDS:
            assert got[cand, check].status.value == truth[check], (cand, check, got[cand, check].message)
    assert got["02", "glpi-ticket"].status is Status.NON_CONFORME
    assert "date d'ouverture saisie : 2026-06-15 10:05:00" in str(got["02", "glpi-ticket"].message)
    assert "jeton" not in repr([(c.message, c.observed) for c in got.values()])
