"""The jury's documents: a session page, one evidence record per candidate, and CSV/JSON exports.

Everything is written from the store alone (see :mod:`reports.aggregate`). The HTML pages are
self-contained (inline CSS, no script, no network), printable on A4, and rendered with jinja2
autoescaping on: whatever a candidate's machine printed is shown as text, never interpreted.
Long outputs are trimmed for reading (head and tail kept, with a "(tronqué)" marker); the
complete stored text stays in ``resultats.json`` and in the SQLite store.

The jury's annotations are shown beside the automated results, never in their place: under a
check, the decision in force (the jury's status, who, when, the justification) next to the
automated status, and the observations; under a criterion, the observations written on it.
A decision whose replaced automated status is no longer the current one (a resume regraded the
check) is flagged « à revoir » with both statuses, on the check and in the candidate's and the
session's summaries (:func:`reports.aggregate.overrides`); one from an older store, which did
not record that status, is shown as before. The local web view (:mod:`grader.web`) renders the
same pages with ``web`` set: links to its own URLs and, when jury members were named, the
annotation forms. Written files never carry a form.

Two audiences: ``jury`` (the default, everything above) and ``trainee`` (the trainer's
follow-up): the trainer's note of each check is put forward and every jury-only part is left
out (observation boxes, the jury's observations and decisions; the JSON export carries no
annotation). Both show the pictures (the session's candidates × competences heatmap, each
candidate's bar per competence) and spell out the dependency chains ("srv-lin injoignable :
3 vérifications non évaluées") at the top of the host section and of each affected competence.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from grader import __version__
from grader.referential import Referential
from grader.store import Store
from reports import aggregate
from reports.aggregate import Frames
from reports.labels import (
    INCONCLUSIVE,
    N_,
    STATUSES,
    host_state_label,
    normalize_lang,
    run_state_label,
    status_help,
    status_label,
    text,
    translations,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_LINES = 40
MAX_BYTES = 4096
SESSION_FILE = "session.html"
CSV_FILE = "resultats.csv"
JSON_FILE = "resultats.json"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
AUDIENCES = ("jury", "trainee")
TRAINEE_DIR = "stagiaire"  # where ``grader report --trainee`` writes by default, inside the run's reports
HEAT_BUCKETS = 5  # shades of the heatmap: 0-19 %, 20-39 %, ... 80-100 %
# The heatmap's shades, lightest (0-19 %) to darkest (80-100 %), and the stripes of a cell where nothing
# concluded: the page's stylesheet (_style.css.j2) and the workbook's fills (reports/xlsx.py) both read them.
HEAT_COLOURS = ("F7F9FC", "DDE6F1", "BCCDE3", "93AED0", "6B8FBD")
HEAT_HATCH = "C4C4C4"
TEMPLATE_GLOBALS = {"heat_colours": HEAT_COLOURS, "heat_hatch": HEAT_HATCH}


def check_audience(audience: str) -> str:
    """``jury`` or ``trainee``; anything else is a programming error (:class:`ValueError`)."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}: expected one of {', '.join(AUDIENCES)}")
    return audience


def candidate_filename(candidate: str) -> str:
    """``candidat-<id>.html``, any character unsafe in a file name replaced by ``_``."""
    return f"candidat-{_UNSAFE_FILENAME.sub('_', str(candidate)) or '_'}.html"


@lru_cache(maxsize=4)
def environment(lang: str = "fr") -> jinja2.Environment:
    """Autoescaping is on for every template: candidate output is untrusted.

    Templates hold no prose: they call ``_("key")`` (jinja2's i18n extension), answered by
    grader's gettext catalogue in ``lang``; one environment per language.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=False)  # type: ignore[attr-defined]
    env.globals.update(TEMPLATE_GLOBALS)
    return env


# --- formatting -------------------------------------------------------------------------------


def fmt_datetime(iso: Any, lang: str) -> str:
    """An ISO 8601 time in the report machine's local time, with its UTC offset spelled out."""
    if not iso or not isinstance(iso, str):
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone()
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    zone = "UTC" if minutes == 0 else f"UTC{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    pattern = text(lang, "fmt.datetime")
    return f"{local.strftime(pattern)} {zone}"


def fmt_number(value: Any, lang: str, digits: int = 2) -> str:
    """``3`` for 3.0, ``2,5`` in French, ``2.5`` in English."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    shown = f"{number:.{digits}f}".rstrip("0").rstrip(".") if number != int(number) else str(int(number))
    return shown.replace(".", text(lang, "fmt.decimal"))


def _cut_head(data: str, budget: int) -> str:
    return data.encode("utf-8")[:budget].decode("utf-8", errors="ignore")


def _cut_tail(data: str, budget: int) -> str:
    if budget <= 0:
        return ""
    return data.encode("utf-8")[-budget:].decode("utf-8", errors="ignore")


def trim_output(output: Any, lang: str = "fr", max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Keep the head and the tail of a long output, with a marker saying how much is hidden.

    :return: ``head``, ``marker`` (empty when nothing was cut), ``tail``, ``trimmed``, ``empty``.
    """
    full = "" if output is None or (isinstance(output, float)) else str(output)
    size = len(full.encode("utf-8"))
    lines = full.splitlines(keepends=True)
    if len(lines) <= max_lines and size <= max_bytes:
        return {"head": full, "marker": "", "tail": "", "trimmed": False, "empty": not full}
    head_lines = max_lines * 3 // 4
    tail_lines = max_lines - head_lines
    if len(lines) > max_lines:
        head = "".join(lines[:head_lines])
        tail = "".join(lines[-tail_lines:])
    else:
        half = len(lines) // 2
        head, tail = "".join(lines[:half]), "".join(lines[half:])
    head_budget = max_bytes * 3 // 4
    head = _cut_head(head, head_budget)
    tail = _cut_tail(tail, max_bytes - len(head.encode("utf-8")))
    shown_bytes = len(head.encode("utf-8")) + len(tail.encode("utf-8"))
    shown_lines = head.count("\n") + tail.count("\n")
    hidden_lines = max(0, full.count("\n") - shown_lines)
    marker = text(lang, "probe.trimmed", lines=f"{hidden_lines:,}".replace(",", "\u202f"),
                  bytes=f"{size - shown_bytes:,}".replace(",", "\u202f"))
    if head and not head.endswith("\n"):
        head += "\n"
    return {"head": head, "marker": marker, "tail": tail, "trimmed": True, "empty": False}


# --- view models ------------------------------------------------------------------------------


def _status(status: str, lang: str) -> dict[str, str]:
    return {"code": status, "label": status_label(lang, status)}


def _evidence_index(frames: Frames) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(e["candidate"], e["host"], e["probe_key"]): e for e in frames.evidence.to_dict("records")}


def _probe_view(name: str, key: str, row: dict[str, Any] | None, lang: str) -> dict[str, Any]:
    if row is None:
        return {"name": name, "key": key, "missing": True}
    return {
        "name": name, "key": key, "missing": False, "transport": row["transport"], "command": row["command"],
        "exit_code": row["exit_code"], "timed_out": bool(row["timed_out"]), "error": row["error"] or "",
        "truncated": bool(row["truncated"]), "started": fmt_datetime(row["started"], lang),
        "duration": fmt_number(row["duration"], lang), "stdout": trim_output(row["stdout"], lang),
        "stderr": trim_output(row["stderr"], lang),
    }


def _check_view(rec: dict[str, Any], evidence: dict[tuple[str, str, str], dict[str, Any]], lang: str,
                jury: JuryIndex | None = None) -> dict[str, Any]:
    keys = rec.get("probe_keys") or {}
    probes = [_probe_view(str(name), str(key), evidence.get((rec["candidate"], rec["host"], key)), lang)
              for name, key in keys.items()]
    if all(p["missing"] for p in probes):
        probes = []  # nothing collected at all (host not reached): one sentence says so
    return {
        "check_id": rec["check_id"], "check_type": rec["check_type"], "sentence": rec["sentence"],
        "status": _status(rec["status"], lang), "observed": _text(rec.get("observed")),
        "expected": _text(rec.get("expected")), "message": _text(rec.get("message")), "hint": _text(rec.get("hint")),
        "host": rec["host"], "address": _text(rec.get("address")), "judged_at": fmt_datetime(rec.get("judged_at"), lang),
        "points": fmt_number(rec["points"], lang), "missing": not bool(rec.get("stored", True)),
        "probes": probes, "declared_probes": len(keys),
        "host_wide": [str(a) for a in (rec.get("host_wide") or [])] if isinstance(rec.get("host_wide"), list) else [],
        **(jury or JuryIndex()).for_check(str(rec["check_id"]), str(rec["host"]), lang, rec.get("status")),
    }


class JuryIndex:
    """One candidate's annotations, by what they are about (a check on a host, a criterion, the candidate)."""

    def __init__(self, rows: list[dict[str, Any]] | None = None, lang: str = "fr"):
        self.checks: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.criteria: dict[str, list[dict[str, Any]]] = {}
        self.candidate: list[dict[str, Any]] = []
        for row in rows or []:
            view = annotation_view(row, lang)
            if _text(row.get("check_id")):
                self.checks.setdefault((str(row["check_id"]), _text(row.get("host"))), []).append(view)
            elif _text(row.get("criterion")):
                self.criteria.setdefault(str(row["criterion"]), []).append(view)
            else:
                self.candidate.append(view)

    def for_check(self, check_id: str, host: str, lang: str, automated: Any = None) -> dict[str, Any]:
        """``decision`` (the latest override, or None), ``earlier`` (text), ``observations``.

        ``automated``: the check's current automated status. When it is no longer the status the
        decision replaced (a resume regraded the check), the decision carries ``review``, the
        « à revoir » line naming both statuses; otherwise ``review`` is "".
        """
        views = self.checks.get((check_id, host), [])
        decisions = [v for v in views if v["kind"] == "override"]
        earlier = len(decisions) - 1
        decision = decisions[-1] if decisions else None
        if decision is not None:
            replaced = decision["replaced"]
            review = aggregate.needs_review(replaced["code"] if replaced else None, automated)
            decision = decision | {"review": text(lang, "jury.review", replaced=replaced["label"],
                                                  automated=status_label(lang, str(automated or "non_evalue")))
                                   if review and replaced else ""}
        return {"decision": decision,
                "earlier": text(lang, "jury.earlier", n=earlier) if earlier > 0 else "",
                "observations": [v for v in views if v["kind"] == "observation"]}

    def take_criterion(self, criterion: str) -> list[dict[str, Any]]:
        """The observations on ``criterion``, removed: those never taken are listed with the candidate's."""
        return self.criteria.pop(criterion, [])

    def leftovers(self, lang: str) -> list[dict[str, Any]]:
        """Notes on the candidate, then notes on criteria the page does not show (each says which)."""
        rest = [v | {"target": text(lang, "jury.on_criterion", id=crit)}
                for crit, views in self.criteria.items() for v in views]
        return self.candidate + rest


def annotation_view(row: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """One annotation as the pages show it; ``anchor`` is its element id (the web view links to it)."""
    ident = int(row["id"])
    when = fmt_datetime(row.get("created"), lang)
    replaced = aggregate.replaced_status(row) if row["kind"] == "override" else None
    return {"id": ident, "anchor": f"annotation-{ident}", "kind": row["kind"],
            "status": _status(str(row["status"]), lang) if row["kind"] == "override" else None,
            "replaced": _status(replaced, lang) if replaced else None, "review": "",
            "text": _text(row.get("text")), "author": _text(row.get("author")), "when": when,
            "by": text(lang, "jury.by", author=_text(row.get("author")), when=when), "target": ""}


def jury_index(frames: Frames, candidate: str, lang: str = "fr") -> JuryIndex:
    ann = frames.annotations
    return JuryIndex(ann[ann["candidate"] == candidate].to_dict("records") if not ann.empty else [], lang)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _modalities(frames: Frames, keys: list[str]) -> list[str]:
    return [frames.referential.modality(k).label for k in keys]


def _transversals(frames: Frames, code: str) -> list[dict[str, str]]:
    """The compétences transversales (RC §3.3) evaluated through competence ``code``."""
    return [{"code": tr.code, "title": tr.title} for tr in frames.referential.transversals_of(code)]


def _modalities_source(frames: Frames, lang: str) -> str:
    """Which RC table the modalities shown come from: the rubric's session, or §3.2."""
    if frames.session is None:
        return text(lang, "meta.modalities_title")
    block = frames.referential.session_block(frames.session)
    return text(lang, "meta.modalities_session", code=block.code, title=block.title)


def _jury_text(frames: Frames, keys: list[str], lang: str) -> str:
    labels_ = [m[:1].lower() + m[1:] for m in _modalities(frames, keys)]
    return text(lang, "crit.jury", modalities=", ".join(labels_))


def _host_rows(frames: Frames, candidate: str, lang: str) -> list[dict[str, Any]]:
    rows = []
    for h in frames.hosts[frames.hosts["candidate"] == candidate].to_dict("records"):
        rows.append({
            "host": h["host"], "address": h["address"], "platform": h["platform"],
            "status": h["status"], "status_label": host_state_label(lang, h["status"]), "reason": h["reason"], "host_key": h["host_key"],
            "login": h["login"], "execs": h["execs"], "started": fmt_datetime(h["started"], lang),
            "duration": fmt_number(h["duration"], lang), "anomalies": [trim_output(a, lang, 10, 1024) for a in h["anomalies"]],
        })
    missing = frames.missing[frames.missing["candidate"] == candidate]
    for host, group in missing.groupby("host", sort=False):
        if any(r["host"] == host for r in rows):
            continue
        rows.append({"host": host, "address": "", "platform": group["platform"].iloc[0], "status": aggregate.ABSENT,
                     "status_label": text(lang, "host.absent"), "reason": text(lang, "check.missing"), "host_key": "",
                     "login": "", "execs": 0, "started": "", "duration": "", "anomalies": []})
    return rows


def _run_view(frames: Frames, lang: str, candidate: str | None = None) -> dict[str, Any]:
    run = frames.run
    start, end = aggregate.collection_window(frames, candidate)
    state = run.get("state") or ""
    return {
        "id": run["id"], "state": state,
        "state_label": run_state_label(lang, state),
        "partial": state != "termine", "resumes": run.get("resumes") or 0,
        "rubric_id": run["rubric_id"], "rubric_title": run["rubric_title"], "rubric_version": run["rubric_version"],
        "grader_version": run["grader_version"], "started": fmt_datetime(run["started"], lang),
        "window": text(lang, "meta.window_value", start=fmt_datetime(start, lang), end=fmt_datetime(end, lang))
        if start else "",
        "referential": f"{frames.referential.title} ({frames.referential.rncp}, {frames.referential.code})",
        "modalities_source": _modalities_source(frames, lang),
    }


def _points_view(frames: Frames, candidate: str, lang: str, pts: pd.DataFrame) -> dict[str, Any]:
    row = pts.loc[candidate]
    return {"obtained": fmt_number(row["obtained"], lang), "possible": fmt_number(row["possible"], lang),
            "non_conforme": fmt_number(row["non_conforme"], lang), "unsure": fmt_number(row["unsure"], lang),
            "unsure_value": float(row["unsure"]), "non_conforme_value": float(row["non_conforme"])}


def _common(lang: str, audience: str = "jury") -> dict[str, Any]:
    return {
        "lang": lang, "audience": audience, "trainee": audience == "trainee", "statuses": [_status(s, lang) | {"help": status_help(lang, s)}
                                                    for s in STATUSES],
        "generated": text(lang, "doc.generated", when=fmt_datetime(datetime.now(UTC).isoformat(), lang),
                          version=__version__),
    }


def candidate_context(frames: Frames, candidate: str, lang: str = "fr",
                      web: Mapping[str, Any] | None = None, audience: str = "jury") -> dict[str, Any]:
    """Everything the candidate page shows, as plain data (the template only lays it out).

    :param web: set by the web view only: ``run_href``, ``home_href``, ``action`` (where the
        annotation forms post), ``csrf`` (the form token), ``jury`` (the names the forms offer;
        empty: no form, a read-only notice) and ``author`` (the name pre-selected).
    :param audience: ``jury`` (default) or ``trainee`` (hints forward, no jury-only part).
    """
    lang = normalize_lang(lang)
    trainee = check_audience(audience) == "trainee"
    table = aggregate.criteria_table(frames, candidate)
    evidence = _evidence_index(frames)
    jury = JuryIndex() if trainee else jury_index(frames, candidate, lang)
    chains = aggregate.dependency_chains(frames)
    chains = chains[chains["candidate"] == candidate]
    cand = frames.candidates[frames.candidates["candidate"] == candidate].iloc[0]
    counts = aggregate.status_counts(frames).loc[candidate]
    pts = aggregate.points(frames)

    blocks: list[dict[str, Any]] = []
    jury_count = 0
    for code in aggregate.touched_competences(frames):
        comp = frames.referential.competence(code)
        block = frames.referential.block_of(code)
        if not blocks or blocks[-1]["code"] != block.code:
            blocks.append({"code": block.code, "title": block.title, "competences": []})
        rows = table[table["competence"] == code]
        keys = aggregate.competence_modalities(frames, code)
        criteria = []
        for crit_id, crit_text in aggregate.grid_rows(comp):
            crit_rows = rows[rows["criterion"] == crit_id].to_dict("records")
            checks = [_check_view(r, evidence, lang, jury) for r in crit_rows if r["kind"] in ("check", "missing")]
            if not checks:
                jury_count += 1
            criteria.append({"id": crit_id, "text": crit_text or text(lang, "crit.competence_level"), "checks": checks,
                             "jury": _jury_text(frames, keys, lang) if not checks else "",
                             "observations": jury.take_criterion(crit_id)})
        observed = sum(1 for c in criteria if c["checks"])
        blocks[-1]["competences"].append({
            "code": code, "title": comp.title, "modalities": _modalities(frames, keys),
            "transversals": _transversals(frames, code),
            "coverage": text(lang, "comp.coverage", observed=observed, total=len(criteria)),
            "criteria": criteria, "counts": _count_badges(rows, lang),
            "chains": [_chain_view(r, lang) for r in chains[chains["competence"] == code].to_dict("records")],
            "bar": _bar_view(code, comp.title, rows, lang),
        })
    outside = [_check_view(r, evidence, lang, jury) for r in table[table["kind"] == "outside"].to_dict("records")]
    notes = aggregate.host_notes(frames, lang)
    notes = notes[notes["candidate"] == candidate]
    totals = aggregate.dependency_totals(frames)
    host_chains = [_chain_view(r, lang) for r in totals[totals["candidate"] == candidate].to_dict("records")]
    chained = {c["host"] for c in host_chains}  # said by a chain line: not said twice
    decided = aggregate.override_counts(frames).loc[candidate]
    bars = [comp["bar"] for b in blocks for comp in b["competences"]]
    outside_rows = table[table["kind"] == "outside"]
    if not outside_rows.empty:
        bars.append(_bar_view("", text(lang, "mx.outside"), outside_rows, lang))
    return {
        **_common(lang, audience),
        "candidate": {"id": candidate, "name": cand["name"]},
        "run": _run_view(frames, lang, candidate),
        "counts": [_status(s, lang) | {"n": int(counts[s])} for s in STATUSES],
        "total": int(counts["total"]),
        "points": _points_view(frames, candidate, lang, pts),
        "jury_count": jury_count,
        "hosts": _host_rows(frames, candidate, lang),
        "notes": [_note_view(n, lang) for n in notes.to_dict("records")
                  if not (n["kind"] in aggregate.UNREACHED and n["host"] in chained)],
        "host_chains": host_chains,
        "bars": bars,
        "blocks": blocks,
        "outside": outside,
        "session_href": web["run_href"] if web else SESSION_FILE,
        "jury_notes": jury.leftovers(lang),
        "incidents": [] if trainee else _incident_lines(frames, candidate, lang),
        "jury_summary": text(lang, "jury.overridden_note", n=int(decided["overridden"]),
                             changed=int(decided["changed"])) if int(decided["overridden"]) and not trainee else "",
        "jury_review": text(lang, "jury.review_note", n=int(decided["review"]))
        if int(decided["review"]) and not trainee else "",
        "web": web,
    }


def _note_view(note: dict[str, Any], lang: str) -> dict[str, Any]:
    code = {"partial": "erreur", aggregate.ABSENT: "non_evalue"}.get(note["kind"], note["kind"])
    return {**note, "badge": code, "badge_label": host_state_label(lang, note["kind"])}


def chain_line(lang: str, host: str, state: str, n: int) -> str:
    """« srv-lin injoignable : 3 vérifications non évaluées » (the host's state label, singular or plural)."""
    return text(lang, N_("chain.one") if int(n) == 1 else N_("chain.many"), host=host, state=host_state_label(lang, state),
                n=int(n))


def _chain_view(row: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """A dependency chain (:func:`reports.aggregate.dependency_chains` row) as the pages show it."""
    state = str(row["host_status"])
    codes = [c for c in (row.get("competences") or []) if c]
    return {"candidate": row["candidate"], "host": row["host"], "state": state, "n": int(row["n"]),
            "badge": {aggregate.ABSENT: "non_evalue"}.get(state, state), "badge_label": host_state_label(lang, state),
            "line": chain_line(lang, str(row["host"]), state, int(row["n"])),
            "reason": text(lang, "chain.reason", reason=row["reason"]) if row["reason"] else "",
            "competences": text(lang, "chain.competences", codes=", ".join(codes)) if codes else "",
            "heat": text(lang, "chain.heat", host=row["host"], state=host_state_label(lang, state))}


SEGMENT_MARKS = {"conforme": "✓", "non_conforme": "✗", "inconclusive": "?"}


def _bar_view(code: str, title: str, rows: pd.DataFrame, lang: str) -> dict[str, Any]:
    """One competence's horizontal bar: conforme / non conforme / inconclusive segments, each with its number."""
    checks = rows[rows["kind"].isin(["check", "missing", "outside"])]
    n = {"conforme": int((checks["status"] == "conforme").sum()),
         "non_conforme": int((checks["status"] == "non_conforme").sum()),
         "inconclusive": int(checks["status"].isin(INCONCLUSIVE).sum())}
    words = {"conforme": text(lang, "bar.conforme", n=n["conforme"]),
             "non_conforme": text(lang, "mx.non_conforme", n=n["non_conforme"]),
             "inconclusive": text(lang, "mx.inconclusive", n=n["inconclusive"])}
    segments: list[dict[str, Any]] = [{"kind": k, "n": v, "mark": SEGMENT_MARKS[k], "label": words[k]} for k, v in n.items() if v]
    total = sum(n.values())
    return {"code": code, "label": code or title, "title": title, **n, "total": total, "segments": segments,
            "text": " · ".join(s["label"] for s in segments) if segments else text(lang, "mx.none"),
            "total_text": text(lang, "bar.total", n=total)}


def _heat_cell(cid: str, code: str, label: str, row: Any, hosts: list[str], lang: str) -> dict[str, Any]:
    """One heatmap cell: share of conforme among conclusive checks, the counts, and "?" for the inconclusive."""
    ok, nc, inc = int(row["conforme"]), int(row["non_conforme"]), int(row["inconclusive"])
    share = aggregate.share_conforme(ok, nc)
    if share is None:
        bucket, pct, shown = ("unknown" if inc else "empty"), None, (text(lang, "heat.unknown") if inc else
                                                                     text(lang, "mx.none"))
    else:
        pct = round(share * 100)
        bucket, shown = str(min(int(share * HEAT_BUCKETS), HEAT_BUCKETS - 1)), text(lang, "heat.share", pct=pct)
    return {"competence": code, "conforme": ok, "non_conforme": nc, "inconclusive": inc, "conclusive": ok + nc,
            "share": share, "pct": pct, "bucket": bucket, "shown": shown,
            "counts": text(lang, "heat.counts", ok=ok, conclusive=ok + nc) if ok + nc else "",
            "inconclusive_text": text(lang, "heat.inconclusive", n=inc) if inc and share is not None else "",
            "hosts": hosts,
            "title": text(lang, "heat.title", candidate=cid, competence=label, ok=ok, nc=nc, inc=inc)}


def heat_grid(frames: Frames, lang: str = "fr") -> tuple[list[dict[str, str]], dict[str, list[dict[str, Any]]]]:
    """The session heatmap, for the HTML page and the workbook alike: (competence columns, cells per candidate).

    Columns are the competences the run touches, in the order of the counts (``label`` is the code,
    or "hors référentiel"); a candidate's cells follow them, each from :func:`_heat_cell` (its
    ``bucket`` indexes :data:`HEAT_COLOURS`, or is ``unknown``/``empty``) with the machines whose
    absence left it without facts.
    """
    lang = normalize_lang(lang)
    hosts: dict[tuple[str, str], list[str]] = {}
    for r in aggregate.dependency_chains(frames).to_dict("records"):
        hosts.setdefault((r["candidate"], r["competence"]), []).append(_chain_view(r, lang)["heat"])
    counts = aggregate.competence_counts(frames)
    columns = [{"code": code, "label": code or text(lang, "mx.outside"),
                "title": frames.referential.competence(code).title if code else ""}
               for code in dict.fromkeys(counts["competence"])]
    cells: dict[str, list[dict[str, Any]]] = {}
    for cid in frames.candidates["candidate"]:
        mine = counts[counts["candidate"] == cid].set_index("competence")
        cells[cid] = [_heat_cell(cid, c["code"], c["label"], mine.loc[c["code"]], hosts.get((cid, c["code"]), []), lang)
                      for c in columns]
    return columns, cells


def heat_legend(lang: str) -> list[dict[str, str]]:
    """The scale under the heatmap: one entry per bucket (``bucket``, ``label``: "20 à 39 %")."""
    return _heat_legend(lang)


def _heat_legend(lang: str) -> list[dict[str, str]]:
    step = 100 // HEAT_BUCKETS
    return [{"bucket": str(i), "label": text(lang, "heat.bucket", low=i * step,
                                              high=100 if i == HEAT_BUCKETS - 1 else (i + 1) * step - 1)}
            for i in range(HEAT_BUCKETS)]


def _count_badges(rows: pd.DataFrame, lang: str) -> list[dict[str, Any]]:
    checks = rows[rows["kind"].isin(["check", "missing"])]
    return [_status(s, lang) | {"n": int((checks["status"] == s).sum())} for s in STATUSES
            if int((checks["status"] == s).sum())]


def session_context(frames: Frames, lang: str = "fr", web: Mapping[str, Any] | None = None,
                    audience: str = "jury") -> dict[str, Any]:
    """The session page as plain data; ``web`` (web view only) has ``home_href`` and ``candidate_href(id)``."""
    lang = normalize_lang(lang)
    trainee = check_audience(audience) == "trainee"
    _, heat_cells = heat_grid(frames, lang)
    counts = aggregate.competence_counts(frames)
    totals = aggregate.status_counts(frames)
    pts = aggregate.points(frames)
    comps = list(dict.fromkeys(counts["competence"]))
    comp_views: list[dict[str, Any]] = []
    everything = frames.all_results()
    for code in comps:
        if code == "":
            comp_views.append({"code": text(lang, "mx.outside"), "title": "", "coverage": "", "modalities": "",
                               "transversals": []})
            continue
        comp = frames.referential.competence(code)
        observed = everything[everything["competence"] == code]["criterion"].nunique()
        comp_views.append({"code": code, "title": comp.title,
                           "coverage": text(lang, "comp.coverage", observed=observed,
                                            total=len(aggregate.grid_rows(comp))),
                           "modalities": ", ".join(_modalities(frames, aggregate.competence_modalities(frames, code))),
                           "transversals": _transversals(frames, code)})
    jury = aggregate.annotation_counts(frames)
    rows = []
    for cand in frames.candidates.to_dict("records"):
        cid = cand["candidate"]
        mine = counts[counts["candidate"] == cid].set_index("competence")
        cells = [_cell(mine.loc[code], lang) for code in comps]
        total_row = totals.loc[cid]
        total_cell = _cell(pd.Series({**{s: int(total_row[s]) for s in STATUSES}, "total": int(total_row["total"]),
                                      "inconclusive": int(sum(total_row[s] for s in INCONCLUSIVE))}), lang)
        counted = jury.loc[cid]
        rows.append({"id": cid, "name": cand["name"],
                     "href": web["candidate_href"](cid) if web else candidate_filename(cid), "cells": cells,
                     "heat": heat_cells[cid],
                     "total": total_cell, "points": _points_view(frames, cid, lang, pts),
                     "jury": text(lang, "jury.cell", overridden=int(counted["overridden"]),
                                  observations=int(counted["observations"]))
                     if int(counted["overridden"]) or int(counted["observations"]) else "",
                     "jury_review": text(lang, "jury.cell_review", n=int(counted["review"]))
                     if int(counted["review"]) else ""})
    notes = aggregate.host_notes(frames, lang)
    totals = {(r["candidate"], r["host"]): _chain_view(r, lang)
              for r in aggregate.dependency_totals(frames).to_dict("records")}
    unreachable = []
    for n in notes.to_dict("records"):
        if n["sentence"]:
            chain = totals.get((n["candidate"], n["host"]))
            unreachable.append(_note_view(n, lang) | {"chain": chain, "chain_line": text(
                lang, "chain.candidate", candidate=n["candidate"], line=chain["line"]) if chain else ""})
    said = {(n["candidate"], n["host"]) for n in unreachable}
    absent = [c | {"chain_line": text(lang, "chain.candidate", candidate=c["candidate"], line=c["line"])}
              for key, c in totals.items() if key not in said]
    others = [_note_view(n, lang) for n in notes.to_dict("records")
              if not n["sentence"] and (n["candidate"], n["host"]) not in totals]
    overridden = int(jury["overridden"].sum())
    return {**_common(lang, audience), "run": _run_view(frames, lang), "competences": comp_views, "rows": rows,
            "unreachable": unreachable, "absent": absent, "other_notes": others,
            "jury_column": not frames.annotations.empty and not trainee,
            "jury_note": text(lang, "jury.session_note", n=overridden) if overridden and not trainee else "",
            "heat_legend": _heat_legend(lang), "web": web}


def _cell(row: Any, lang: str) -> dict[str, Any]:
    total = int(row["total"])
    detail = [_status(s, lang) | {"n": int(row[s])} for s in STATUSES if s != "conforme" and int(row[s])]
    return {"text": aggregate.matrix_cell(row, lang), "total": total, "conforme": int(row["conforme"]),
            "headline": text(lang, "mx.conformes", ok=int(row["conforme"]), total=total) if total else
            text(lang, "mx.none"), "detail": detail, "inconclusive": int(row["inconclusive"]),
            "non_conforme": int(row["non_conforme"])}


# --- writers ----------------------------------------------------------------------------------


def _incident_lines(frames: Frames, candidate: str, lang: str) -> list[dict[str, str]]:
    """The phase-2 incidents injected on this candidate's machines: who, when, what, which check proves the fix."""
    lines = []
    for row in frames.incidents.to_dict("records"):
        if str(row["candidate"]) != candidate:
            continue
        code = None if pd.isna(row["exit_code"]) else row["exit_code"]
        outcome = (text(lang, "incident.report.ran") if code == 0 else
                   text(lang, "incident.report.not_run") if code is None else
                   text(lang, "incident.report.failed", code=int(code)))
        lines.append({"line": text(lang, "incident.report.line", created=row["created"], title=row["title"],
                                   incident=row["incident"], host=row["host"], author=row["author"],
                                   check=row["check_id"], outcome=outcome),
                      "command": str(row["command"])})
    return lines


def render_candidate(frames: Frames, candidate: str, lang: str = "fr", web: Mapping[str, Any] | None = None,
                     audience: str = "jury") -> str:
    context = candidate_context(frames, candidate, lang, web, audience)
    return environment(normalize_lang(lang)).get_template("candidate.html.j2").render(**context)


def render_session(frames: Frames, lang: str = "fr", web: Mapping[str, Any] | None = None,
                   audience: str = "jury") -> str:
    return environment(normalize_lang(lang)).get_template("session.html.j2").render(**session_context(frames, lang, web, audience))


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in untrusted text (``=cmd|...``): a leading ``'`` keeps it text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def results_table(frames: Frames, lang: str = "fr") -> pd.DataFrame:
    """One row per stored result, with French (or English) column names, ready for a spreadsheet."""
    lang = normalize_lang(lang)
    res = frames.results
    names = dict(zip(frames.candidates["candidate"], frames.candidates["name"]))
    columns = {
        N_("csv.candidate"): res["candidate"], N_("csv.name"): [names.get(c, "") for c in res["candidate"]],
        N_("csv.host"): res["host"], N_("csv.address"): res["address"],
        N_("csv.host_state"): [host_state_label(lang, s) for s in res["host_status"]],
        N_("csv.check_id"): res["check_id"], N_("csv.check_type"): res["check_type"], N_("csv.criterion"): res["criterion"],
        N_("csv.competence"): res["competence"], N_("csv.sentence"): res["sentence"],
        N_("csv.status"): [status_label(lang, s) for s in res["status"]], N_("csv.status_code"): res["status"],
        N_("csv.points"): res["points"].astype(float), N_("csv.observed"): res["observed"], N_("csv.expected"): res["expected"],
        N_("csv.message"): res["message"], N_("csv.hint"): res["hint"], N_("csv.judged_at"): res["judged_at"],
        N_("csv.host_wide"): [" | ".join(a) if isinstance(a, list) else "" for a in res.get("host_wide", [])]
        if "host_wide" in res else [""] * len(res),
    }
    return pd.DataFrame({text(lang, k): list(v) for k, v in columns.items()})


def write_csv(frames: Frames, path: Path, lang: str = "fr") -> Path:
    """``;``-separated, UTF-8 with BOM, CRLF: what French Excel opens without an import dialog."""
    table = results_table(frames, lang)
    points_col = text(lang, "csv.points")
    table[points_col] = [fmt_number(v, lang) for v in table[points_col]]  # 2 and 0,5: numbers to French Excel
    for col in table.columns:  # every column, whatever its dtype (pandas 3 stores text as "str", not object)
        table[col] = [_csv_safe(v) for v in table[col]]
    table.to_csv(path, sep=";", index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()
    return value


def results_document(frames: Frames, annotations: bool = True) -> dict[str, Any]:
    """The machine-readable export: run metadata, hosts, results each with its evidence (full stored text).

    :param annotations: include the jury's annotations (left out of the trainee's export).
    """
    evidence = _evidence_index(frames)
    run = {k: _plain(v) for k, v in frames.run.items() if k != "roster_text"}
    hosts = [{k: _plain(v) for k, v in h.items()} for h in frames.hosts.to_dict("records")]
    results = []
    for rec in frames.results.to_dict("records"):
        item = {k: _plain(rec[k]) for k in (
            "candidate", "host", "address", "host_status", "check_id", "check_type", "criterion", "competence",
            "block", "points", "sentence", "params", "status", "observed", "expected", "message", "hint", "judged_at")}
        item["evidence"] = []
        for name, key in (rec["probe_keys"] or {}).items():
            ev = evidence.get((rec["candidate"], rec["host"], key))
            entry: dict[str, Any] = {"name": name, "probe_key": key, "collected": ev is not None}
            if ev is not None:
                entry.update({k: _plain(ev[k]) for k in ("transport", "command", "stdout", "stderr", "exit_code",
                                                          "started", "duration", "error")})
                entry["truncated"] = bool(ev["truncated"])
                entry["timed_out"] = bool(ev["timed_out"])
            item["evidence"].append(entry)
        results.append(item)
    missing = [{k: _plain(rec[k]) for k in ("candidate", "host", "check_id", "criterion", "competence", "points",
                                             "status")} for rec in frames.missing.to_dict("records")]
    counts = aggregate.status_counts(frames)
    pts = aggregate.points(frames)
    return {
        "format": "grader-resultats/1",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "generator": f"grader {__version__}",
        "run": run,
        "referential": {"title": frames.referential.title, "rncp": frames.referential.rncp,
                        "code": frames.referential.code},
        "candidates": [{"candidate": c["candidate"], "name": c["name"]} for c in frames.candidates.to_dict("records")],
        "hosts": hosts,
        "counts": {cand: {k: int(v) for k, v in row.items()} for cand, row in counts.iterrows()},
        "points": {cand: {k: float(v) for k, v in row.items()} for cand, row in pts.iterrows()},
        "results": results,
        "missing": missing,
        "annotations": [{k: _plain(v) for k, v in a.items()} for a in frames.annotations.to_dict("records")]
        if annotations else [],
    }


def write_json(frames: Frames, path: Path, annotations: bool = True) -> Path:
    path.write_text(json.dumps(results_document(frames, annotations), ensure_ascii=False, indent=2, default=str) + "\n",
                    encoding="utf-8")
    return path


def write_reports(store: Store, run_id: str, out_dir: Path, lang: str = "fr",
                  referential: Referential | None = None, audience: str = "jury",
                  frames: aggregate.Frames | None = None) -> list[Path]:
    """Write ``session.html``, ``candidat-<id>.html`` per candidate, ``resultats.csv`` and ``resultats.json``.

    ``audience="trainee"`` writes the trainee's version of the same files: hints forward, no
    jury-only part, and a JSON export without the jury's annotations. ``frames``: the run
    already loaded by the caller (the reporter writes several formats from one read).
    """
    lang = normalize_lang(lang)
    check_audience(audience)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if frames is None:
        frames = aggregate.load_frames(store, run_id, referential, lang)
    written: list[Path] = []
    session = out_dir / SESSION_FILE
    session.write_text(render_session(frames, lang, audience=audience), encoding="utf-8")
    written.append(session)
    for cand in frames.candidate_ids():
        page = out_dir / candidate_filename(cand)
        page.write_text(render_candidate(frames, cand, lang, audience=audience), encoding="utf-8")
        written.append(page)
    written.append(write_csv(frames, out_dir / CSV_FILE, lang))
    written.append(write_json(frames, out_dir / JSON_FILE, annotations=audience == "jury"))
    return written
