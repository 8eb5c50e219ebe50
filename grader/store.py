"""The session store: one SQLite file per session directory, written as each host finishes.

Why SQLite in WAL mode with one transaction per host: a proctor's Ctrl-C, a crash or a
``kill -9`` in the middle of a run must lose nothing already collected. Each finished host
is committed whole (host row, its results, its evidence), so the file is always a set of
complete hosts, and ``--resume`` knows exactly which hosts still need grading.

Secrets never reach this file: hosts record the login *name* and method, never a password
or key; the rubric is stored as written (rubrics hold references, not secrets).

The jury's observations and overrides live in their own table, ``annotations``, appended to
and never updated: an override records the status the jury decided, who decided it, when and
why, and the automated status it replaced (``replaced``), and leaves the automated ``results`` row
exactly as the judge wrote it, so reports show both side by side. A resume replaces a host's
results, never its annotations: when it changes the automated status an override replaced, the
reports flag that decision « à revoir » (:func:`reports.aggregate.overrides`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader import __version__
from grader.errors import AnnotationError, StoreError
from grader.i18n import t
from grader.model import Msg, ProbeResult, Status, ref_of, said_as_read

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    state TEXT NOT NULL DEFAULT 'en_cours',   -- en_cours | termine | interrompu
    rubric_id TEXT NOT NULL,
    rubric_title TEXT NOT NULL,
    rubric_version TEXT NOT NULL,
    rubric_path TEXT,
    rubric_text TEXT NOT NULL,
    roster_text TEXT NOT NULL,
    grader_version TEXT NOT NULL,
    resumes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS candidates (
    run_id TEXT NOT NULL REFERENCES runs(id),
    candidate TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    variables TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, candidate)
);
CREATE TABLE IF NOT EXISTS hosts (
    run_id TEXT NOT NULL REFERENCES runs(id),
    candidate TEXT NOT NULL,
    host TEXT NOT NULL,
    address TEXT NOT NULL,
    platform TEXT NOT NULL,
    transport TEXT NOT NULL,
    status TEXT NOT NULL,           -- conforme (reached) | injoignable | erreur
    reason TEXT NOT NULL DEFAULT '',
    host_key TEXT NOT NULL DEFAULT '',
    login TEXT NOT NULL DEFAULT '',
    anomalies TEXT NOT NULL DEFAULT '[]',
    execs INTEGER NOT NULL DEFAULT 0,
    started TEXT NOT NULL,
    duration REAL NOT NULL DEFAULT 0,
    text_ref TEXT,                  -- JSON {"reason"|"login"|"host_key": {"id", "args"}, "anomalies": [ref|null...]}
    PRIMARY KEY (run_id, candidate, host)
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs(id),
    candidate TEXT NOT NULL,
    check_id TEXT NOT NULL,
    host TEXT NOT NULL,
    check_type TEXT NOT NULL,
    criterion TEXT NOT NULL,
    points REAL NOT NULL,
    sentence TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    observed TEXT NOT NULL DEFAULT '',
    expected TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    hint TEXT NOT NULL DEFAULT '',
    probe_keys TEXT NOT NULL DEFAULT '{}',
    judged_at TEXT NOT NULL,
    message_ref TEXT,               -- JSON {"message"|"observed"|"expected": {"id", "args"}}: those texts by reference (NULL: none)
    PRIMARY KEY (run_id, candidate, check_id, host)
);
CREATE TABLE IF NOT EXISTS evidence (
    run_id TEXT NOT NULL REFERENCES runs(id),
    candidate TEXT NOT NULL,
    host TEXT NOT NULL,
    probe_key TEXT NOT NULL,
    transport TEXT NOT NULL,
    command TEXT NOT NULL,
    stdout TEXT NOT NULL DEFAULT '',
    stderr TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,
    truncated INTEGER NOT NULL DEFAULT 0,
    timed_out INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    started TEXT NOT NULL DEFAULT '',
    duration REAL NOT NULL DEFAULT 0,
    text_ref TEXT,                  -- JSON {"error"|"stderr"|"stdout": {"id", "args"}}: those texts by reference
    PRIMARY KEY (run_id, candidate, host, probe_key)
);
CREATE TABLE IF NOT EXISTS annotations (      -- the jury's words; never changes a results row
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id),
    candidate TEXT NOT NULL,
    check_id TEXT,                  -- NULL: a note on the candidate or on a criterion
    host TEXT,
    criterion TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('observation', 'override')),
    status TEXT,                    -- override: the status the jury decides; observation: NULL
    text TEXT NOT NULL,             -- the observation, or the override's justification
    author TEXT NOT NULL,
    created TEXT NOT NULL,
    replaced TEXT                   -- override: the automated status when it was decided (NULL: older store, observation)
);
CREATE INDEX IF NOT EXISTS annotations_by_candidate ON annotations (run_id, candidate);
CREATE TABLE IF NOT EXISTS incidents (        -- phase-2 incidents the jury injected (grader incident inject)
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate TEXT NOT NULL,
    incident TEXT NOT NULL,         -- the pack's incident id
    pack TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL,             -- the rubric host it was run on
    command TEXT NOT NULL,          -- the command, as run
    check_id TEXT NOT NULL,         -- the rubric check that proves the fix
    author TEXT NOT NULL,           -- who decided it (a jury member)
    created TEXT NOT NULL,          -- when (UTC)
    exit_code INTEGER,              -- NULL: never ran (host not reached)
    output TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS incidents_by_candidate ON incidents (candidate);
"""

# Named in every insert: a store created before a column was added has it last (ALTER TABLE).
RESULT_COLUMNS = ("run_id", "candidate", "check_id", "host", "check_type", "criterion", "points", "sentence", "params",
                  "status", "observed", "expected", "message", "hint", "probe_keys", "judged_at", "message_ref")
_INSERT_RESULT = (f"INSERT OR REPLACE INTO results ({', '.join(RESULT_COLUMNS)})"
                  f" VALUES ({', '.join('?' for _ in RESULT_COLUMNS)})")
HOST_COLUMNS = ("run_id", "candidate", "host", "address", "platform", "transport", "status", "reason", "host_key",
                "login", "anomalies", "execs", "started", "duration", "text_ref")
EVIDENCE_COLUMNS = ("run_id", "candidate", "host", "probe_key", "transport", "command", "stdout", "stderr", "exit_code",
                    "truncated", "timed_out", "error", "started", "duration", "text_ref")
_INSERT_HOST = f"INSERT OR REPLACE INTO hosts ({', '.join(HOST_COLUMNS)}) VALUES ({', '.join('?' for _ in HOST_COLUMNS)})"
_INSERT_EVIDENCE = (f"INSERT OR REPLACE INTO evidence ({', '.join(EVIDENCE_COLUMNS)})"
                    f" VALUES ({', '.join('?' for _ in EVIDENCE_COLUMNS)})")
# Columns added after the first stores were written: (table, column, declaration).
ADDED_COLUMNS = (("results", "message_ref", "TEXT"), ("hosts", "text_ref", "TEXT"), ("evidence", "text_ref", "TEXT"),
                 ("annotations", "replaced", "TEXT"))


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a store written by an older grader up to the schema (nullable columns only).

    A store that cannot be written (a read-only copy) is left as it is: reading it still works,
    the missing column reads as NULL (see :mod:`reports.aggregate`).
    """
    for table, column, declaration in ADDED_COLUMNS:
        known = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in known:
            try:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            except sqlite3.OperationalError:
                pass


def message_ref_json(message: Any, observed: Any = None, expected: Any = None) -> str | None:
    """``results.message_ref``: which of a verdict's texts (``message``, ``observed``, ``expected``) were said
    by reference (a :class:`grader.model.Msg`), one key per text; None when all three are plain text.

    The store boundary: texts are stored as their French text, references beside them as JSON."""
    return _refs_json({"message": ref_of(message), "observed": ref_of(observed), "expected": ref_of(expected)})


def host_text_ref_json(outcome: Any, login: Any = None) -> str | None:
    """``hosts.text_ref``: the host's reason, login, host key and anomalies given by reference (None: all plain text)."""
    refs: dict[str, Any] = {"reason": ref_of(getattr(outcome, "reason", None)), "login": ref_of(login),
                            "host_key": ref_of(getattr(outcome, "host_key", None))}
    anomalies = [ref_of(a) for a in getattr(outcome, "anomalies", ())]
    if any(a is not None for a in anomalies):
        refs["anomalies"] = anomalies
    return _refs_json(refs)


def probe_text_ref_json(probe: Any) -> str | None:
    """``evidence.text_ref``: the probe's error, stderr and stdout given by reference, like ``results.message_ref``."""
    return _refs_json({name: ref_of(getattr(probe, name, None)) for name in ("error", "stderr", "stdout")})


def _refs_json(refs: dict[str, Any]) -> str | None:
    """The references that are there, as JSON (a list keeps its None: anomalies are matched by position)."""
    kept = {k: [None if r is None else r.to_json() for r in v] if isinstance(v, list) else v.to_json()
            for k, v in refs.items() if v is not None}
    return json.dumps(kept, ensure_ascii=False, default=str, sort_keys=True) if kept else None


ANNOTATION_KINDS = ("observation", "override")
MAX_ANNOTATION_TEXT = 20_000
MAX_AUTHOR = 200


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """Thread-safe access to one session's SQLite file (one connection, one lock)."""

    FILENAME = "grader.sqlite"

    def __init__(self, session_dir: Path):
        self.session_dir = session_dir
        session_dir.mkdir(parents=True, exist_ok=True)
        self.path = session_dir / self.FILENAME
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            _add_missing_columns(self._db)
        except sqlite3.Error as exc:
            raise StoreError(t("store.unusable", path=self.path, error=exc)) from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ---------------------------------------------------------------------

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for sql, args in statements:
                    self._db.execute(sql, args)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # BEGIN itself may have failed (locked): keep its error
                    self._db.execute("ROLLBACK")
                raise

    def new_run(self, *, run_id: str, rubric: Any, roster_text: str, candidates: Iterable[Any]) -> str:
        stmts: list[tuple[str, tuple[Any, ...]]] = [(
            ("INSERT INTO runs (id, started, rubric_id, rubric_title, rubric_version, rubric_path, rubric_text,"
             " roster_text, grader_version) VALUES (?,?,?,?,?,?,?,?,?)"),
            (run_id, utcnow(), rubric.rubric, rubric.title, rubric.version, str(rubric.source or ""),
             rubric.text, roster_text, __version__),
        )]
        for c in candidates:
            stmts.append(("INSERT INTO candidates VALUES (?,?,?,?)",
                          (run_id, c.id, c.name, json.dumps(c.variables, ensure_ascii=False))))
        self._write(stmts)
        return run_id

    def save_host(self, run_id: str, report: Any, *, partial: bool = False) -> None:
        """Commit one host whole: replaces what an earlier attempt stored for it (resume).

        ``partial``: the report holds only some of the host's checks (``grader run --check``): only
        their results are replaced; the host's other results stay, with the evidence they cite.
        """
        key = (run_id, report.candidate, report.host)
        o = report.outcome
        if partial:
            ids = tuple(r.check_id for r in report.results)
            marks = ", ".join("?" for _ in ids)
            kept = sorted({probe for r in self.results(run_id)
                           if (r["candidate"], r["host"]) == key[1:] and r["check_id"] not in ids
                           for probe in json.loads(r["probe_keys"] or "{}").values()})
            keep = ", ".join("?" for _ in kept)
            forget: list[tuple[str, tuple[Any, ...]]] = [
                (f"DELETE FROM results WHERE run_id=? AND candidate=? AND host=? AND check_id IN ({marks})", key + ids),
                (f"DELETE FROM evidence WHERE run_id=? AND candidate=? AND host=? AND probe_key NOT IN ({keep})",
                 key + tuple(kept)),
            ]
        else:
            forget = [("DELETE FROM results WHERE run_id=? AND candidate=? AND host=?", key),
                      ("DELETE FROM evidence WHERE run_id=? AND candidate=? AND host=?", key)]
        stmts: list[tuple[str, tuple[Any, ...]]] = [
            *forget,
            (_INSERT_HOST,
             key + (report.address, report.platform, report.transport, o.status.value, _text(o.reason),
                    _text(o.host_key), _text(report.login), json.dumps([_text(a) for a in o.anomalies], ensure_ascii=False),
                    o.execs, report.started, report.duration, host_text_ref_json(o, report.login))),
        ]
        for p in report.probes:
            stmts.append((_INSERT_EVIDENCE,
                          key + (p.key, p.transport, p.command, _text(p.stdout), _text(p.stderr), p.exit_code,
                                 int(p.truncated), int(p.timed_out), _text(p.error), p.started, p.duration,
                                 probe_text_ref_json(p))))
        for r in report.results:
            stmts.append((_INSERT_RESULT,
                          (run_id, report.candidate, r.check_id, report.host, r.check_type, r.criterion,
                           r.points, r.sentence, json.dumps(r.params, ensure_ascii=False, default=str),
                           r.status.value, _text(r.observed), _text(r.expected), _text(r.message), r.hint,
                           json.dumps(r.probe_keys), r.judged_at, message_ref_json(r.message, r.observed, r.expected))))
        self._write(stmts)

    def finish_run(self, run_id: str, state: str) -> None:
        self._write([("UPDATE runs SET finished=?, state=? WHERE id=?", (utcnow(), state, run_id))])

    def reopen_run(self, run_id: str) -> None:
        """A resume continues the same run: its conclusive hosts are kept, the rest regraded."""
        self._write([("UPDATE runs SET state='en_cours', finished=NULL, resumes=resumes+1 WHERE id=?", (run_id,))])

    # -- reading ---------------------------------------------------------------------

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, args).fetchall()]

    def runs(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM runs ORDER BY started, id")

    def run(self, run_id: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM runs WHERE id=?", (run_id,))
        if not rows:
            known = ", ".join(r["id"] for r in self.runs()) or t("store.none_f")
            raise StoreError(t("store.unknown_run", run=run_id, path=self.path, known=known))
        return rows[0]

    def latest_run(self) -> str | None:
        rows = self._rows("SELECT id FROM runs ORDER BY started DESC, id DESC LIMIT 1")
        return rows[0]["id"] if rows else None

    def candidates(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM candidates WHERE run_id=? ORDER BY candidate", (run_id,))

    def hosts(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM hosts WHERE run_id=? ORDER BY candidate, host", (run_id,))

    def results(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM results WHERE run_id=? ORDER BY candidate, check_id, host", (run_id,))

    def evidence(self, run_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM evidence WHERE run_id=? ORDER BY candidate, host, probe_key", (run_id,))

    def conclusive_hosts(self, run_id: str) -> set[tuple[str, str]]:
        """Hosts reached whose every result is conforme/non_conforme: a resume skips them."""
        done = {(h["candidate"], h["host"]) for h in self.hosts(run_id) if h["status"] == Status.CONFORME.value}
        for r in self.results(run_id):
            if not Status(r["status"]).conclusive:
                done.discard((r["candidate"], r["host"]))
        return done

    # -- the jury's annotations --------------------------------------------------------

    def add_annotation(self, run_id: str, candidate: str, *, kind: str, text: str, author: str,
                       check_id: str | None = None, host: str | None = None, criterion: str | None = None,
                       status: str | Status | None = None) -> dict[str, Any]:
        """Record one observation or override of the jury and return the stored row (with its ``id``).

        The target is a check on one host (``check_id``, and ``host`` unless the check ran on a
        single host of the run), an RC criterion (``criterion``), or the candidate as a whole
        (neither). An override targets a check, names one of the five statuses and carries a
        non-empty justification in ``text``; the row records in ``replaced`` the automated status of
        that check at that moment (``non_evalue`` when the candidate was never graded on it).
        Nothing else in the store changes.

        :raises AnnotationError: the target does not exist in the run, the text or the author
            is empty, the status is not one of :class:`grader.model.Status`...
        """
        kind = (kind or "").strip()
        text = (text or "").strip()
        author = " ".join((author or "").split())
        check_id, host, criterion = (str(v).strip() or None if v is not None else None
                                     for v in (check_id, host, criterion))
        if kind not in ANNOTATION_KINDS:
            raise AnnotationError(t("store.unknown_kind", kind=kind))
        if not text:
            raise AnnotationError(t("store.override_unjustified") if kind == "override" else t("store.empty_observation"))
        if (length := len(text)) > MAX_ANNOTATION_TEXT:  # not len(text) inside t(): "text" is an extraction keyword
            raise AnnotationError(t("store.text_too_long", length=length, limit=MAX_ANNOTATION_TEXT))
        if not author:
            raise AnnotationError(t("store.no_author"))
        if len(author) > MAX_AUTHOR:
            raise AnnotationError(t("store.author_too_long", limit=MAX_AUTHOR))
        self.run(run_id)  # a clear error for an unknown run
        known = [c["candidate"] for c in self.candidates(run_id)]
        if candidate not in known:
            raise AnnotationError(t("store.unknown_candidate", candidate=candidate, run=run_id,
                                    known=", ".join(known) or t("store.none_m")))
        if check_id and criterion:
            raise AnnotationError(t("store.check_and_criterion"))
        if host and not check_id:
            raise AnnotationError(t("store.host_alone"))
        results = self.results(run_id)
        if check_id:
            host = self._annotated_host(run_id, results, check_id, host)
        if criterion:
            self._check_criterion(results, criterion)
        value: str | None = None
        replaced: str | None = None
        if kind == "override":
            if not check_id:
                raise AnnotationError(t("store.override_needs_check"))
            value = _status_value(status)
            replaced = next((str(r["status"]) for r in results
                             if (r["candidate"], r["check_id"], r["host"]) == (candidate, check_id, host)),
                            Status.NON_EVALUE.value)  # never graded for this candidate (interrupted run)
        elif status is not None and str(status).strip():
            raise AnnotationError(t("store.observation_with_status"))
        row = {"run_id": run_id, "candidate": candidate, "check_id": check_id, "host": host,
               "criterion": criterion, "kind": kind, "status": value, "text": text, "author": author,
               "created": utcnow(), "replaced": replaced}
        with self._lock:
            try:
                cur = self._db.execute(
                    "INSERT INTO annotations (run_id, candidate, check_id, host, criterion, kind, status, text,"
                    " author, created, replaced) VALUES (?,?,?,?,?,?,?,?,?,?,?)", tuple(row.values()))
            except sqlite3.Error as exc:
                raise StoreError(t("store.annotation_not_saved", path=self.path, error=exc)) from exc
        return {"id": cur.lastrowid, **row}

    @staticmethod
    def _annotated_host(run_id: str, results: list[dict[str, Any]], check_id: str, host: str | None) -> str:
        """The host of an annotated check; any candidate's result names the check's hosts (a missing one too)."""
        hosts = sorted({r["host"] for r in results if r["check_id"] == check_id})
        if not hosts:
            checks = sorted({r["check_id"] for r in results})
            raise AnnotationError(t("store.unknown_check", check=check_id, run=run_id,
                                    known=", ".join(checks) or t("store.none_f")))
        if host is None:
            if len(hosts) > 1:
                raise AnnotationError(t("store.which_host", check=check_id, hosts=", ".join(hosts)))
            return hosts[0]
        if host not in hosts:
            raise AnnotationError(t("store.wrong_host", check=check_id, host=host, hosts=", ".join(hosts)))
        return host

    @staticmethod
    def _check_criterion(results: list[dict[str, Any]], criterion: str) -> None:
        from grader.referential import load_referential

        known = set(load_referential().evidence_ids()) | {r["criterion"] for r in results}
        if criterion not in known:
            raise AnnotationError(t("store.unknown_criterion", criterion=criterion))

    # -- phase-2 incidents ---------------------------------------------------------------

    def add_incident(self, *, candidate: str, incident: str, pack: str, title: str, host: str, command: str,
                     check_id: str, author: str, exit_code: int | None, output: str = "") -> dict[str, Any]:
        """Record one injected incident (who, when, what, on which host, and what the command answered).

        Incidents belong to the session, not to one run: the jury injects them between gradings.
        Appended, never updated. :raises AnnotationError: no author.
        """
        author = " ".join((author or "").split())
        if not author:
            raise AnnotationError(t("store.no_author"))
        if len(author) > MAX_AUTHOR:
            raise AnnotationError(t("store.author_too_long", limit=MAX_AUTHOR))
        row = {"candidate": candidate, "incident": incident, "pack": pack, "title": title, "host": host,
               "command": command, "check_id": check_id, "author": author, "created": utcnow(),
               "exit_code": exit_code, "output": (output or "")[-4000:]}
        with self._lock:
            try:
                cur = self._db.execute(f"INSERT INTO incidents ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                                       tuple(row.values()))
            except sqlite3.Error as exc:
                raise StoreError(t("store.annotation_not_saved", path=self.path, error=exc)) from exc
        return {"id": cur.lastrowid, **row}

    def incidents(self, candidate: str | None = None) -> list[dict[str, Any]]:
        """The session's injected incidents (one candidate's when given), oldest first."""
        if candidate is None:
            return self._rows("SELECT * FROM incidents ORDER BY created, id")
        return self._rows("SELECT * FROM incidents WHERE candidate=? ORDER BY created, id", (candidate,))

    def annotations(self, run_id: str, candidate: str | None = None) -> list[dict[str, Any]]:
        """The run's annotations (one candidate's when given), oldest first."""
        if candidate is None:
            return self._rows("SELECT * FROM annotations WHERE run_id=? ORDER BY created, id", (run_id,))
        return self._rows("SELECT * FROM annotations WHERE run_id=? AND candidate=? ORDER BY created, id",
                          (run_id, candidate))


def _status_value(status: str | Status | None) -> str:
    """A status as stored (``non_conforme``), from its value, its French label or a near spelling."""
    if isinstance(status, Status):
        return status.value
    raw = str(status or "").strip().lower()
    spelled = raw.replace("é", "e").replace("-", "_").replace(" ", "_")
    for s in Status:
        if spelled == s.value:
            return s.value
    choices = ", ".join(s.value for s in Status)
    if not raw:
        raise AnnotationError(t("store.override_needs_status", choices=choices))
    raise AnnotationError(t("store.unknown_status", status=status, choices=choices))


def probe_result_from_row(row: dict[str, Any]) -> ProbeResult:
    """Rebuild the exact ProbeResult a judge saw (for rejudge and reports)."""
    def said(name: str) -> Any:  # the stored text, by its reference when that still says exactly the same
        return row[name] if row[name] is None else said_as_read(row[name], _ref_from_json(row.get("text_ref"), name))

    return ProbeResult(key=row["probe_key"], transport=row["transport"], command=row["command"], stdout=said("stdout"),
                       stderr=said("stderr"), exit_code=row["exit_code"], started=row["started"],
                       duration=row["duration"], truncated=bool(row["truncated"]), timed_out=bool(row["timed_out"]),
                       error=said("error"))


def _text(text: Any) -> Any:
    """A text as stored: its French text (a :class:`Msg`'s reference goes in the ``*_ref`` column beside it)."""
    return str.__str__(text) if isinstance(text, str) else text


def _ref_from_json(raw: Any, part: str) -> Msg | None:
    """A stored reference, or None when there is none or it is unreadable (the stored text stays the evidence)."""
    if not raw or not isinstance(raw, str):
        return None
    try:
        found = json.loads(raw).get(part)
        return Msg.from_json(found) if found else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None

