"""Rosters: the candidates of a session and their per-candidate variables (CSV).

One row per candidate. Column ``candidat`` is the candidate's id (as written on the
convocation, e.g. ``07``); ``nom`` is optional; every other column is a template variable
of the rubric (subnet, domain name...). Secrets never go in a roster.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import RubricError
from grader.i18n import t
from grader.rubric import Rubric

_SECRETISH = re.compile(r"(pass|pwd|secret|mot_?de_?passe|token)", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str = ""
    variables: dict[str, str] = field(default_factory=dict)


def load_roster(path: Path, rubric: Rubric | None = None) -> list[Candidate]:
    """Read and validate a roster against a rubric's variables; every problem is located."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RubricError([f"{source}:1:1: " + t("file.unreadable", error=exc.strerror)]) from exc
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ",",
                                                                      delimiters=",;\t")
    except csv.Error:  # a one-column roster has no delimiter to sniff
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    columns = [c.strip() for c in reader.fieldnames or []]
    problems: list[str] = []
    if "candidat" not in columns:
        problems.append(f"{source}:1:1: " + t("roster.no_candidate_column"))
    for i, column in enumerate(columns, start=1):
        if _SECRETISH.search(column):
            problems.append(f"{source}:1:{i}: " + t("roster.secret_column", column=column))
    if rubric is not None:
        for name, var in rubric.variables.items():
            if var.default is None and name not in columns:
                problems.append(f"{source}:1:1: " + t("roster.missing_column", name=name,
                                                        description=var.description or t("roster.no_description")))
    candidates: list[Candidate] = []
    seen: set[str] = set()
    for row in reader:
        row_number = reader.line_num  # physical line: DictReader skips blank lines
        if None in row:  # more values than columns: DictReader puts the surplus in a list under None
            problems.append(f"{source}:{row_number}:{len(columns) + 1}: "
                            + t("roster.too_many_values", values=len(columns) + len(row[None]), columns=len(columns),
                                delimiter=dialect.delimiter))
            continue
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        cid = row.get("candidat", "")
        if not any(row.values()):
            continue
        if not cid:
            problems.append(f"{source}:{row_number}:1: " + t("roster.empty_candidate"))
            continue
        if cid in seen:
            problems.append(f"{source}:{row_number}:1: " + t("roster.duplicate_candidate", candidate=cid))
        seen.add(cid)
        variables = {k: v for k, v in row.items() if k not in ("candidat", "nom")}
        if rubric is not None:
            for name, var in rubric.variables.items():
                if not variables.get(name):
                    if var.default is None:
                        col = columns.index(name) + 1 if name in columns else 1
                        problems.append(f"{source}:{row_number}:{col}: " + t("roster.missing_value", name=name))
                    else:
                        variables[name] = var.default
        candidates.append(Candidate(cid, row.get("nom", ""), variables))
    if not candidates and not problems:
        problems.append(f"{source}:2:1: " + t("roster.no_candidates"))
    if problems:
        raise RubricError(problems)
    return candidates
