"""Untrusted text never becomes a spreadsheet formula, in resultats.csv or in the workbook.

A roster name or a host's output that starts with ``=``, ``+``, ``-`` or ``@`` reaches the
jury's spreadsheet as text. With pandas 3, text columns are no longer ``object``: a guard that
tested the dtype let ``=HYPERLINK(...)`` through, so every column is guarded.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pandas as pd
import pytest

from grader.roster import Candidate
from grader.store import Store
from reports.aggregate import load_frames
from reports.html import write_csv
from reports.xlsx import write_workbook
from tests.reports.test_reports import RUBRIC_TEXT, _host_report

HOSTILE = ('=HYPERLINK("http://x","clic")', "+33 6 12", "-2+3", "@SUM(A1)")


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "session")
    rubric = SimpleNamespace(rubric="r", title="t", version="1", source=Path("r.yaml"), text=RUBRIC_TEXT)
    run_id = store.new_run(run_id="2026-12-06-1400", rubric=rubric, roster_text="id;nom\n",
                           candidates=[Candidate("01", HOSTILE[0])])
    report = _host_report("01", "srv-web")
    report.results[0].observed, report.results[1].observed, report.results[0].expected = HOSTILE[1:]
    store.save_host(run_id, report)
    yield store, run_id
    store.close()


def test_csv_cells_that_would_be_formulas_are_text(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    st, run_id = store
    path = write_csv(load_frames(st, run_id), tmp_path / "resultats.csv")
    table = pd.read_csv(path, sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert set(table["nom"]) == {"'" + HOSTILE[0]}
    cells = [v for col in table.columns for v in table[col]]
    assert not any(v.startswith(("=", "+", "-", "@")) for v in cells)
    assert {"'" + v for v in HOSTILE[1:3]} <= set(table["constate"]) and "'" + HOSTILE[3] in set(table["attendu"])


def test_workbook_cells_that_would_be_formulas_are_text(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    st, run_id = store
    path = write_workbook(st, run_id, tmp_path / "out")
    book = openpyxl.load_workbook(path)
    formulas = [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row
                if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@")) and c.data_type == "f"]
    assert formulas == []
    texts = {c.value for ws in book.worksheets for row in ws.iter_rows() for c in row if c.data_type == "s"}
    assert HOSTILE[0] in texts or any(HOSTILE[0] in str(t) for t in texts)
