"""The session sheet's heatmap, read back with openpyxl: the HTML page's cells, shades and thresholds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from reports import aggregate
from reports.html import HEAT_COLOURS, HEAT_HATCH, render_session
from reports.labels import text
from reports.xlsx import write_workbook
from tests.reports.test_reports import build_store


@pytest.fixture()
def session(tmp_path: Path) -> tuple[Any, Any]:
    store, run_id = build_store(tmp_path)
    frames = aggregate.load_frames(store, run_id)
    path = write_workbook(store, run_id, tmp_path / "out", frames=frames)
    yield openpyxl.load_workbook(path).worksheets[0], frames
    store.close()


def _row_of(ws, value: str) -> int:
    return next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == value)


def _rgb(cell) -> str:
    return str(cell.fill.fgColor.rgb)[-6:].upper()


def _expected_bucket(ok: int, nc: int, inc: int) -> str:
    """Thresholds spelled out independently of the code: five shades of 20 %, 100 % in the darkest."""
    if ok + nc == 0:
        return "unknown" if inc else "empty"
    return str(min(int(ok / (ok + nc) * 5), 4))


def test_heatmap_cells_are_coloured_like_the_html_page(session) -> None:
    ws, frames = session
    title = _row_of(ws, text("fr", "h.heatmap"))
    head = title + 2
    assert ws.cell(head, 1).value == "Candidat"
    comps = list(dict.fromkeys(aggregate.competence_counts(frames)["competence"]))
    assert [ws.cell(head, 3 + i).value for i in range(len(comps))] == [c or text("fr", "mx.outside") for c in comps]
    counts = aggregate.competence_counts(frames)
    seen: set[str] = set()
    for k, cid in enumerate(frames.candidates["candidate"]):
        row = head + 1 + k
        assert ws.cell(row, 1).value == cid
        for i, code in enumerate(comps):
            rec = counts[(counts["candidate"] == cid) & (counts["competence"] == code)].iloc[0]
            ok, nc = int(rec["conforme"]), int(rec["non_conforme"])
            inc = sum(int(rec[s]) for s in ("erreur", "injoignable", "non_evalue"))
            bucket = _expected_bucket(ok, nc, inc)
            seen.add(bucket)
            cell = ws.cell(row, 3 + i)
            if bucket.isdigit():
                assert cell.fill.patternType == "solid" and _rgb(cell) == HEAT_COLOURS[int(bucket)], (cid, code)
                assert cell.value.startswith(f"{round(ok / (ok + nc) * 100)} %")
                assert f"{ok}/{ok + nc} conformes" in cell.value
            elif bucket == "unknown":
                assert cell.fill.patternType == "lightUp" and _rgb(cell) == HEAT_HATCH
                assert "? rien n'a conclu" in cell.value
            else:
                assert cell.fill.patternType == "solid" and _rgb(cell) == "FFFFFF"
            if inc and ok + nc:
                assert f"? {inc} non concluante(s)" in cell.value
    # the fixture has a full cell, a half cell, an empty share and a cell where nothing concluded
    assert {"4", "2", "0", "unknown"} <= seen


def test_unreached_machine_is_named_in_its_cells(session) -> None:
    ws, frames = session
    head = _row_of(ws, text("fr", "h.heatmap")) + 2
    row03 = head + 1 + list(frames.candidates["candidate"]).index("03")
    said = [ws.cell(row03, c).value or "" for c in range(3, ws.max_column + 1)]
    assert any("⊘ srv-lin injoignable" in s for s in said)


def test_legend_gives_every_shade_and_the_stripes(session) -> None:
    ws, _ = session
    row = _row_of(ws, text("fr", "heat.scale") + text("fr", "colon"))
    keys = [ws.cell(row, 3 + i) for i in range(len(HEAT_COLOURS) + 1)]
    assert [_rgb(c) for c in keys[:-1]] == list(HEAT_COLOURS)
    assert [c.value for c in keys[:-1]] == ["0 à 19 %", "20 à 39 %", "40 à 59 %", "60 à 79 %", "80 à 100 %"]
    assert keys[-1].fill.patternType == "lightUp" and "aucune vérification n'a conclu" in keys[-1].value


def test_html_stylesheet_uses_the_same_shades(session) -> None:
    _, frames = session
    html = render_session(frames, "fr")
    shades = dict(re.findall(r"\.h-(\d) \{ background: #([0-9A-Fa-f]{6}); \}", html))
    assert [shades[str(i)].upper() for i in range(len(HEAT_COLOURS))] == list(HEAT_COLOURS)
    assert f"#{HEAT_HATCH}" in html


def test_english_heatmap(tmp_path: Path) -> None:
    store, run_id = build_store(tmp_path)
    try:
        path = write_workbook(store, run_id, tmp_path / "out", lang="en")
    finally:
        store.close()
    ws = openpyxl.load_workbook(path).worksheets[0]
    row = _row_of(ws, "Competence map: share of compliant checks")
    assert ws.cell(row + 2, 1).value == "Candidate"
    assert ws.cell(_row_of(ws, "Scale:"), 3).value == "0 to 19%"
