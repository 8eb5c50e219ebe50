"""The jury's workbook, ``resultats.xlsx``: one session sheet and one RC grid per candidate.

* **Session** — candidates × competences: for every competence the rubric touches, the number
  of checks in each of the five statuses (never merged: ``erreur``, ``injoignable`` and
  ``non évalué`` are kept apart from ``non conforme``), the same over all competences, and the
  points (conformes, non conformes, non évalués, possibles); under it, the HTML page's heatmap
  (candidates × competences, share of conforme among the checks that concluded) as coloured
  cells with the same shades and thresholds, and its scale.
* **Candidat <id>** — laid out like the grid of the certification referential (RC): for each
  touched competence, *every* RC criterion (id, exact French text, modalities), under it the
  checks that observe it (sentence, status, observed, expected, explanation, host, time,
  points) or "non évaluable automatiquement — à évaluer en entretien technique", and the
  "Observations du jury" column: the jury's observations and decisions recorded in the store
  (``grader jury``, the web view), else empty to fill in by hand. The status column always
  holds the automated status; a decision of the jury is written beside it, never over it.

Everything comes from :mod:`reports.aggregate` (``criteria_table``, ``competence_counts``,
``status_counts``, ``points``); nothing is recomputed here. Candidate output is untrusted: a
value that starts with ``=`` is stored as text, never as a formula, and characters a
workbook cannot hold are dropped.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from grader.store import Store
from reports import aggregate
from reports.aggregate import Frames
from reports.html import HEAT_COLOURS, HEAT_HATCH, fmt_datetime, heat_grid, heat_legend
from reports.labels import N_, STATUSES, labels, normalize_lang, run_state_label, status_label, text

XLSX_FILE = "resultats.xlsx"
MAX_CELL = 32_767  # Excel's limit on the characters of one cell
SESSION_HEADER_ROW = 5  # first of the two heading rows of the session table (the second names the statuses)

# Columns of a candidate's grid, in order (label keys).
GRID_COLUMNS = (
    ("competence", N_("xlsx.col.competence"), 11), ("criterion", N_("xlsx.col.criterion"), 9),
    ("criterion_text", N_("xlsx.col.criterion_text"), 38), ("modalities", N_("xlsx.col.modalities"), 20),
    ("check_id", N_("xlsx.col.check"), 16), ("sentence", N_("xlsx.col.sentence"), 36), ("status", N_("xlsx.col.status"), 14),
    ("observed", N_("check.observed"), 30), ("expected", N_("check.expected"), 26), ("message", N_("check.message"), 30),
    ("host", N_("check.host"), 16), ("time", N_("xlsx.col.time"), 19), ("points", N_("xlsx.col.points"), 8),
    ("observations", N_("crit.observations"), 40),
)
COL = {key: i + 1 for i, (key, _, _) in enumerate(GRID_COLUMNS)}
# Cells shared by every check row of one criterion (merged vertically).
CRITERION_CELLS = ("competence", "criterion", "criterion_text", "modalities", "observations")

ACCENT = "1F3A5F"
STATUS_COLOURS = {  # (text, background): the report's palette
    "conforme": ("1E5631", "E5F1E7"), "non_conforme": ("9B1C1C", "FAE8E8"), "erreur": ("7A4300", "FDF0DC"),
    "injoignable": ("4F2A7A", "EFE8F7"), "non_evalue": ("444444", "ECECEC"), "jury": ("1F3A5F", "E8EEF6"),
}
THIN = Side(style="thin", color="C8C8C8")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")
HEAD_FILL = PatternFill("solid", fgColor="F4F4F2")
BANNER_FILL = PatternFill("solid", fgColor="E8EEF6")
_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\]")


def cell_text(value: Any) -> str:
    """Untrusted text as a workbook can hold it: no control characters, at most 32,767 characters."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    shown = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    if len(shown) > MAX_CELL:
        marker = " […]"
        shown = shown[: MAX_CELL - len(marker)] + marker
    return shown


def _put(ws: Worksheet, row: int, col: int, value: Any, **style: Any) -> Any:
    """Write one cell; strings are always text (a leading ``=`` never becomes a formula)."""
    if isinstance(value, str) or value is None:
        cell = ws.cell(row=row, column=col, value=cell_text(value))
        cell.data_type = "s"
    else:
        cell = ws.cell(row=row, column=col, value=value)
    for name, val in style.items():
        setattr(cell, name, val)
    return cell


def _status_style(status: str) -> dict[str, Any]:
    ink, bg = STATUS_COLOURS.get(status, ("1A1A1A", "FFFFFF"))
    return {"font": Font(bold=True, color=ink), "fill": PatternFill("solid", fgColor=bg), "border": BOX,
            "alignment": WRAP}


def sheet_name(title: str, taken: set[str]) -> str:
    """A valid, unique sheet name: no ``[]:*?/\\``, at most 31 characters, unique ignoring case."""
    base = _SHEET_UNSAFE.sub("_", title).strip("'") or "_"
    base = base[:31]
    name, n = base, 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(name.lower())
    return name


def _modality_labels(frames: Frames, keys: Any) -> list[str]:
    return [frames.referential.modality(k).label for k in (keys or [])]


def jury_sentence(frames: Frames, modality_keys: Any, lang: str) -> str:
    """What a criterion no check observes says: the technical interview when the RC lists it."""
    keys = list(modality_keys or [])
    if "entretien_technique" in keys:
        return text(lang, "xlsx.jury_interview")
    shown = [m[:1].lower() + m[1:] for m in _modality_labels(frames, keys)]
    return text(lang, "xlsx.jury_other", modalities=", ".join(shown))


def _run_lines(frames: Frames, lang: str, candidate: str | None = None) -> list[tuple[str, str]]:
    run, _ = frames.run, labels(lang)
    state = run.get("state") or ""
    start, end = aggregate.collection_window(frames, candidate)
    lines = [
        (_("meta.rubric"), f"{run['rubric_title']} ({run['rubric_id']}, {_('meta.version')} {run['rubric_version']})"),
        (_("meta.run"), f"{run['id']} — " + run_state_label(lang, state)),
    ]
    if start:
        lines.append((_("meta.window"), text(lang, "meta.window_value", start=fmt_datetime(start, lang),
                                             end=fmt_datetime(end, lang))))
    lines.append((_("meta.grader"), str(run["grader_version"])))
    ref = frames.referential
    lines.append((_("meta.referential"), f"{ref.title} ({ref.rncp}, {ref.code})"))
    return lines


# --- session sheet ------------------------------------------------------------------------------


def _session_sheet(ws: Worksheet, frames: Frames, lang: str) -> None:
    _ = labels(lang)
    _put(ws, 1, 1, _("doc.session_title"), font=Font(bold=True, size=14, color=ACCENT))
    meta = " · ".join(f"{k}{_('colon')} {v}" for k, v in _run_lines(frames, lang)[:3])
    _put(ws, 2, 1, meta)
    _put(ws, 3, 1, _("doc.notice_session"))
    _put(ws, 4, 1, _("xlsx.counts_note"), font=Font(italic=True, color="5A5A5A"))

    counts = aggregate.competence_counts(frames)
    totals = aggregate.status_counts(frames)
    pts = aggregate.points(frames)
    comps = list(dict.fromkeys(counts["competence"]))
    top, sub = SESSION_HEADER_ROW, SESSION_HEADER_ROW + 1
    head = {"font": Font(bold=True), "fill": HEAD_FILL, "border": BOX, "alignment": WRAP}
    _put(ws, top, 1, _("col.candidate"), **head)
    _put(ws, top, 2, _("col.name"), **head)
    ws.merge_cells(start_row=top, start_column=1, end_row=sub, end_column=1)
    ws.merge_cells(start_row=top, start_column=2, end_row=sub, end_column=2)
    col = 3
    groups: list[tuple[str, str, int]] = []  # (code, heading, first column)
    for code in comps:
        if code:
            heading = f"{code} — {frames.referential.competence(code).title}"
        else:
            heading = text(lang, "mx.outside")
        groups.append((code, heading, col))
        col += len(STATUSES)
    all_col = col
    points_col = all_col + len(STATUSES) + 1
    for _code, heading, first in groups:
        _put(ws, top, first, heading, **head)
        ws.merge_cells(start_row=top, start_column=first, end_row=top, end_column=first + len(STATUSES) - 1)
        for i, status in enumerate(STATUSES):
            _put(ws, sub, first + i, status_label(lang, status), **_status_style(status))
    _put(ws, top, all_col, _("xlsx.all"), **head)
    ws.merge_cells(start_row=top, start_column=all_col, end_row=top, end_column=all_col + len(STATUSES))
    for i, status in enumerate(STATUSES):
        _put(ws, sub, all_col + i, status_label(lang, status), **_status_style(status))
    _put(ws, sub, all_col + len(STATUSES), _("col.total"), **head)
    _put(ws, top, points_col, _("sum.points"), **head)
    ws.merge_cells(start_row=top, start_column=points_col, end_row=top, end_column=points_col + 3)
    for i, key in enumerate((N_("pts.conforme"), N_("pts.non_conforme"), N_("pts.unsure"), N_("pts.possible"))):
        _put(ws, sub, points_col + i, _(key), **head)
    jury_col = points_col + 4  # checks with a jury decision: counted apart, the counts stay automated
    _put(ws, top, jury_col, _("xlsx.col.jury_decisions"), **head)
    ws.merge_cells(start_row=top, start_column=jury_col, end_row=sub, end_column=jury_col)
    decided = aggregate.override_counts(frames)

    by_key = {(r["candidate"], r["competence"]): r for r in counts.to_dict("records")}
    row = sub + 1
    for cand in frames.candidates.to_dict("records"):
        cid = str(cand["candidate"])
        _put(ws, row, 1, cid, border=BOX, font=Font(bold=True))
        _put(ws, row, 2, cand["name"], border=BOX)
        for code, _heading, first in groups:
            rec = by_key.get((cid, code), {})
            for i, status in enumerate(STATUSES):
                _put(ws, row, first + i, int(rec.get(status, 0)), border=BOX)
        for i, status in enumerate(STATUSES):
            _put(ws, row, all_col + i, int(totals.loc[cid, status]), border=BOX)
        _put(ws, row, all_col + len(STATUSES), int(totals.loc[cid, "total"]), border=BOX, font=Font(bold=True))
        for i, key in enumerate(("obtained", "non_conforme", "unsure", "possible")):
            _put(ws, row, points_col + i, float(pts.loc[cid, key]), border=BOX)
        _put(ws, row, jury_col, int(decided.loc[cid, "overridden"]), border=BOX)
        row += 1
    _heatmap(ws, frames, lang, row + 1)

    ws.column_dimensions["A"].width = 11
    ws.column_dimensions["B"].width = 24
    for c in range(3, jury_col + 1):
        ws.column_dimensions[get_column_letter(c)].width = 11
    ws.row_dimensions[top].height = 45
    ws.row_dimensions[sub].height = 30
    ws.freeze_panes = f"C{sub + 1}"
    _print_setup(ws, title_rows=f"{top}:{sub}")


def heat_fill(bucket: str) -> PatternFill:
    """The fill of a heatmap cell: the HTML page's shade for its bucket, stripes when nothing concluded."""
    if bucket.isdigit():
        return PatternFill("solid", fgColor=HEAT_COLOURS[int(bucket)])
    if bucket == "unknown":
        return PatternFill("lightUp", fgColor=HEAT_HATCH, bgColor="FFFFFF")
    return PatternFill("solid", fgColor="FFFFFF")


def _heatmap(ws: Worksheet, frames: Frames, lang: str, top: int) -> int:
    """The session heatmap under the counts: one row per candidate, one coloured cell per competence.

    Cells, shades and thresholds are the HTML page's (:func:`reports.html.heat_grid`): share of
    conforme among the checks that concluded, "?" for the inconclusive ones, stripes where nothing
    concluded; the scale follows. Returns the last row written.
    """
    _ = labels(lang)
    columns, cells = heat_grid(frames, lang)
    if not columns:
        return top
    last_col = 2 + len(columns)
    _put(ws, top, 1, _("h.heatmap"), font=Font(bold=True, size=12, color=ACCENT))
    _put(ws, top + 1, 1, _("heat.intro"), font=Font(italic=True, color="5A5A5A"), alignment=WRAP)
    ws.merge_cells(start_row=top + 1, start_column=1, end_row=top + 1, end_column=max(last_col, 8))
    ws.row_dimensions[top + 1].height = 45
    head = top + 2
    style = {"font": Font(bold=True), "fill": HEAD_FILL, "border": BOX, "alignment": WRAP}
    _put(ws, head, 1, _("col.candidate"), **style)
    _put(ws, head, 2, _("col.name"), **style)
    for i, column in enumerate(columns):
        _put(ws, head, 3 + i, column["label"], **style)
    centred = Alignment(wrap_text=True, horizontal="center", vertical="center")
    row = head
    for cand in frames.candidates.to_dict("records"):
        row += 1
        cid = str(cand["candidate"])
        _put(ws, row, 1, cid, border=BOX, font=Font(bold=True))
        _put(ws, row, 2, cand["name"], border=BOX)
        lines = 1
        for i, cell in enumerate(cells[cid]):
            said = [cell["shown"], cell["counts"], cell["inconclusive_text"], *cell["hosts"]]
            said = [s for s in said if s]
            lines = max(lines, len(said))
            font = Font(bold=True) if cell["share"] is not None else Font(italic=True, color="5A5A5A")
            _put(ws, row, 3 + i, "\n".join(said), fill=heat_fill(cell["bucket"]), border=BOX, alignment=centred,
                 font=font)
        ws.row_dimensions[row].height = max(30, 15 * lines * 1.6)
    row += 1
    _put(ws, row, 1, _("heat.scale") + _("colon"), font=Font(color="5A5A5A"))
    legend = heat_legend(lang)
    for i, key in enumerate(legend):
        _put(ws, row, 3 + i, key["label"], fill=heat_fill(key["bucket"]), border=BOX, alignment=centred)
    _put(ws, row, 3 + len(legend), "? " + _("heat.hatched"), fill=heat_fill("unknown"), border=BOX,
         alignment=centred)
    ws.row_dimensions[row].height = 30
    return row


# --- candidate sheets ---------------------------------------------------------------------------


def _grid_row(ws: Worksheet, row: int, rec: dict[str, Any], lang: str) -> None:
    host = cell_text(rec.get("host"))
    address = cell_text(rec.get("address"))
    message = cell_text(rec.get("message"))
    warnings = rec.get("host_wide")
    for warning in warnings if isinstance(warnings, list) else []:
        # A doubt on every verdict of the host (aggregate.host_wide) is said beside each of them.
        message = (message + "\n" if message else "") + text(lang, "check.host_wide") + text(lang, "colon") + " " + cell_text(warning)
    values = {
        "check_id": rec.get("check_id"), "sentence": rec.get("sentence"), "observed": rec.get("observed"),
        "expected": rec.get("expected"), "message": message,
        "host": f"{host} ({address})" if address else host, "time": fmt_datetime(rec.get("judged_at"), lang),
    }
    for key, value in values.items():
        _put(ws, row, COL[key], value, border=BOX, alignment=WRAP)
    _put(ws, row, COL["status"], status_label(lang, str(rec["status"])), **_status_style(str(rec["status"])))
    _put(ws, row, COL["points"], float(rec.get("points") or 0.0), border=BOX, alignment=WRAP)


def _criterion_cells(ws: Worksheet, first: int, last: int, values: dict[str, Any]) -> None:
    for key in CRITERION_CELLS:
        style: dict[str, Any] = {"border": BOX, "alignment": WRAP}
        if key == "criterion":
            style["font"] = Font(bold=True, color=ACCENT)
        _put(ws, first, COL[key], values.get(key, ""), **style)
        for r in range(first + 1, last + 1):
            ws.cell(row=r, column=COL[key]).border = BOX
        if last > first:
            ws.merge_cells(start_row=first, start_column=COL[key], end_row=last, end_column=COL[key])


def _candidate_sheet(ws: Worksheet, frames: Frames, candidate: str, lang: str) -> None:
    _ = labels(lang)
    cand = frames.candidates[frames.candidates["candidate"] == candidate].iloc[0]
    name = cell_text(cand["name"])
    title = f"{_('doc.candidate_title')} — {_('meta.candidate')} {candidate}" + (f" — {name}" if name else "")
    _put(ws, 1, 1, title, font=Font(bold=True, size=14, color=ACCENT))
    row = 2
    for label, value in _run_lines(frames, lang, candidate):
        _put(ws, row, 1, label, font=Font(color="5A5A5A"))
        _put(ws, row, 3, value)
        row += 1
    pts = aggregate.points(frames).loc[candidate]
    _put(ws, row, 1, _("sum.points"), font=Font(color="5A5A5A"))
    _put(ws, row, 3, f"{_('pts.conforme')} {pts['obtained']:g} · {_('pts.non_conforme')} {pts['non_conforme']:g} · "
                     f"{_('pts.unsure')} {pts['unsure']:g} · {_('pts.possible')} {pts['possible']:g}")
    row += 1
    notes = aggregate.host_notes(frames, lang)
    for note in notes[notes["candidate"] == candidate].to_dict("records"):
        _put(ws, row, 1, _("h.dependencies"), font=Font(color="7A4300"))
        _put(ws, row, 3, note["line"], font=Font(color="7A4300"))
        row += 1
    jury = JuryNotes(frames, candidate, lang)
    for line in jury.candidate_lines():
        _put(ws, row, 1, _("h.jury_notes"), font=Font(color=ACCENT))
        _put(ws, row, 3, line, font=Font(color=ACCENT), alignment=WRAP)
        row += 1
    _put(ws, row, 1, f"{_('doc.notice')} {_('doc.notice_status')}", font=Font(italic=True), alignment=WRAP)
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(GRID_COLUMNS))
    ws.row_dimensions[row].height = 30
    row += 2

    header = row
    for key, label_key, width in GRID_COLUMNS:
        _put(ws, header, COL[key], _(label_key), font=Font(bold=True), fill=HEAD_FILL, border=BOX, alignment=WRAP)
        ws.column_dimensions[get_column_letter(COL[key])].width = width
    row += 1

    table = aggregate.criteria_table(frames, candidate)
    for code in dict.fromkeys(c for c in table["competence"] if c):
        comp = frames.referential.competence(code)
        rows = table[table["competence"] == code]
        keys = aggregate.competence_modalities(frames, code)
        modalities = _modality_labels(frames, keys)
        grid = aggregate.grid_rows(comp)
        observed = sum(1 for crit_id, _t in grid if (rows[rows["criterion"] == crit_id]["kind"] != "jury").any())
        banner = (f"{code} — {comp.title} · {_('comp.modalities')}{_('colon')} {', '.join(modalities)} · "
                  + text(lang, "comp.coverage", observed=observed, total=len(grid)))
        transversals = frames.referential.transversals_of(code)
        if transversals:
            banner += f" · {_('comp.transversals')}{_('colon')} {', '.join(tr.title for tr in transversals)}"
        _put(ws, row, 1, banner, font=Font(bold=True, color=ACCENT), fill=BANNER_FILL, alignment=WRAP)
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(GRID_COLUMNS))
        ws.row_dimensions[row].height = 30
        row += 1
        for crit_id, crit_text in grid:
            crit_rows = rows[rows["criterion"] == crit_id].to_dict("records")
            checks = [r for r in crit_rows if r["kind"] in ("check", "missing")]
            shared = {"competence": code, "criterion": crit_id, "criterion_text": crit_text or _("crit.competence_level"),
                      "modalities": ", ".join(modalities), "observations": jury.criterion_text(crit_id, checks)}
            if not checks:
                _put(ws, row, COL["check_id"], "", border=BOX)
                _put(ws, row, COL["sentence"], jury_sentence(frames, keys, lang),
                     font=Font(italic=True, color=ACCENT), fill=BANNER_FILL, border=BOX, alignment=WRAP)
                ws.merge_cells(start_row=row, start_column=COL["sentence"], end_row=row, end_column=COL["points"])
                _criterion_cells(ws, row, row, shared)
                row += 1
                continue
            for i, rec in enumerate(checks):
                _grid_row(ws, row + i, rec, lang)
            _criterion_cells(ws, row, row + len(checks) - 1, shared)
            row += len(checks)

    outside = table[table["kind"] == "outside"].to_dict("records")
    if outside:
        _put(ws, row, 1, f"{_('h.outside_rc')} — {_('crit.outside_rc')}", font=Font(bold=True, color="7A4300"),
             fill=PatternFill("solid", fgColor="FDF0DC"), alignment=WRAP)
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(GRID_COLUMNS))
        row += 1
        for rec in outside:
            _grid_row(ws, row, rec, lang)
            _criterion_cells(ws, row, row, {"criterion": rec["criterion"],
                                            "observations": jury.criterion_text(None, [rec])})
            row += 1

    ws.freeze_panes = f"{get_column_letter(COL['check_id'])}{header + 1}"
    _print_setup(ws, title_rows=f"{header}:{header}")


class JuryNotes:
    """One candidate's annotations as the text of the "Observations du jury" cells."""

    def __init__(self, frames: Frames, candidate: str, lang: str):
        self.lang = lang
        ann = frames.annotations
        self.rows = ann[ann["candidate"] == candidate].to_dict("records") if not ann.empty else []
        self.automated = {(r["check_id"], r["host"]): str(r["status"])
                          for r in frames.all_results().to_dict("records") if r["candidate"] == candidate}
        ref = frames.referential
        self.gridded = {i for code in aggregate.touched_competences(frames) for i, _t in aggregate.grid_rows(ref.competence(code))}

    def _line(self, a: dict[str, Any]) -> str:
        fields = {"text": a["text"], "author": a["author"], "when": fmt_datetime(a["created"], self.lang),
                  "check": a.get("check_id") or "", "host": a.get("host") or ""}
        if a["kind"] == "override":
            automated = self.automated.get((a["check_id"], a["host"]), "")
            return text(self.lang, "xlsx.decision", status=status_label(self.lang, str(a["status"])),
                        automated=status_label(self.lang, automated) if automated else "—", **fields)
        return text(self.lang, N_("xlsx.check_note") if a.get("check_id") else N_("xlsx.note"), **fields)

    def criterion_text(self, criterion: str | None, checks: list[dict[str, Any]]) -> str:
        """Observations on the criterion, then the observations and decisions on each of its checks."""
        lines = [self._line(a) for a in self.rows if criterion and a.get("criterion") == criterion
                 and not a.get("check_id")]
        targets = {(c["check_id"], c["host"]) for c in checks}
        lines += [self._line(a) for a in self.rows if a.get("check_id") and (a["check_id"], a["host"]) in targets]
        return "\n".join(lines)

    def candidate_lines(self) -> list[str]:
        """Notes on the candidate, and on criteria the grid does not list (prefixed with the criterion)."""
        lines = []
        for a in self.rows:
            if a.get("check_id") or (a.get("criterion") and a["criterion"] in self.gridded):
                continue
            line = self._line(a)
            if a.get("criterion"):
                line = f"{text(self.lang, 'jury.on_criterion', id=a['criterion'])} — {line}"
            lines.append(line)
        return lines


def _print_setup(ws: Worksheet, title_rows: str) -> None:
    """A4 landscape, one page wide, headings repeated on every page."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = title_rows
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5


# --- writer -------------------------------------------------------------------------------------


def build_workbook(frames: Frames, lang: str = "fr") -> Workbook:
    lang = normalize_lang(lang)
    wb = Workbook()
    taken: set[str] = set()
    session = wb.active
    session.title = sheet_name(text(lang, "xlsx.sheet_session"), taken)
    _session_sheet(session, frames, lang)
    for cand in frames.candidate_ids():
        ws = wb.create_sheet(sheet_name(text(lang, "xlsx.sheet_candidate", id=cand), taken))
        _candidate_sheet(ws, frames, cand, lang)
    wb.properties.creator = f"grader {frames.run['grader_version']}"
    wb.properties.title = f"{frames.run['rubric_title']} — {frames.run['id']}"
    return wb


def write_xlsx(frames: Frames, path: Path, lang: str = "fr") -> Path:
    build_workbook(frames, lang).save(path)
    return path


def write_workbook(store: Store, run_id: str, out_dir: Path, lang: str = "fr", frames: Frames | None = None) -> Path:
    """``resultats.xlsx`` of one run in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = frames if frames is not None else aggregate.load_frames(store, run_id, lang=lang)
    return write_xlsx(frames, out_dir / XLSX_FILE, lang)
