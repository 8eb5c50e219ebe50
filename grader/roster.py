"""Rosters: the candidates of a session and their per-candidate variables (CSV).

One row per candidate. Column ``candidat`` is the candidate's id (as written on the
convocation, e.g. ``07``); ``nom`` is optional; every other column is a template variable
of the rubric (subnet, domain name...). Secrets never go in a roster.

A roster usually comes out of Excel, so it is read as Excel writes it: UTF-8 with or without
BOM, cp1252 (« CSV (séparateur : point-virgule) » on a French Windows), UTF-16 (« Texte
Unicode », tab separated), CRLF line ends, ``;``, ``,`` or tab between values (the header
line decides, or ``--separator``). Whatever the file holds, what comes back is candidates or
a :class:`RubricError` with every problem located (``file:line:col``), never a traceback.

With a rubric, each candidate's values are also tried in the rubric's templates (addresses,
parameters, options, credentials, hints): a value that makes an invalid parameter
(``reseau=127.0`` where the rubric writes ``"{{ reseau }}.20"``) is a problem of the roster's
cell, said with the place in the rubric it breaks, before any host is contacted.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import RubricError, UsageError
from grader.i18n import t
from grader.rubric import Rubric

_SECRETISH = re.compile(r"(pass|pwd|secret|mot_?de_?passe|token)", re.IGNORECASE)

#: What ``--separator`` accepts, and the character it means.
SEPARATORS = {";": ";", ",": ",", "tab": "\t", "\\t": "\t", "\t": "\t"}
_DETECTED = (";", ",", "\t")  # in this order when the header has as many of each (Excel FR writes ;)


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str = ""
    variables: dict[str, str] = field(default_factory=dict)


def separator_of(value: str | None) -> str | None:
    """The separator character ``--separator`` names (``;``, ``,``, ``tab``), None for « detect »."""
    if value is None:
        return None
    try:
        return SEPARATORS[value.strip().lower() if value.strip() else value]
    except KeyError:
        raise UsageError(t("roster.bad_separator", value=value)) from None


def read_roster_text(path: Path) -> str:
    """The roster's text, whatever encoding Excel gave it (UTF-8 with or without BOM, cp1252, UTF-16)."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RubricError([f"{source}:1:1: " + t("file.unreadable", error=exc.strerror)]) from exc
    return _decode(data, source)


def _decode(data: bytes, source: str) -> str:
    if data.startswith(b"PK\x03\x04"):  # a zip: an .xlsx/.ods workbook, not its CSV export
        raise RubricError([f"{source}:1:1: " + t("roster.workbook")])
    if data.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    elif len(data) >= 2 and data[1::2].count(0) > len(data) // 4:  # « Texte Unicode » without its BOM
        encodings = ["utf-16-le"]
    elif len(data) >= 2 and data[0::2].count(0) > len(data) // 4:
        encodings = ["utf-16-be"]
    else:
        encodings = ["utf-8", "cp1252", "latin-1"]  # latin-1 reads any byte: the last resort
    for n, encoding in enumerate(encodings, start=1):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            if n < len(encodings):
                continue
            line = data[:exc.start].count(b"\n") + 1
            raise RubricError([f"{source}:{line}:1: " + t("roster.bad_encoding", encoding=encoding)]) from exc
        if "\x00" in text:
            line = text[:text.index("\x00")].count("\n") + 1
            raise RubricError([f"{source}:{line}:1: " + t("roster.binary")])
        return text
    raise AssertionError("unreachable")  # pragma: no cover


def _detect_separator(header: str) -> str:
    """The separator the header line uses most (outside quotes); ``;`` for a one-column roster."""
    outside = re.sub(r'"[^"]*"', "", header)
    counts = {sep: outside.count(sep) for sep in _DETECTED}
    best = max(_DETECTED, key=lambda sep: counts[sep])
    return best if counts[best] else ";"


def load_roster(path: Path, rubric: Rubric | None = None, *, separator: str | None = None) -> list[Candidate]:
    """Read and validate a roster against a rubric's variables; every problem is located.

    ``separator``: ``;``, ``,`` or ``tab`` (as ``--separator`` takes it) to force it; None detects it
    from the header line.
    """
    source = str(path)
    text = read_roster_text(path)
    lines = text.splitlines()  # \n, \r\n and \r alike
    first = next((line for line in lines if line.strip()), "")
    delimiter = separator_of(separator) or _detect_separator(first)
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    problems: list[str] = []
    candidates: list[Candidate] = []
    try:
        header: list[str] = []
        for header in reader:  # the first line with something in it (blank lines before it are skipped)
            if any(c.strip() for c in header):
                break
        columns = [c.strip() for c in header]
        problems += _header_problems(source, reader.line_num if columns else 1, columns, rubric)
        seen: set[str] = set()
        for values in reader:
            row_number = reader.line_num  # physical line: counts blank lines and quoted line breaks
            cells = [v.strip() for v in values]
            if not any(cells):
                continue
            extra = [n for n, v in enumerate(cells[len(columns):], start=len(columns) + 1) if v]
            if extra:  # more values than columns (empty trailing cells, as Excel writes them, are fine)
                problems.append(f"{source}:{row_number}:{extra[0]}: "
                                + t("roster.too_many_values", values=len(columns) + len(extra), columns=len(columns),
                                    delimiter=_said(delimiter)))
                continue
            unnamed = [n for n, (c, v) in enumerate(zip(columns, cells, strict=False), start=1) if not c and v]
            if unnamed:
                problems.append(f"{source}:{row_number}:{unnamed[0]}: " + t("roster.unnamed_value"))
                continue
            row = {c: v for c, v in zip(columns, cells + [""] * (len(columns) - len(cells)), strict=False) if c}
            cid = row.get("candidat", "")
            if not cid:
                problems.append(f"{source}:{row_number}:{_col(columns, 'candidat')}: " + t("roster.empty_candidate"))
                continue
            if cid in seen:
                problems.append(f"{source}:{row_number}:{_col(columns, 'candidat')}: "
                                + t("roster.duplicate_candidate", candidate=cid))
            seen.add(cid)
            variables = {k: v for k, v in row.items() if k not in ("candidat", "nom")}
            if rubric is not None:
                missing = False
                for name, var in rubric.variables.items():
                    if not variables.get(name):
                        if var.default is None:
                            problems.append(f"{source}:{row_number}:{_col(columns, name)}: "
                                            + t("roster.missing_value", name=name))
                            missing = True
                        else:
                            variables[name] = var.default
                if not missing:
                    problems += _value_problems(source, row_number, columns, cid, row.get("nom", ""), variables,
                                                rubric)
            candidates.append(Candidate(cid, row.get("nom", ""), variables))
    except csv.Error as exc:  # e.g. a quote never closed: the reader gives up
        problems.append(f"{source}:{reader.line_num or 1}:1: " + t("roster.bad_csv", error=str(exc)))
    if not candidates and not problems:
        problems.append(f"{source}:2:1: " + t("roster.no_candidates"))
    if problems:
        raise RubricError(problems)
    return candidates


def _said(delimiter: str) -> str:
    return t("roster.tab") if delimiter == "\t" else delimiter


def _col(columns: list[str], name: str) -> int:
    return columns.index(name) + 1 if name in columns else 1


def _header_problems(source: str, line: int, columns: list[str], rubric: Rubric | None) -> list[str]:
    problems = []
    if "candidat" not in columns:
        problems.append(f"{source}:{line}:1: " + t("roster.no_candidate_column"))
    for i, column in enumerate(columns, start=1):
        if _SECRETISH.search(column):
            problems.append(f"{source}:{line}:{i}: " + t("roster.secret_column", column=column))
        elif column and columns.index(column) != i - 1:
            problems.append(f"{source}:{line}:{i}: " + t("roster.duplicate_column", column=column))
    if rubric is not None:
        for name, var in rubric.variables.items():
            if var.default is None and name not in columns:
                problems.append(f"{source}:{line}:1: " + t("roster.missing_column", name=name,
                                                            description=var.description or t("roster.no_description")))
    return problems


def _value_problems(source: str, row_number: int, columns: list[str], cid: str, name: str,
                    variables: dict[str, str], rubric: Rubric) -> list[str]:
    """What this candidate's values break in the rubric, at the cell of the variable that breaks it."""
    from grader.rubric import candidate_problems

    problems = []
    values = {**variables, "candidat": cid, "nom": name}
    for problem in candidate_problems(rubric, values):
        used = [v for v in problem.variables if v in columns] or ["candidat"]
        col = _col(columns, next((v for v in used if v not in ("candidat", "nom")), used[0]))
        said = ", ".join(f"{v}={values.get(v, '')}" for v in used)
        problems.append(f"{source}:{row_number}:{col}: " + t("roster.breaks_rubric", candidate=cid, values=said,
                                                              where=problem.where, what=problem.what))
    return problems
