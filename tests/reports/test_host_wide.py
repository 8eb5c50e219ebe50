"""A host-wide anomaly (e.g. a login shell whose rc files redefine ``exec``) is shown beside every
verdict of its host, in the candidate page and the spreadsheet, in French and in English; an
ordinary anomaly stays in the hosts table only (issue #11 §3)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from grader.roster import Candidate
from grader.store import Store
from grader.transports.envelope import shell_anomalies
from reports.html import write_reports
from tests.reports.test_reports import RUBRIC_TEXT, _articles, _host_report

TAMPERED = shell_anomalies("/bin/bash", ["exec is a function"])[0]


def _store(tmp_path: Path) -> tuple[Store, str]:
    store = Store(tmp_path / "session")
    rubric = SimpleNamespace(rubric="tssr-ecf-linux", title="ECF", version="2", source=Path("r.yaml"), text=RUBRIC_TEXT)
    run_id = store.new_run(run_id="2026-12-06-1500", rubric=rubric, roster_text="id;nom\n",
                           candidates=[Candidate("01", "Alice Martin")])
    store.save_host(run_id, _host_report("01", "srv-lin", anomalies=(TAMPERED, "Bienvenue sur srv-lin")))
    store.save_host(run_id, _host_report("01", "srv-web", anomalies=("Bienvenue sur srv-web",)))
    store.finish_run(run_id, "termine")
    return store, run_id


def test_a_host_wide_anomaly_is_beside_every_verdict_of_its_host_only(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    out = tmp_path / "rapports"
    write_reports(store, run_id, out)
    html = (out / "candidat-01.html").read_text(encoding="utf-8")
    articles = _articles(html)
    on_lin = [inner for attrs, inner in articles if attrs["host"] == "srv-lin"]
    on_web = [inner for attrs, inner in articles if attrs["host"] == "srv-web"]
    assert on_lin and on_web
    assert all('class="host-wide"' in inner and "exec redéfini(s)" in inner for inner in on_lin)
    assert not any('class="host-wide"' in inner for inner in on_web)
    assert all("Bienvenue" not in inner for inner in on_lin)  # an ordinary anomaly stays in the hosts table

    table = pd.read_csv(out / "resultats.csv", sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    flagged = table[table["alerte_hote"] != ""]
    assert set(flagged["machine"]) == {"srv-lin"} and len(flagged) == len(on_lin)
    assert flagged["alerte_hote"].str.contains("exec redéfini").all()


def test_the_host_wide_anomaly_is_said_in_english_in_an_english_report(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    out = tmp_path / "reports"
    write_reports(store, run_id, out, lang="en")
    html = next(out.glob("*01.html")).read_text(encoding="utf-8")
    assert "exec redefined by a function or an alias" in html and "Host warning" in html


def test_the_workbook_says_the_host_wide_anomaly_in_each_verdict_of_its_host(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from reports.aggregate import load_frames
    from reports.xlsx import write_xlsx

    store, run_id = _store(tmp_path)
    path = write_xlsx(load_frames(store, run_id), tmp_path / "resultats.xlsx")
    cells = [str(c.value) for ws in load_workbook(path).worksheets for row in ws.iter_rows() for c in row
             if c.value is not None]
    hosts = [v for v in cells if v.startswith("srv-")]
    warned = [v for v in cells if "exec redéfini(s)" in v]
    assert warned and len(warned) == sum(1 for v in hosts if v.startswith("srv-lin"))
