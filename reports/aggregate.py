"""From the session store to the tables the jury reads: evidence per RC criterion, never a verdict.

The store is the only input. :func:`load_frames` reads one run into pandas frames (results
joined with the host they ran on), and the functions below shape them:

* :func:`criteria_table` — per candidate × competence × criterion: for every competence the
  rubric touches (at least one result in the run), *every* RC criterion of that competence,
  with its checks, or one "jury" row when no check observes it;
* :func:`status_counts`, :func:`competence_counts`, :func:`competence_matrix` — how many checks
  ended in each status, per candidate and per competence;
* :func:`points` — points of the conforme checks out of the possible ones, with the points
  that could not be evaluated kept apart (uncertain is not failed);
* :func:`host_notes` — one plain line per host that could not be (fully) observed;
* :func:`overrides`, :func:`override_counts`, :func:`annotation_counts` — the jury's decisions
  and observations (the ``annotations`` table), always *beside* the automated results: every
  count and every point above is the automated one, and the overrides are counted apart.

"Could not check" (``erreur``, ``injoignable``, ``non_evalue``) is never merged with
``non_conforme``: every count keeps the five statuses apart.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import pandas as pd

from grader.model import HOST_WIDE_ANOMALIES
from grader.referential import Competence, Referential, load_referential
from grader.store import SCHEMA, Store
from reports.labels import DEPENDENCY_KEYS, INCONCLUSIVE, N_, STATUSES, UNREACHED_KEYS, normalize_lang, text

# Columns added to each result from the host it ran on (the join of results with hosts).
HOST_COLUMNS = {
    "address": "address", "platform": "platform", "transport": "host_transport", "status": "host_status",
    "reason": "host_reason", "host_key": "host_key", "login": "login", "anomalies": "anomalies",
    "execs": "execs", "started": "host_started", "duration": "host_duration", "host_wide": "host_wide",
}
ABSENT = "absent"  # host state of a host that has no row in the store (run interrupted before it)


@lru_cache(maxsize=1)
def _schema_columns() -> dict[str, list[str]]:
    """Column names of each store table, read from the store's own schema (empty runs keep their shape)."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(SCHEMA)
        tables = ("runs", "candidates", "hosts", "results", "evidence", "annotations", "incidents")
        return {t: [row[1] for row in db.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        db.close()


def _frame(rows: list[dict[str, Any]], table: str) -> pd.DataFrame:
    cols = _schema_columns()[table]
    return pd.DataFrame.from_records(rows, columns=cols).astype(object)


def _json(value: Any, default: Any) -> Any:
    if not isinstance(value, str) or not value:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


@dataclass(frozen=True)
class Frames:
    """One run of the store as pandas frames (every cell a plain Python object)."""

    run: dict[str, Any]
    candidates: pd.DataFrame  # candidate, name, variables (dict)
    hosts: pd.DataFrame  # the hosts table; anomalies as a list; ``ended`` added
    results: pd.DataFrame  # results ⋈ hosts (see HOST_COLUMNS) + competence, block, orders, stored=True
    evidence: pd.DataFrame  # the evidence table
    missing: pd.DataFrame  # results no host produced (run interrupted): same columns, status non_evalue
    referential: Referential
    annotations: pd.DataFrame = field(default_factory=lambda: _frame([], "annotations"))  # the jury's, oldest first
    #: Phase-2 incidents the jury injected in this session (``grader incident inject``), oldest first.
    incidents: pd.DataFrame = field(default_factory=lambda: _frame([], "incidents"))
    #: The certificate session the rubric says it is for (``ccp1``... ``ccs``): its own table gives
    #: the modalities shown; None (or a key the referential does not know): §3.2's.
    session: str | None = None

    def all_results(self) -> pd.DataFrame:
        """Stored results and the missing ones: what every count is made of."""
        if self.missing.empty:
            return self.results
        return pd.concat([self.results, self.missing], ignore_index=True)

    def candidate_ids(self) -> list[str]:
        return [str(c) for c in self.candidates["candidate"]]


def _rubric_data(rubric_text: str) -> dict[str, Any]:
    """The stored rubric as plain data (best effort: an unreadable one is ``{}``)."""
    try:
        from ruamel.yaml import YAML

        data = YAML(typ="safe").load(rubric_text or "")
        return data if isinstance(data, dict) else {}
    except Exception:  # noqa: BLE001 - an unreadable rubric only loses the author's order and session
        return {}


def _rubric_order(data: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """Order of the checks and hosts as the rubric's author wrote them (best effort)."""
    checks = data.get("checks")
    hosts = data.get("hosts")
    checks, hosts = (checks if isinstance(checks, list) else []), (hosts if isinstance(hosts, list) else [])
    return ({str(c["id"]): i for i, c in enumerate(checks) if isinstance(c, dict) and "id" in c},
            {str(h["name"]): i for i, h in enumerate(hosts) if isinstance(h, dict) and "name" in h})


def _rubric_session(data: dict[str, Any], ref: Referential) -> str | None:
    """The session the rubric names (``session: ccp1``), if the referential has its table."""
    session = data.get("session")
    return session if isinstance(session, str) and session in ref.sessions() else None


def load_frames(store: Store, run_id: str, referential: Referential | None = None, lang: str = "fr") -> Frames:
    """Read one run; raises :class:`grader.errors.StoreError` if the run does not exist.

    ``lang``: the language of the checks' sentences and verdict messages (see :func:`localize`).
    """
    ref = referential or load_referential()
    run = store.run(run_id)

    candidates = _frame(store.candidates(run_id), "candidates").drop(columns=["run_id"])
    candidates["variables"] = [_json(v, {}) for v in candidates["variables"]]
    candidates["name"] = candidates["name"].fillna("")

    hosts = _frame(store.hosts(run_id), "hosts").drop(columns=["run_id"])
    hosts["anomalies"] = [list(_json(a, [])) for a in hosts["anomalies"]]
    hosts["ended"] = [_end(s, d) for s, d in zip(hosts["started"], hosts["duration"])]

    hosts = localize_hosts(hosts, lang)
    hosts["host_wide"] = [host_wide(h) for h in hosts.to_dict("records")]
    results = _frame(store.results(run_id), "results").drop(columns=["run_id"])
    results["params"] = [_json(p, {}) for p in results["params"]]
    results["probe_keys"] = [_json(p, {}) for p in results["probe_keys"]]
    joined = hosts.rename(columns=HOST_COLUMNS)[["candidate", "host", *HOST_COLUMNS.values()]]
    results = results.merge(joined, on=["candidate", "host"], how="left")
    results["host_status"] = results["host_status"].fillna(ABSENT)
    for col in ("address", "host_reason", "host_key", "login", "platform"):
        results[col] = results[col].fillna("")
    results["anomalies"] = [a if isinstance(a, list) else [] for a in results["anomalies"]]
    results["host_wide"] = [a if isinstance(a, list) else [] for a in results["host_wide"]]
    results["stored"] = True

    rubric_data = _rubric_data(run.get("rubric_text", ""))
    check_order, host_order = _rubric_order(rubric_data)
    missing = _missing(results, candidates)
    results = _decorate(results, ref, check_order, host_order)
    missing = _decorate(missing, ref, check_order, host_order)

    evidence = localize_evidence(_frame(store.evidence(run_id), "evidence").drop(columns=["run_id"]), lang)
    evidence["exit_code"] = pd.Series([None if _isnull(v) else int(v) for v in evidence["exit_code"]],
                                      index=evidence.index, dtype=object)
    annotations = _frame(store.annotations(run_id), "annotations").drop(columns=["run_id"])
    for col in ("check_id", "host", "criterion", "status", "replaced"):  # NULL in the store: None here, never NaN
        annotations[col] = pd.Series([None if _isnull(v) else str(v) for v in annotations[col]],
                                     index=annotations.index, dtype=object)
    return Frames(run=run, candidates=candidates, hosts=hosts, results=localize(results, lang), evidence=evidence,
                  missing=localize(missing, lang), referential=ref, annotations=annotations,
                  incidents=_frame(store.incidents() if hasattr(store, "incidents") else [], "incidents"),
                  session=_rubric_session(rubric_data, ref))


def localize(results: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The results with their sentence and verdict texts (message, observed, expected) in ``lang``
    (French: as stored).

    Each is re-rendered from the installed check and the catalogue, or kept as stored when it
    cannot be (:mod:`grader.i18n_checks`); the stored columns are what the store holds, in French.
    """
    from grader import i18n_checks

    if normalize_lang(lang) == "fr" or results.empty:
        return results
    out = results.copy()
    out["sentence"] = [i18n_checks.sentence(str(r["check_type"]), r["params"], str(r["sentence"]), lang)
                       for r in results.to_dict("records")]
    for part in ("message", "observed", "expected"):
        out[part] = [i18n_checks.message(None if _isnull(r.get("message_ref")) else r.get("message_ref"),
                                         "" if _isnull(r[part]) else str(r[part]), lang, part)
                     for r in results.to_dict("records")]
    return out


def host_wide(host: Mapping[str, Any]) -> list[str]:
    """The host's anomalies (as shown) that cast doubt on every one of its verdicts.

    They are told apart by their stored reference (``hosts.text_ref``, by position) being one of
    :data:`grader.model.HOST_WIDE_ANOMALIES`, e.g. a login shell whose rc files redefine
    ``exec``; plain-text anomalies and stores without references have none."""
    refs = _json(host.get("text_ref"), {}) if not _isnull(host.get("text_ref")) else {}
    each = refs.get("anomalies") if isinstance(refs, dict) else None
    shown = host.get("anomalies")
    if not isinstance(each, list) or not isinstance(shown, list):
        return []
    return [str(shown[i]) for i, ref in enumerate(each[:len(shown)])
            if isinstance(ref, dict) and ref.get("id") in HOST_WIDE_ANOMALIES]


def localize_hosts(hosts: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The hosts with why one could not be graded, the login, host key and anomalies in ``lang`` (French: as stored).

    Each text given by reference (``hosts.text_ref``) is re-rendered under the rule of every
    stored text (:func:`grader.i18n_checks.stored_text`); a store written before that column
    existed reads it as NULL and shows the French as stored.
    """
    from grader import i18n_checks

    if normalize_lang(lang) == "fr" or hosts.empty or "text_ref" not in hosts:
        return hosts
    out = hosts.copy()
    reasons, logins, keys, anomalies = [], [], [], []
    for h in hosts.to_dict("records"):
        refs = _json(h.get("text_ref"), {}) if not _isnull(h.get("text_ref")) else {}
        refs = refs if isinstance(refs, dict) else {}
        reasons.append(i18n_checks.stored_text(refs.get("reason"), "" if _isnull(h["reason"]) else str(h["reason"]), lang))
        logins.append(i18n_checks.stored_text(refs.get("login"), "" if _isnull(h["login"]) else str(h["login"]), lang))
        keys.append(i18n_checks.stored_text(refs.get("host_key"), "" if _isnull(h["host_key"]) else str(h["host_key"]),
                                            lang))
        each: list[Any] = refs["anomalies"] if isinstance(refs.get("anomalies"), list) else []
        anomalies.append([i18n_checks.stored_text(each[i] if i < len(each) else None, str(a), lang)
                          for i, a in enumerate(h["anomalies"])])
    out["reason"], out["login"], out["host_key"], out["anomalies"] = reasons, logins, keys, anomalies
    return out


def localize_evidence(evidence: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The evidence with each probe's ``error``, ``stderr`` and ``stdout`` in ``lang`` when stored by reference
    (``evidence.text_ref``: the grader's own words, never what a candidate's host printed)."""
    from grader import i18n_checks

    if normalize_lang(lang) == "fr" or evidence.empty or "text_ref" not in evidence:
        return evidence
    out = evidence.copy()
    for part in ("error", "stderr", "stdout"):
        out[part] = [e[part] if _isnull(e[part]) or _isnull(e.get("text_ref"))
                     else i18n_checks.message(e["text_ref"], str(e[part]), lang, part)
                     for e in evidence.to_dict("records")]
    return out


def _isnull(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _end(started: Any, duration: Any) -> str:
    try:
        start = datetime.fromisoformat(str(started))
        return (start + timedelta(seconds=float(duration or 0))).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return ""


def _missing(results: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    """A (check, host) pair graded for some candidate but not for another: a result nobody produced.

    It happens when a run is interrupted before some hosts; those checks are ``non_evalue`` for
    the candidate (never silently dropped, which would shrink their possible points).
    """
    columns = list(results.columns)
    if results.empty:
        return pd.DataFrame(columns=columns).astype(object)
    template = results.drop_duplicates(["check_id", "host"]).set_index(["check_id", "host"])
    have = set(zip(results["candidate"], results["check_id"], results["host"]))
    rows: list[dict[str, Any]] = []
    for cand in candidates["candidate"]:
        for (check_id, host), ref_row in template.iterrows():
            if (cand, check_id, host) in have:
                continue
            rows.append({
                **{c: "" for c in columns},
                "candidate": cand, "check_id": check_id, "host": host,
                "check_type": ref_row["check_type"], "criterion": ref_row["criterion"],
                "points": ref_row["points"], "sentence": ref_row["sentence"], "params": ref_row["params"],
                "status": "non_evalue", "hint": ref_row["hint"], "probe_keys": {},
                "anomalies": [], "host_wide": [], "execs": 0, "host_duration": 0.0, "host_status": ABSENT,
                "platform": ref_row["platform"], "stored": False,
            })
    return pd.DataFrame.from_records(rows, columns=columns).astype(object)


def _decorate(results: pd.DataFrame, ref: Referential, check_order: dict[str, int],
              host_order: dict[str, int]) -> pd.DataFrame:
    """Add the RC placement (block, competence, orders) of each result's criterion."""
    crit_index = {ident: i for i, ident in enumerate(ref.evidence_ids())}  # CCS3 holds its own place
    comp_index = {c.code: i for i, c in enumerate(ref.competences())}
    outside = len(comp_index)  # criteria unknown to the referential go last

    def place(criterion: str) -> tuple[str, str, int, int]:
        try:
            comp = ref.competence_of(criterion)
        except KeyError:
            return "", "", outside, len(crit_index)
        return comp.code, ref.block_of(comp.code).code, comp_index[comp.code], crit_index[criterion]

    placed = [place(str(c)) for c in results["criterion"]]
    out = results.copy()
    out["competence"] = [p[0] for p in placed]
    out["block"] = [p[1] for p in placed]
    out["comp_order"] = [p[2] for p in placed]
    out["crit_order"] = [p[3] for p in placed]
    out["check_order"] = [check_order.get(str(c), len(check_order)) for c in results["check_id"]]
    out["host_order"] = [host_order.get(str(h), len(host_order)) for h in results["host"]]
    out["points"] = [float(p) if not _isnull(p) and p != "" else 0.0 for p in results["points"]]
    return out.sort_values(["candidate", "comp_order", "crit_order", "check_order", "check_id", "host_order", "host"],
                           kind="stable").reset_index(drop=True)


# --- aggregations ---------------------------------------------------------------------------


def grid_rows(comp: Competence) -> list[tuple[str, str]]:
    """(id, RC text) of the rows a competence has on the grid: its criteria, or, when the RC gives it
    none (``CCS3``), one row for the competence itself (its code, no text), where its evidence attaches."""
    return [(c.id, c.text) for c in comp.criteria] or [(comp.code, "")]


def competence_modalities(frames: Frames, code: str) -> list[str]:
    """The modality keys of competence ``code`` for this run: its session's table, or §3.2."""
    return list(frames.referential.modalities_of(code, frames.session))


def touched_competences(frames: Frames) -> list[str]:
    """Codes of the competences with at least one result in the run, in RC order."""
    codes = set(frames.all_results()["competence"])
    return [c.code for c in frames.referential.competences() if c.code in codes]


CRITERIA_COLUMNS = [
    "candidate", "block", "block_title", "competence", "competence_title", "modalities", "criterion",
    "criterion_text", "kind", "check_id", "host", "status", "points",
]


def criteria_table(frames: Frames, candidate: str | None = None) -> pd.DataFrame:
    """One row per (candidate, RC criterion, check result); one ``jury`` row per criterion no check observes.

    ``kind`` is ``check`` (a stored result), ``missing`` (a result no host produced: non_evalue),
    ``jury`` (no check for this criterion: left to the jury) or ``outside`` (a result whose
    criterion the referential does not know). Rows carry every result column too (NaN on jury rows).
    """
    ref = frames.referential
    everything = frames.all_results()
    cands = [candidate] if candidate is not None else frames.candidate_ids()
    touched = touched_competences(frames)
    rows: list[dict[str, Any]] = []
    for cand in cands:
        mine = everything[everything["candidate"] == cand]
        by_criterion = {k: g for k, g in mine.groupby("criterion", sort=False)}
        for code in touched:
            comp = ref.competence(code)
            block = ref.block_of(code)
            base = {"candidate": cand, "block": block.code, "block_title": block.title, "competence": code,
                    "competence_title": comp.title, "modalities": competence_modalities(frames, code)}
            for crit_id, crit_text in grid_rows(comp):
                head = {**base, "criterion": crit_id, "criterion_text": crit_text}
                group = by_criterion.get(crit_id)
                if group is None or group.empty:
                    rows.append({**head, "kind": "jury", "status": "jury", "points": 0.0,
                                 "check_id": "", "host": ""})
                    continue
                for rec in group.to_dict("records"):
                    rows.append({**rec, **head, "kind": "check" if rec["stored"] else "missing"})
        for rec in mine[mine["competence"] == ""].to_dict("records"):
            rows.append({**rec, "block": "", "block_title": "", "competence": "", "competence_title": "",
                         "modalities": [], "criterion_text": "", "kind": "outside"})
    extra = [c for c in everything.columns if c not in CRITERIA_COLUMNS]
    return pd.DataFrame.from_records(rows, columns=CRITERIA_COLUMNS + extra).astype(object)


def status_counts(frames: Frames) -> pd.DataFrame:
    """Checks per status and candidate (every candidate, every status, zeros included) + ``total``."""
    res = frames.all_results()
    counts = pd.crosstab(res["candidate"], res["status"]) if not res.empty else pd.DataFrame()
    counts = counts.reindex(index=frames.candidate_ids(), columns=list(STATUSES), fill_value=0).fillna(0).astype(int)
    counts["total"] = counts.sum(axis=1)
    counts.index.name = "candidate"
    return counts


def competence_counts(frames: Frames) -> pd.DataFrame:
    """Long table: candidate, competence, one column per status, ``total`` and ``inconclusive``.

    Competences are those with results (a competence with only jury criteria is absent);
    results outside the referential are under competence ``""``.
    """
    res = frames.all_results()
    comps = touched_competences(frames) + ([""] if (res["competence"] == "").any() else [])
    index = pd.MultiIndex.from_product([frames.candidate_ids(), comps], names=["candidate", "competence"])
    if res.empty:
        counts = pd.DataFrame(0, index=index, columns=list(STATUSES))
    else:
        counts = (res.groupby(["candidate", "competence", "status"]).size().unstack("status")
                  .reindex(index=index, columns=list(STATUSES)).fillna(0).astype(int))
    counts["total"] = counts[list(STATUSES)].sum(axis=1)
    counts["inconclusive"] = counts[list(INCONCLUSIVE)].sum(axis=1)
    return counts.reset_index()


def matrix_cell(row: Any, lang: str = "fr") -> str:
    """``3/4 conformes · 1 non conforme`` (+ non conclusive count); ``—`` when the cell is empty."""
    total = int(row["total"])
    if total == 0:
        return text(lang, "mx.none")
    parts = [text(lang, "mx.conformes", ok=int(row["conforme"]), total=total)]
    if int(row["non_conforme"]):
        parts.append(text(lang, "mx.non_conforme", n=int(row["non_conforme"])))
    if int(row["inconclusive"]):
        parts.append(text(lang, "mx.inconclusive", n=int(row["inconclusive"])))
    return " · ".join(parts)


def competence_matrix(frames: Frames, lang: str = "fr") -> pd.DataFrame:
    """Candidates × competences (RC order), each cell a short French sentence (see :func:`matrix_cell`)."""
    counts = competence_counts(frames)
    counts["cell"] = [matrix_cell(r, lang) for r in counts.to_dict("records")]
    comps = list(dict.fromkeys(counts["competence"]))
    if counts.empty:
        return pd.DataFrame(index=pd.Index(frames.candidate_ids(), name="candidate"))
    matrix = counts.pivot(index="candidate", columns="competence", values="cell")
    return matrix.reindex(index=frames.candidate_ids(), columns=comps)


def points(frames: Frames) -> pd.DataFrame:
    """Per candidate: ``obtained`` (conforme only), ``non_conforme``, ``unsure`` (could not check), ``possible``."""
    res = frames.all_results()
    out = pd.DataFrame(0.0, index=pd.Index(frames.candidate_ids(), name="candidate"),
                       columns=["obtained", "non_conforme", "unsure", "possible"])
    for cand, group in res.groupby("candidate"):
        if cand not in out.index:
            continue
        pts = group["points"].astype(float)
        out.loc[cand, "obtained"] = pts[group["status"] == "conforme"].sum()
        out.loc[cand, "non_conforme"] = pts[group["status"] == "non_conforme"].sum()
        out.loc[cand, "unsure"] = pts[group["status"].isin(INCONCLUSIVE)].sum()
        out.loc[cand, "possible"] = pts.sum()
    return out


def host_notes(frames: Frames, lang: str = "fr") -> pd.DataFrame:
    """One row per host that could not be (fully) observed, with its plain-language lines.

    ``line`` is for the candidate's page ("srv-lin injoignable : 10 vérification(s) non
    évaluable(s) — <reason>"), ``sentence`` for the session page ("le serveur srv-lin du
    candidat 03 ne répond pas : <reason>"). Hosts reached whose probe envelope did not
    complete keep their reason as a ``partial`` note.
    """
    res = frames.all_results()
    counts = res.groupby(["candidate", "host"]).size().to_dict() if not res.empty else {}
    rows: list[dict[str, Any]] = []
    for h in frames.hosts.to_dict("records"):
        n = int(counts.get((h["candidate"], h["host"]), 0))
        reason = str(h["reason"] or "") or text(lang, "reason.unknown")
        kind = text(lang, N_("kind.device") if h["platform"] == "network" else N_("kind.server"))
        fields = {"host": h["host"], "n": n, "reason": reason, "candidate": h["candidate"],
                  "address": h["address"], "kind": kind}
        if h["status"] in ("injoignable", "erreur"):
            rows.append({**h, "n_checks": n, "kind": h["status"], "line": text(lang, DEPENDENCY_KEYS[h["status"]], **fields),
                         "sentence": text(lang, UNREACHED_KEYS[h["status"]], **fields)})
        elif h["reason"]:
            rows.append({**h, "n_checks": n, "kind": "partial", "line": text(lang, "dep.partial", **fields),
                         "sentence": ""})
    if not frames.missing.empty:
        for (cand, host), group in frames.missing.groupby(["candidate", "host"], sort=False):
            if ((frames.hosts["candidate"] == cand) & (frames.hosts["host"] == host)).any():
                continue
            rows.append({"candidate": cand, "host": host, "address": "", "platform": group["platform"].iloc[0],
                         "status": ABSENT, "reason": text(lang, "check.missing"), "n_checks": len(group),
                         "kind": ABSENT, "line": text(lang, "dep.absent", host=host, n=len(group)), "sentence": ""})
    columns = ["candidate", "host", "address", "platform", "status", "reason", "n_checks", "kind", "line", "sentence"]
    notes = pd.DataFrame.from_records(rows, columns=columns + [c for c in frames.hosts.columns if c not in columns])
    return notes.astype(object)


def collection_window(frames: Frames, candidate: str | None = None) -> tuple[str, str]:
    """Earliest host start and latest host end (ISO strings; empty when nothing was collected)."""
    hosts = frames.hosts if candidate is None else frames.hosts[frames.hosts["candidate"] == candidate]
    starts = [s for s in hosts["started"] if s]
    ends = [e for e in hosts["ended"] if e]
    return (min(starts, key=_sort_key) if starts else "", max(ends, key=_sort_key) if ends else "")


def _sort_key(iso: str) -> Any:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0


# --- the jury's annotations ---------------------------------------------------------------------

OVERRIDE_COLUMNS = ["candidate", "check_id", "host", "criterion", "status", "automated", "text", "author", "created",
                    "id", "earlier", "replaced", "review"]


def overrides(frames: Frames) -> pd.DataFrame:
    """The jury's decision in force on each overridden check: the latest override of (candidate, check, host).

    ``status`` is the jury's, ``automated`` the judge's (never changed); ``criterion`` is the
    check's; ``earlier`` is the number of earlier overrides it replaced (kept in the store).
    ``replaced`` is the automated status the decision replaced when it was taken (None in a
    store written before it was recorded); ``review`` is True when the automated status is no
    longer that one (a resume regraded the check since): the decision is « à revoir ».
    """
    ann = frames.annotations
    decided = ann[ann["kind"] == "override"] if not ann.empty else ann
    if decided.empty:
        return pd.DataFrame(columns=OVERRIDE_COLUMNS).astype(object)
    res = frames.all_results()
    automated = {(r["candidate"], r["check_id"], r["host"]): r for r in res.to_dict("records")}
    rows: list[dict[str, Any]] = []
    for (cand, check_id, host), group in decided.groupby(["candidate", "check_id", "host"], sort=False):
        latest = group.iloc[-1]  # annotations come oldest first
        result = automated.get((cand, check_id, host), {})
        replaced = replaced_status(latest)
        rows.append({"candidate": cand, "check_id": check_id, "host": host,
                     "criterion": result.get("criterion", ""), "status": latest["status"],
                     "automated": result.get("status", ""), "text": latest["text"], "author": latest["author"],
                     "created": latest["created"], "id": int(latest["id"]), "earlier": len(group) - 1,
                     "replaced": replaced, "review": needs_review(replaced, result.get("status"))})
    return pd.DataFrame.from_records(rows, columns=OVERRIDE_COLUMNS).astype(object)


def replaced_status(annotation: Any) -> str | None:
    """The automated status an override recorded as replaced; None for an older store's (not recorded)."""
    value = annotation.get("replaced") if hasattr(annotation, "get") else None
    return None if _isnull(value) or not str(value) else str(value)


def needs_review(replaced: str | None, automated: Any) -> bool:
    """An override is « à revoir » when the automated status it replaced is no longer the current one.

    ``automated`` missing (no result for the check): ``non_evalue``, as the store records it.
    An override without a recorded status (older store) is never flagged.
    """
    if replaced is None:
        return False
    current = "non_evalue" if _isnull(automated) or not str(automated) else str(automated)
    return replaced != current


def override_counts(frames: Frames) -> pd.DataFrame:
    """Per candidate: ``overridden`` (checks carrying a jury decision), ``changed`` (whose status it changes)
    and ``review`` (decisions « à revoir »: the automated status they replaced has changed since)."""
    out = pd.DataFrame(0, index=pd.Index(frames.candidate_ids(), name="candidate"),
                       columns=["overridden", "changed", "review"])
    for rec in overrides(frames).to_dict("records"):
        if rec["candidate"] in out.index:
            out.loc[rec["candidate"], "overridden"] += 1
            out.loc[rec["candidate"], "changed"] += int(rec["status"] != rec["automated"])
            out.loc[rec["candidate"], "review"] += int(bool(rec["review"]))
    return out


def annotation_counts(frames: Frames) -> pd.DataFrame:
    """Per candidate: ``observations`` written, checks ``overridden`` by the jury, decisions to ``review``."""
    out = override_counts(frames)[["overridden", "review"]].copy()
    ann = frames.annotations
    observed = ann[ann["kind"] == "observation"].groupby("candidate").size() if not ann.empty else pd.Series(dtype=int)
    out["observations"] = [int(observed.get(c, 0)) for c in out.index]
    return out


# --- dependency chains ----------------------------------------------------------------------------

UNREACHED = ("injoignable", "erreur", ABSENT)  # host states that leave every check of the host without a fact

DEPENDENCY_COLUMNS = ["candidate", "host", "host_status", "reason", "competence", "n"]


def dependency_chains(frames: Frames) -> pd.DataFrame:
    """Checks left without a fact because their host was not reached, per candidate × host × competence.

    One row per (candidate, unreached host, competence) with ``n`` the number of that host's
    checks in that competence that ended inconclusive (``erreur``, ``injoignable``,
    ``non_evalue``): the chain "host not reached → these checks not evaluated" made explicit.
    A host is unreached when the store says ``injoignable`` or ``erreur`` at host level, or
    has no row at all (``absent``: run interrupted before it). Competence ``""`` collects the
    results outside the referential. Rows follow RC order, then the rubric's host order.
    """
    res = frames.all_results()
    if res.empty:
        return pd.DataFrame(columns=DEPENDENCY_COLUMNS).astype(object)
    cut = res[res["host_status"].isin(UNREACHED) & res["status"].isin(INCONCLUSIVE)]
    rows: list[dict[str, Any]] = []
    keys = ["candidate", "comp_order", "competence", "host_order", "host", "host_status"]
    for (cand, _, comp, _, host, state), group in cut.groupby(keys, sort=True):
        reason = next((str(r) for r in group["host_reason"] if isinstance(r, str) and r), "")
        rows.append({"candidate": cand, "host": host, "host_status": state, "reason": reason,
                     "competence": comp, "n": len(group)})
    return pd.DataFrame.from_records(rows, columns=DEPENDENCY_COLUMNS).astype(object)


def dependency_totals(frames: Frames) -> pd.DataFrame:
    """:func:`dependency_chains` summed over competences: one row per (candidate, unreached host)."""
    chains = dependency_chains(frames)
    if chains.empty:
        return pd.DataFrame(columns=[*DEPENDENCY_COLUMNS, "competences"]).astype(object)
    rows: list[dict[str, Any]] = []
    for (cand, host), group in chains.groupby(["candidate", "host"], sort=False):
        first = group.iloc[0]
        rows.append({"candidate": cand, "host": host, "host_status": first["host_status"], "reason": first["reason"],
                     "competence": "", "n": int(group["n"].sum()),
                     "competences": [c for c in group["competence"] if c]})
    order = {c: i for i, c in enumerate(frames.candidate_ids())}
    out = pd.DataFrame.from_records(rows, columns=[*DEPENDENCY_COLUMNS, "competences"])
    out["_o"] = [order.get(c, len(order)) for c in out["candidate"]]
    return out.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True).astype(object)


# --- pictures: the session heatmap and the candidate's bars -------------------------------------


def share_conforme(conforme: int, non_conforme: int) -> float | None:
    """Share of conforme among the conclusive checks; ``None`` when none concluded."""
    conclusive = int(conforme) + int(non_conforme)
    return None if conclusive == 0 else int(conforme) / conclusive
