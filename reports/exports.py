"""Exports for other tools: JUnit XML (CI dashboards) and a Moodle grade-import CSV.

**JUnit XML** (``resultats-junit.xml``), the shape pytest and most CI servers read::

    <testsuites name="…" tests failures errors skipped time>
      <testsuite name="<candidat>" tests failures errors skipped time timestamp>
        <properties><property name="candidat" value="01"/><property name="nom" value="…"/>…</properties>
        <testcase classname="<candidat>.<host>" name="<candidat>.<host>.<check_id>" time="…">
          <failure type="non_conforme" message="…"/>        non conforme
          <error type="erreur|injoignable" message="…"/>     could not be evaluated
          <skipped type="non_evalue" message="…"/>           not run (interrupted run…)
          <system-out>sentence, criterion, observed, expected, explanation, host</system-out>
        </testcase>

One testsuite per candidate, one testcase per check result (results no host produced are
``skipped``). "Could not tell" is an *error*, never a *failure*. ``time`` is the summed
duration of the probes the check read.

**Moodle CSV** (``notes-moodle.csv``), for *Administration du carnet de notes → Importer →
Fichier CSV* (``grade/import/csv``). UTF-8 without BOM, ``,`` separator, first line the
headings, ``.`` as decimal point (Moodle's ``unformat_float`` accepts it in every language)::

    Numéro d'identification,Nom,Correction automatique — <rubric>,Commentaire
    01,Camille Martin,8,"8 point(s) conforme(s) sur 12 ; …"

In the import form, map *Identifier l'utilisateur par* ``Numéro d'identification`` → ``Numéro
d'identification`` (the user field ``idnumber``: the roster's candidate id must be the
candidate's Moodle ID number), the points column to a grade item (or *Nouvel élément d'évaluation*,
named after the heading), the comment column to that item's feedback, and ``Nom`` to *ignorer*.
The points are those of the **conforme** checks only. A candidate with no conclusive check at
all (every host unreachable…) gets ``-``, which Moodle reads as *no grade* rather than a 0 the
candidate did not earn; the comment always states the points that could not be evaluated.
"""

from __future__ import annotations

import csv
import io
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from reports import aggregate
from reports.aggregate import Frames
from reports.labels import INCONCLUSIVE, labels, normalize_lang, status_label, text

JUNIT_FILE = "resultats-junit.xml"
MOODLE_FILE = "notes-moodle.csv"
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
OUTCOME_TAG = {"non_conforme": "failure", "erreur": "error", "injoignable": "error", "non_evalue": "skipped"}


def xml_text(value: Any) -> str:
    """Untrusted text as XML 1.0 can carry it (characters it forbids are dropped)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return _XML_INVALID.sub("", str(value))


def _number(value: float) -> str:
    """``8``, ``2.5``: plain, ``.`` decimal point, never an exponent."""
    shown = f"{float(value):.3f}".rstrip("0").rstrip(".")
    return shown if shown not in ("", "-0") else "0"


# --- JUnit XML ----------------------------------------------------------------------------------


def _durations(frames: Frames) -> dict[tuple[str, str, str], float]:
    ev = frames.evidence
    return {(c, h, k): float(d or 0.0) for c, h, k, d in zip(ev["candidate"], ev["host"], ev["probe_key"],
                                                              ev["duration"])}


def _system_out(rec: dict[str, Any], lang: str) -> str:
    _ = labels(lang)
    host = xml_text(rec.get("host"))
    address = xml_text(rec.get("address"))
    fields = [
        (_("junit.sentence"), xml_text(rec.get("sentence"))),
        (_("junit.criterion"), xml_text(rec.get("criterion"))),
        (_("xlsx.col.status"), status_label(lang, str(rec["status"]))),
        (_("check.observed"), xml_text(rec.get("observed"))),
        (_("check.expected"), xml_text(rec.get("expected"))),
    ]
    if xml_text(rec.get("message")):
        fields.append((_("check.message"), xml_text(rec.get("message"))))
    fields.append((_("check.host"), host + (f" ({address})" if address else "")))
    colon = _("colon")
    lines = [f"{name}{colon} {value}" for name, value in fields]
    return "\n".join(lines) + "\n"


def junit_tree(frames: Frames, lang: str = "fr") -> ET.ElementTree:
    """The JUnit document of one run (see the module docstring for its shape)."""
    lang = normalize_lang(lang)
    run = frames.run
    durations = _durations(frames)
    everything = frames.all_results()
    root = ET.Element("testsuites", name=xml_text(f"grader {run['rubric_id']} {run['id']}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for cand in frames.candidates.to_dict("records"):
        cid = str(cand["candidate"])
        mine = everything[everything["candidate"] == cid]
        start, _end = aggregate.collection_window(frames, cid)
        suite = ET.SubElement(root, "testsuite", name=xml_text(cid))
        if start:
            suite.set("timestamp", start)
        props = ET.SubElement(suite, "properties")
        for name, value in (("candidat", cid), ("nom", cand["name"]), ("bareme", run["rubric_id"]),
                            ("version_bareme", run["rubric_version"]), ("correction", run["id"]),
                            ("version_grader", run["grader_version"])):
            ET.SubElement(props, "property", name=name, value=xml_text(value))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suite_time = 0.0
        for rec in mine.to_dict("records"):
            host = str(rec["host"])
            keys = rec.get("probe_keys") or {}
            seconds = sum(durations.get((cid, host, k), 0.0) for k in keys.values())
            suite_time += seconds
            case = ET.SubElement(suite, "testcase", classname=xml_text(f"{cid}.{host}"),
                                 name=xml_text(f"{cid}.{host}.{rec['check_id']}"), time=f"{seconds:.3f}")
            status = str(rec["status"])
            counts["tests"] += 1
            tag = OUTCOME_TAG.get(status)
            if tag is not None:
                message = xml_text(rec.get("message")) or status_label(lang, status)
                ET.SubElement(case, tag, type=status, message=message)
                counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[tag]] += 1
            out = ET.SubElement(case, "system-out")
            out.text = _system_out(rec, lang)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{suite_time:.3f}")
        total_time += suite_time
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(frames: Frames, path: Path, lang: str = "fr") -> Path:
    junit_tree(frames, lang).write(path, encoding="utf-8", xml_declaration=True)
    return path


# --- Moodle grade import ------------------------------------------------------------------------


def moodle_rows(frames: Frames, lang: str = "fr", item: str | None = None) -> tuple[list[str], list[list[str]]]:
    """Headings and rows of the Moodle grade CSV (see the module docstring)."""
    lang = normalize_lang(lang)
    _ = labels(lang)
    run = frames.run
    item_name = item or text(lang, "moodle.item", rubric=run["rubric_id"])
    headings = [_("moodle.idnumber"), _("col.name"), item_name, _("moodle.feedback")]
    pts = aggregate.points(frames)
    everything = frames.all_results()
    rows: list[list[str]] = []
    for cand in frames.candidates.to_dict("records"):
        cid = str(cand["candidate"])
        p = pts.loc[cid]
        statuses = everything[everything["candidate"] == cid]["status"]
        conclusive = int((~statuses.isin(INCONCLUSIVE)).sum())
        grade = _number(p["obtained"]) if conclusive else "-"
        feedback = text(lang, "moodle.feedback_text", got=_number(p["obtained"]), possible=_number(p["possible"]),
                        nc=_number(p["non_conforme"]), unsure=_number(p["unsure"]), run=run["id"])
        rows.append([cid, str(cand["name"] or ""), grade, feedback])
    return headings, rows


def moodle_csv(frames: Frames, lang: str = "fr", item: str | None = None) -> str:
    headings, rows = moodle_rows(frames, lang, item)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=",", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(headings)
    writer.writerows(rows)
    return buf.getvalue()


def write_moodle_csv(frames: Frames, path: Path, lang: str = "fr", item: str | None = None) -> Path:
    path.write_text(moodle_csv(frames, lang, item), encoding="utf-8", newline="")
    return path
