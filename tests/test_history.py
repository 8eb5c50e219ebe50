"""The trainer's follow-up: history of a candidate across runs and the diff of two runs, from the store."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from grader.cli.history import bar, diff, history
from grader.roster import load_roster
from grader.rubric import load_rubric
from grader.store import Store
from tests.test_store import DEMO, DEMO_ROSTER, make_report


@pytest.fixture()
def session(tmp_path):
    """Three practice runs: candidate 01 improves, candidate 02 regresses on one check then vanishes."""
    rubric = load_rubric(DEMO)
    candidates = load_roster(DEMO_ROSTER, rubric)
    store = Store(tmp_path)
    plan = {
        "20260101-080000-aaaa": {"01": ("non_conforme", "non_conforme"), "02": ("conforme", "conforme")},
        "20260108-080000-bbbb": {"01": ("conforme", "non_conforme"), "02": ("conforme", "erreur")},
        "20260115-080000-cccc": {"01": ("conforme", "conforme")},
    }
    for run_id, hosts in plan.items():
        store.new_run(run_id=run_id, rubric=rubric, roster_text="", candidates=candidates)
        store._write([("UPDATE runs SET started=? WHERE id=?", (run_id[:8] + "T08:00:00", run_id))])
        for cand, statuses in hosts.items():
            store.save_host(run_id, make_report(cand, statuses=statuses))
        store.finish_run(run_id, "termine")
    store.close()
    return tmp_path


def test_history_lists_each_attempt_with_points(session):
    rows = history(session, "01")
    assert [r["run"] for r in rows] == ["20260101-080000-aaaa", "20260108-080000-bbbb", "20260115-080000-cccc"]
    assert [(r["points"], r["total"]) for r in rows] == [(0, 3), (1, 3), (3, 3)]  # check-0 is 1 pt, check-1 2 pts
    assert len(history(session, "02")) == 2 and history(session, "99") == []


def test_diff_says_better_worse_and_absent(session):
    changes = diff(session, "20260101-080000-aaaa", "20260108-080000-bbbb")
    assert {(c["candidate"], c["check_id"], c["before"], c["after"], c["change"]) for c in changes} == {
        ("01", "check-0", "non_conforme", "conforme", 1),
        ("02", "check-1", "conforme", "erreur", -2),
    }
    gone = diff(session, "20260108-080000-bbbb", "20260115-080000-cccc")
    assert {(c["candidate"], c["after"]) for c in gone if c["candidate"] == "02"} == {("02", None)}


def test_bar():
    assert bar(0.5, 10) == "█████░░░░░" and bar(2) == "█" * 20 and bar(-1, 4) == "░░░░"


def test_commands_in_french(session):
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("LANG", None)
    out = subprocess.run([sys.executable, "-m", "grader.cli", "history", "01", "--session", str(session)],
                         check=False, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "Historique du candidat 01" in out.stdout and "3/3" in out.stdout and "100%" in out.stdout
    out = subprocess.run([sys.executable, "-m", "grader.cli", "diff", "20260101-080000-aaaa", "20260108-080000-bbbb",
                          "--session", str(session)], check=False, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "2 vérification(s) changée(s) sur 4 comparée(s) ; 1 en mieux, 1 en moins bien." in out.stdout
    out = subprocess.run([sys.executable, "-m", "grader.cli", "diff", "20260101-080000-aaaa", "nope",
                          "--session", str(session)], check=False, capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "introuvable" in out.stderr
