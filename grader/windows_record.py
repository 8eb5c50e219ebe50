"""Real Windows answers, recorded by the people who have Windows, and replayed here (issue #16).

grader cannot run Windows; the WinRM checks are written from documentation and tested against a
stand-in (``tests/winrm_standin``). A trainer who has a Windows Server template closes the gap:

``grader windows record HOST`` runs every installed Windows probe once, in **one** batch over the
real ``winrm`` channel (:func:`grader.transports.winrm.run_batch`: the same envelope, bootstrap and
runtime as a grading run), read-only, and writes a *recording bundle*;
``grader windows replay BUNDLE`` reads every raw record again with the real envelope parser
(:func:`grader.transports.psenvelope.parse`), runs the recorded checks' judges on the results and
lists every answer the grammar refused.

Which probes: those of a *recording rubric* — by default ``rubrics/windows-record.yaml``, one
instance of each Windows check type with plausible TSSR values (``--rubric`` takes the trainer's
own rubric instead) — every check entry whose probes all travel on the ``winrm`` channel, its
parameters rendered with the rubric's variable defaults; plus :data:`OS_FACTS`, a probe that reads
the OS caption, version, build, OS language and cultures in the same batch. Nothing in any probe
writes to the server.

The bundle is one JSON file (:data:`FORMAT`)::

    format, grader (version), recorded (UTC ISO 8601), label (the trainer's name for the host,
    default the host name given: never an address or account unless the trainer typed one),
    os {caption, version, build, os_language, culture, ui_culture, powershell},
    complete, exit_code, seconds, modules (each M frame: import time and status per module),
    anomalies (what the transport said: text outside the frames, stderr...),
    checks [{id, check, params}]          the recorded check entries (replay judges these)
    probes [{index, key, command, timeout, checks, raw, record}]

``raw`` is the base64 text of the probe's ``R`` frame exactly as PowerShell wrote it (``null``
when no frame came back); ``record`` is its decoding, for people to read — replay trusts only
``raw`` and flags a ``record`` that says something else. A bundle holds no secret: no password,
no credential reference, no address (:func:`write_bundle` refuses to write one in which the
password appears anyway). It does hold the server's answers, which may name its users, groups,
shares and paths: a trainer sends it knowingly.

Reading a bundle is bounded like an evidence bundle (:mod:`grader.bundle`): :data:`MAX_BYTES` for
the file, :data:`MAX_PROBES` probes and checks, :data:`MAX_RAW` characters per raw record; a
bundle that breaks a bound, is not JSON or is not this format is :class:`~grader.bundle.BundleError`
(exit code 2), never a crash.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import __version__
from grader.bundle import BundleError
from grader.check import Check, evaluate
from grader.i18n import t
from grader.model import Msg, Probe, ProbeResult, Status, Text
from grader.probes.winrm import CHANNEL, winrm
from grader.rubric import Rubric

if TYPE_CHECKING:
    from grader.credentials import PasswordSecret
    from grader.transports.winrm import WinrmTarget

FORMAT = "grader-windows-recording/1"
MAX_BYTES = 64 * 1024 * 1024  # the whole file
MAX_PROBES = 2000  # probes, and check entries
MAX_RAW = 1024 * 1024  # characters of one raw record (a capped output is at most 64 Ki characters, 6 bytes each)
MAX_COMMAND = 64 * 1024  # characters of one probe command

#: Read in the same batch as the checks' probes: what a fixture says its origin is.
OS_FACTS = winrm(
    "$os = Get-CimInstance -ClassName Win32_OperatingSystem -ErrorAction Stop; "
    "[pscustomobject]@{ Caption = $os.Caption; Version = $os.Version; BuildNumber = $os.BuildNumber; "
    "OSLanguage = $os.OSLanguage; MUILanguages = @($os.MUILanguages); Culture = (Get-Culture).Name; "
    "UICulture = (Get-UICulture).Name; PSVersion = $PSVersionTable.PSVersion.ToString() } | "
    "ConvertTo-Json -Depth 4")

#: Verdict templates that mean a judge could not read an answer (not "the server is not configured"):
#: replay lists them with the refused records.
UNREADABLE = frozenset({"le juge de la vérification a échoué", "{what} : sortie illisible ({exc})",
                        "sortie illisible : {exc}", "inventaire de l'hyperviseur illisible : {exc}",
                        "réponse de l'agent illisible"})


def default_rubric() -> Path:
    from rubrics import RUBRICS_DIR

    return RUBRICS_DIR / "windows-record.yaml"


# --- what to record ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedCheck:
    """A check entry of the recording: its id, type, parameters and the probes it declared (by name)."""

    id: str
    check: str
    params: dict[str, Any]
    probes: Mapping[str, Probe]


@dataclass
class RecordPlan:
    checks: list[RecordedCheck] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (entry id, why), said in the CLI's language
    missing_types: list[str] = field(default_factory=list)  # installed WinRM check types the rubric has no entry of

    @property
    def probes(self) -> list[Probe]:
        """Every probe once, :data:`OS_FACTS` first, in the order of the entries."""
        seen: dict[str, Probe] = {OS_FACTS.key: OS_FACTS}
        for check in self.checks:
            for probe in check.probes.values():
                seen.setdefault(probe.key, probe)
        return list(seen.values())

    def users(self, key: str) -> list[str]:
        return [c.id for c in self.checks if any(p.key == key for p in c.probes.values())]


def variables(rubric: Rubric) -> dict[str, Any]:
    """What a recording renders templates with: the variables' defaults, no candidate."""
    values: dict[str, Any] = {name: v.default for name, v in rubric.variables.items() if v.default is not None}
    values.update(candidat="enregistrement", nom="enregistrement", addr={h.name: h.address for h in rubric.hosts})
    return values


def plan_recording(rubric: Rubric, catalogue: Mapping[str, type[Check]]) -> RecordPlan:
    """The check entries of ``rubric`` whose probes all travel on ``winrm``, each once whatever its hosts."""
    from grader.runner import _plan_check  # the planner's own rendering and validation of one entry

    plan = RecordPlan()
    values = variables(rubric)
    for entry in rubric.checks:
        cls = catalogue[entry.check]
        planned = _plan_check(entry, cls, values)
        if planned.problem:
            plan.skipped.append((entry.id, str(planned.problem)))
            continue
        if not planned.probes or any(p.transport != CHANNEL.name for p in planned.probes.values()):
            if cls.transport == CHANNEL.name:
                plan.skipped.append((entry.id, t("windows.not_winrm_only")))
            continue
        plan.checks.append(RecordedCheck(entry.id, entry.check, planned.params.model_dump(mode="json"),
                                         planned.probes))
    covered = {c.check for c in plan.checks}
    plan.missing_types = sorted(cid for cid, cls in catalogue.items()
                                if cls.transport == CHANNEL.name and cid not in covered)
    return plan


# --- recording ----------------------------------------------------------------------------------


def record(target: WinrmTarget, secret: PasswordSecret, plan: RecordPlan, *, label: str) -> dict[str, Any]:
    """Run the plan's probes in one batch on ``target`` and return the bundle document.

    Raises what :func:`grader.transports.winrm.run_batch` raises when the batch could not run
    (:class:`~grader.errors.Unreachable`, :class:`~grader.errors.TransportError`).
    """
    from grader.transports import psenvelope
    from grader.transports.winrm import run_batch

    probes = plan.probes
    answer = run_batch(target, secret, probes)
    raw: dict[int, str] = {}
    for kind, arg in psenvelope.frames(answer.boundary, answer.raw):
        index, _, payload = arg.partition(" ")
        if kind == "R" and index.isdigit() and int(index) < len(probes):
            raw.setdefault(int(index), payload)  # a second frame for the same probe is in the anomalies
    facts = answer.parsed.results.get(OS_FACTS.key)
    return {
        "format": FORMAT,
        "grader": __version__,
        "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": label,
        "os": os_facts(facts),
        "complete": answer.parsed.complete,
        "exit_code": answer.exit_code,
        "seconds": round(answer.duration, 3),
        "modules": [{"seconds": round(seconds, 3),
                     "modules": [{"name": m.name, "status": m.status, "seconds": round(m.seconds, 3),
                                  "error": m.error} for m in imports]}
                    for seconds, imports in answer.parsed.imports],
        "anomalies": [str(a) for a in [*answer.anomalies, *answer.parsed.anomalies]],
        "checks": [{"id": c.id, "check": c.check, "params": c.params} for c in plan.checks],
        "probes": [{"index": i, "key": p.key, "command": p.command, "timeout": p.timeout,
                    "checks": ["(os)"] if p.key == OS_FACTS.key else plan.users(p.key),
                    "raw": raw.get(i), "record": decode(raw[i]) if i in raw else None}
                   for i, p in enumerate(probes)],
    }


def os_facts(result: ProbeResult | None) -> dict[str, str]:
    """The OS facts probe's answer as plain strings (empty when it did not answer)."""
    if result is None or not result.ok or result.exit_code != 0:
        return {}
    try:
        data = json.loads(str(result.stdout))
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    names = {"caption": "Caption", "version": "Version", "build": "BuildNumber", "os_language": "OSLanguage",
             "culture": "Culture", "ui_culture": "UICulture", "powershell": "PSVersion"}
    return {mine: str(data[theirs]) for mine, theirs in names.items() if data.get(theirs) is not None}


def decode(raw: str) -> Any:
    """A raw record's JSON, or None when it is not base64 of UTF-8 JSON."""
    try:
        return json.loads(base64.b64decode(raw, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        return None


def write_bundle(document: Mapping[str, Any], path: Path, *, secrets: Sequence[str] = ()) -> None:
    """Write the bundle (mode 0600); refused when one of ``secrets`` appears in it, in clear or as JSON writes it."""
    text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    for secret in secrets:
        if secret and (secret in text or json.dumps(secret, ensure_ascii=False)[1:-1] in text
                       or json.dumps(secret)[1:-1] in text):
            raise BundleError(t("windows.secret_in_bundle", path=path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


# --- reading ---------------------------------------------------------------------------------------


def read_bundle(path: Path) -> dict[str, Any]:
    """A recording bundle, checked against its bounds and shape (:class:`BundleError` otherwise)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise BundleError(t("bundle.file_too_large", name=path.name, size=size, limit=MAX_BYTES))
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BundleError(t("windows.unreadable", path=path, error=exc)) from exc
    if len(data) > MAX_BYTES:
        raise BundleError(t("bundle.file_too_large", name=path.name, size=len(data), limit=MAX_BYTES))
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(t("windows.unreadable", path=path, error=type(exc).__name__)) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BundleError(t("bundle.unknown_format", name=path.name, expected=FORMAT))
    problems = _shape(document)
    if problems:
        raise BundleError(t("windows.bad_bundle", path=path), problems)
    return document


def _shape(document: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    probes, checks = document.get("probes"), document.get("checks")
    if not isinstance(probes, list) or not isinstance(checks, list):
        return [t("windows.bad_field", field="probes/checks")]
    if len(probes) > MAX_PROBES or len(checks) > MAX_PROBES:
        return [t("windows.too_many", n=max(len(probes), len(checks)), limit=MAX_PROBES)]
    for i, probe in enumerate(probes):
        where = f"probes[{i}]"
        if not isinstance(probe, dict) or probe.get("index") != i:
            problems.append(t("windows.bad_field", field=where + ".index"))
            continue
        if not isinstance(probe.get("command"), str) or len(probe["command"]) > MAX_COMMAND:
            problems.append(t("windows.bad_field", field=where + ".command"))
        if not isinstance(probe.get("key"), str):
            problems.append(t("windows.bad_field", field=where + ".key"))
        timeout = probe.get("timeout")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
            problems.append(t("windows.bad_field", field=where + ".timeout"))
        raw = probe.get("raw")
        if raw is not None and (not isinstance(raw, str) or len(raw) > MAX_RAW):
            problems.append(t("windows.bad_field", field=where + ".raw"))
    for i, check in enumerate(checks):
        if (not isinstance(check, dict) or not isinstance(check.get("id"), str) or not isinstance(check.get("check"), str)
                or not isinstance(check.get("params"), dict)):
            problems.append(t("windows.bad_field", field="checks[" + str(i) + "]"))
    return problems


# --- replaying ------------------------------------------------------------------------------------------

REPLAY_BOUNDARY = "GRADER-REPLAY"  # the frames are rebuilt around each raw record: the boundary is ours


@dataclass(frozen=True)
class Refusal:
    """An answer the grammar did not accept: a record (``probe`` is its index) or a judge's reading."""

    probe: int | None
    check: str  # the check entries that use it, or the entry whose judge could not read it
    command: str
    reasons: tuple[Text, ...]


@dataclass(frozen=True)
class Row:
    check: str
    check_type: str
    status: Status | None  # None: not judged (see note)
    observed: Text
    message: Text
    note: str = ""  # why it was not judged, in the CLI's language


@dataclass
class Replay:
    rows: list[Row] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    accepted: int = 0


def replay(document: Mapping[str, Any], catalogue: Mapping[str, type[Check]],
           rubric: Rubric | None = None) -> Replay:
    """Read every raw record with the envelope's parser, then judge the recorded (or ``rubric``'s) checks."""
    from grader.transports import psenvelope

    entries = document["probes"]
    probes = [Probe(CHANNEL.name, e["command"], float(e["timeout"])) for e in entries]
    env = psenvelope.build(probes, boundary=REPLAY_BOUNDARY)
    out = Replay()
    results: dict[str, ProbeResult] = {}
    for index, (entry, probe) in enumerate(zip(entries, probes, strict=True)):
        users = ", ".join(str(u) for u in entry.get("checks") or []) if isinstance(entry.get("checks"), list) else ""
        reasons = _record_reasons(env, index, entry, probe)
        if reasons:
            out.refused.append(Refusal(index, users, probe.command, tuple(reasons)))
            continue
        text = f"{REPLAY_BOUNDARY} START\r\n{REPLAY_BOUNDARY} R {index} {entry['raw']}\r\n{REPLAY_BOUNDARY} END\r\n"
        # judged as of the recording's date (a check that compares dates, backup.windows_recent, needs one)
        results[probe.key] = psenvelope.parse(env, text.encode("utf-8"),
                                              started=str(document.get("recorded") or "")).results[probe.key]
        out.accepted += 1
    if rubric is not None:
        checks = [{"id": c.id, "check": c.check, "params": c.params}
                  for c in plan_recording(rubric, catalogue).checks]
    else:
        checks = list(document["checks"])
    for check in checks:
        out.rows.append(_judge(check, catalogue, results, out))
    return out


def _record_reasons(env: Any, index: int, entry: Mapping[str, Any], probe: Probe) -> list[Text]:
    from grader.transports import psenvelope

    raw = entry.get("raw")
    if raw is None:
        return [Msg("aucun cadre R enregistré pour cette sonde (lot interrompu ?)")]
    reasons: list[Text] = []
    if entry.get("key") != probe.key:
        reasons.append(Msg("la clé enregistrée ne correspond pas à la commande"))
    text = f"{REPLAY_BOUNDARY} START\r\n{REPLAY_BOUNDARY} R {index} {raw}\r\n{REPLAY_BOUNDARY} END\r\n"
    parsed = psenvelope.parse(env, text.encode("utf-8"))
    reasons += parsed.anomalies
    if parsed.anomalies:
        return reasons
    record = decode(raw)
    reasons += psenvelope.record_problems(record)
    if "record" in entry and entry["record"] != record:
        reasons.append(Msg("la copie décodée du paquet diffère de l'enregistrement brut"))
    return reasons


def _judge(check: Mapping[str, Any], catalogue: Mapping[str, type[Check]], results: Mapping[str, ProbeResult],
           out: Replay) -> Row:
    cid, ctype = str(check.get("id")), str(check.get("check"))
    cls = catalogue.get(ctype)
    if cls is None:
        return Row(cid, ctype, None, "", "", t("windows.unknown_check"))
    try:
        params = cls.Params.model_validate(check.get("params") or {})
        probes = dict(cls().probes(params))
    except Exception as exc:  # noqa: BLE001 - a bundle's parameters are someone else's input
        return Row(cid, ctype, None, "", "", t("windows.bad_params", error=str(exc).splitlines()[0]))
    missing = [name for name, p in probes.items() if p.key not in results]
    if missing:  # not recorded, or its record was refused (listed above): nothing to judge
        return Row(cid, ctype, None, "", "", t("windows.not_replayed", probes=", ".join(missing)))
    verdict = evaluate(cls(), params, {name: results.get(p.key) for name, p in probes.items()})
    if isinstance(verdict.message, Msg) and verdict.message.id in UNREADABLE:
        command = "\n".join(p.command for p in probes.values())
        out.refused.append(Refusal(None, cid, command, (verdict.message,)))
    return Row(cid, ctype, verdict.status, verdict.observed, verdict.message)


def safe_label(label: str) -> str:
    """A label as a file name part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-.") or "windows"
