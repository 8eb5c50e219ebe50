"""JUnit XML and the Moodle grade CSV, parsed back the way their consumers read them."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from grader.cli import reports as reports_cli
from grader.cli.common import FrenchGroup
from reports import aggregate, exports
from tests.reports.test_reports import UNREACHABLE_REASON, _host_report, build_store


@pytest.fixture()
def frames(tmp_path: Path):
    store, run_id = build_store(tmp_path)
    yield aggregate.load_frames(store, run_id)
    store.close()


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in root.iter("testcase")}


def test_junit_one_suite_per_candidate_one_case_per_check(frames, tmp_path: Path) -> None:
    path = exports.write_junit(frames, tmp_path / exports.JUNIT_FILE)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["01", "02", "03"]
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("15", "3", "4", "0")
    for suite in suites:
        assert suite.get("tests") == str(len(suite.findall("testcase"))) == "5"
        props = {p.get("name"): p.get("value") for p in suite.find("properties")}
        assert props["candidat"] == suite.get("name") and props["bareme"] == "tssr-ecf-linux"
    names = set(cases(root))
    assert "01.srv-lin.ssh-actif" in names and "03.srv-web.journal-apache" in names and len(names) == 15
    assert all(c.get("classname") == ".".join(n.split(".")[:2]) for n, c in cases(root).items())


def test_junit_outcomes_follow_the_statuses(frames) -> None:
    root = exports.junit_tree(frames).getroot()
    by_name = cases(root)
    conforme = by_name["01.srv-lin.ssh-actif"]
    assert [child.tag for child in conforme] == ["system-out"]
    failure = by_name["01.srv-lin.syslog-distant"].find("failure")
    assert failure is not None and failure.get("type") == "non_conforme"
    assert failure.get("message") == "aucune ligne de renvoi vers 10.0.0.5"
    timed_out = by_name["02.srv-lin.sauvegarde"].find("error")
    assert timed_out is not None and timed_out.get("type") == "erreur"
    unreachable = by_name["03.srv-lin.ssh-actif"]
    assert unreachable.find("failure") is None  # could not tell is never a failure
    assert unreachable.find("error").get("type") == "injoignable"
    assert unreachable.find("error").get("message") == UNREACHABLE_REASON
    out = by_name["01.srv-lin.syslog-distant"].find("system-out").text
    assert "Constaté : aucune règle de renvoi" in out and "Attendu : *.* @@10.0.0.5:514" in out
    assert "Machine : srv-lin (10.0.1.10)" in out and "Critère : CP13.3" in out
    assert "<script>alert(1)</script>" not in ET.tostring(root, encoding="unicode")
    assert by_name["01.srv-lin.ssh-actif"].get("time") == "0.012"


def test_junit_skips_results_no_host_produced_and_drops_invalid_xml_characters(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path, interrupted=True)
    report = _host_report("01", "srv-web")
    report.results[0].observed = "bip\x07 \x1b[0m fin"
    store.save_host(run_id, report)
    path = exports.write_junit(aggregate.load_frames(store, run_id), tmp_path / "j.xml")
    root = ET.parse(path).getroot()  # would raise on a control character
    by_name = cases(root)
    skipped = by_name["02.srv-web.apache-actif"].find("skipped")
    assert skipped is not None and skipped.get("type") == "non_evalue"
    assert root.get("skipped") == "2"
    assert "Constaté : bip [0m fin" in by_name["01.srv-web.apache-actif"].find("system-out").text
    store.close()


def read_moodle(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text), delimiter=","))


def test_moodle_csv_identifier_and_points(frames, tmp_path: Path) -> None:
    path = exports.write_moodle_csv(frames, tmp_path / exports.MOODLE_FILE)
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw
    rows = read_moodle(raw.decode("utf-8"))
    assert list(rows[0]) == ["Numéro d'identification", "Nom", "Correction automatique — tssr-ecf-linux",
                             "Commentaire"]
    item = "Correction automatique — tssr-ecf-linux"
    got = {r["Numéro d'identification"]: float(r[item]) for r in rows}
    pts = aggregate.points(frames)
    assert got == {c: float(pts.loc[c, "obtained"]) for c in ("01", "02", "03")} == {"01": 5.0, "02": 3.0, "03": 1.0}
    assert "4 point(s) non évalué(s)" in next(r for r in rows if r["Numéro d'identification"] == "03")["Commentaire"]


def test_moodle_gives_no_grade_when_nothing_was_conclusive(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path)
    unreachable = _host_report("01", "srv-web", unreachable=True)
    store.save_host(run_id, unreachable)
    lin = _host_report("01", "srv-lin", unreachable=True)
    store.save_host(run_id, lin)
    frames = aggregate.load_frames(store, run_id)
    rows = read_moodle(exports.moodle_csv(frames, item="ECF"))
    assert {r["Numéro d'identification"]: r["ECF"] for r in rows} == {"01": "-", "02": "3", "03": "1"}
    english = read_moodle(exports.moodle_csv(frames, lang="en"))
    assert list(english[0])[:2] == ["ID number", "Name"]
    store.close()


def test_number_format() -> None:
    assert [exports._number(x) for x in (0, 2, 2.5, 0.125, 10.0)] == ["0", "2", "2.5", "0.125", "10"]


def test_cli_junit_and_moodle(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path)
    store.close()
    app = typer.Typer(rich_markup_mode=None, cls=FrenchGroup)
    reports_cli.register(app)
    runner = CliRunner()
    session = tmp_path / "session"
    done = runner.invoke(app, ["junit", "--session", str(session)])
    assert done.exit_code == 0, done.output
    target = session / "rapports" / run_id / exports.JUNIT_FILE
    assert "Export :" in done.output and ET.parse(target).getroot().get("tests") == "15"
    out = tmp_path / "moodle.csv"
    done = runner.invoke(app, ["moodle", "--session", str(session), "--run", run_id, "--out", str(out),
                               "--item", "ECF juin"])
    assert done.exit_code == 0, done.output
    assert {r["Numéro d'identification"]: r["ECF juin"] for r in read_moodle(out.read_text())} == {
        "01": "5", "02": "3", "03": "1"}
    missing = runner.invoke(app, ["junit", "--session", str(tmp_path / "vide")])
    assert missing.exit_code != 0 and "Aucune correction" in str(missing.exception)
