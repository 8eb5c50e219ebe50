"""The evidence bundle: one ZIP that lets anyone re-read, verify and re-judge a run, offline.

A jury, an appeal or an auditor gets one file and needs neither the candidates' machines nor
the session directory::

    manifest.json   format, version of grader that wrote it, run id, rubric id/version/title,
                    creation time, and for every other file its SHA-256 and size
    rubric.yaml     the rubric exactly as graded (``runs.rubric_text``; rubrics hold references
                    to credentials, never secrets)
    roster.csv      the roster exactly as graded (``runs.roster_text``); refused if a column
                    looks like a secret (rosters never hold any: this is a second look)
    evidence.json   every stored row of the run: the run, candidates, hosts, results, evidence,
                    and the jury's annotations (observations, overrides) recorded so far
    rapports/…      the reports, as the registered reporters wrote them

:func:`verify` recomputes every hash and names each modified, missing or extra file;
:func:`load` rebuilds a throw-away session store from the bundle (reports re-rendered
offline); :func:`rejudge` re-applies the *installed* checks' pure judges to the stored
evidence and returns the statuses they give now — the same as the run's, unless a judge
changed. Results the engine decided without a judge (host unreachable, evidence never
collected, no probe declared) are kept as stored and marked as not re-judged.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import json
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Self

from pydantic import ValidationError

from grader import __version__
from grader.errors import GraderError
from grader.i18n import t
from grader.store import SCHEMA, Store, probe_result_from_row

if TYPE_CHECKING:
    from grader.check import Check

FORMAT = "grader-bundle/1"
EVIDENCE_FORMAT = "grader-evidence/1"
MANIFEST = "manifest.json"
RUBRIC = "rubric.yaml"
ROSTER = "roster.csv"
EVIDENCE = "evidence.json"
REPORTS = "rapports"
REQUIRED = (RUBRIC, ROSTER, EVIDENCE)
TABLES = ("candidates", "hosts", "results", "evidence", "annotations")  # a bundle without one: none
#: What reading a bundle may cost (someone else's file: a 1 MiB zip must not unpack into gigabytes).
MAX_MEMBERS = 20_000
MAX_FILE = 256 * 1024 * 1024  # bytes of one file, uncompressed
MAX_TOTAL = 1024 * 1024 * 1024  # bytes of all files, uncompressed
MAX_RATIO = 1000  # uncompressed / compressed size of one file (JSON and HTML compress well, not this well)
_CHUNK = 1024 * 1024
_SECRET_COLUMN = re.compile(r"(pass|pwd|secret|mot_?de_?passe|token|private|priv_?key|cle_?priv|api_?key)", re.IGNORECASE)
_SECRET_KEY = re.compile(r"^(password|passwd|secret|mot_de_passe|token|private_key|passphrase)$", re.IGNORECASE)


class BundleError(GraderError):
    """A bundle that cannot be written or trusted; ``problems`` lists every reason."""

    def __init__(self, message: str, problems: Iterable[str] = ()):
        self.problems = list(problems)
        super().__init__(message + ("".join(f"\n  - {p}" for p in self.problems)))


# --- writing --------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def roster_columns(roster_text: str) -> list[str]:
    """Column names of a roster (``;``, ``,`` or tab separated), as :mod:`grader.roster` reads them."""
    first = roster_text.lstrip("\ufeff").splitlines()[0] if roster_text.strip() else ""
    if not first:
        return []
    try:
        dialect: Any = csv.Sniffer().sniff(first, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [c.strip() for c in next(csv.reader([first], dialect=dialect), [])]


def secret_problems(run: Mapping[str, Any], candidates: Iterable[Mapping[str, Any]]) -> list[str]:
    """Anything that looks like a secret in what the bundle would carry (roster columns, variables, rubric keys)."""
    problems = [t("bundle.secret_column", name=ROSTER, column=c) for c in roster_columns(run["roster_text"])
                if _SECRET_COLUMN.search(c)]
    names = {k for c in candidates for k in json.loads(c.get("variables") or "{}")}
    problems += [t("bundle.secret_variable", variable=k) for k in sorted(names) if _SECRET_COLUMN.search(k)]
    try:
        from ruamel.yaml import YAML

        rubric = YAML(typ="safe").load(run["rubric_text"] or "")
    except Exception:  # noqa: BLE001 - an unreadable rubric has no key to look at; it is carried as written
        rubric = None
    problems += [t("bundle.secret_key", name=RUBRIC, field=k) for k in sorted(_keys(rubric)) if _SECRET_KEY.match(k)]
    return problems


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return {str(k) for k in node} | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def evidence_document(store: Store, run_id: str) -> dict[str, Any]:
    """Every stored row of the run (the rubric and roster texts travel as their own files)."""
    run = store.run(run_id)
    return {
        "format": EVIDENCE_FORMAT,
        "run": {k: v for k, v in run.items() if k not in ("rubric_text", "roster_text")},
        "candidates": store.candidates(run_id),
        "hosts": store.hosts(run_id),
        "results": store.results(run_id),
        "evidence": store.evidence(run_id),
        "annotations": store.annotations(run_id),
    }


Reporter = Callable[[Store, str, Path, str], Iterable[Path]]


def _default_reports(store: Store, run_id: str, out_dir: Path, lang: str) -> list[Path]:
    from grader.session import write_reports

    return write_reports(store, run_id, out_dir, lang)


def export(store: Store, run_id: str, out_zip: Path, *, lang: str = "fr",
           write_reports: Reporter | None = None) -> Path:
    """Write the bundle of ``run_id`` to ``out_zip`` (replaced atomically) and return its path.

    :param write_reports: how to write the reports (default: every registered reporter).
    :raises BundleError: if something that looks like a secret would go into the bundle.
    """
    run = store.run(run_id)
    candidates = store.candidates(run_id)
    found = secret_problems(run, candidates)
    if found:
        raise BundleError(t("bundle.not_written", run=run_id), found)
    files: dict[str, bytes] = {
        RUBRIC: run["rubric_text"].encode("utf-8"),
        ROSTER: run["roster_text"].encode("utf-8"),
        EVIDENCE: (json.dumps(evidence_document(store, run_id), ensure_ascii=False, indent=1, default=str)
                   + "\n").encode("utf-8"),
    }
    with tempfile.TemporaryDirectory(prefix="grader-bundle-") as tmp:
        out_dir = Path(tmp) / REPORTS
        for path in (write_reports or _default_reports)(store, run_id, out_dir, lang):
            path = Path(path)
            if path.is_file():
                files[PurePosixPath(REPORTS, path.relative_to(out_dir).as_posix()).as_posix()] = path.read_bytes()
    manifest = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "grader_version": __version__,
        "run_id": run_id,
        "run_grader_version": run["grader_version"],
        "run_state": run["state"],
        "rubric": {"id": run["rubric_id"], "version": run["rubric_version"], "title": run["rubric_title"]},
        "files": {name: {"sha256": _sha256(data), "size": len(data)} for name, data in sorted(files.items())},
    }
    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    partial = out_zip.with_name(out_zip.name + ".partiel")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
        zf.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    partial.replace(out_zip)
    return out_zip


# --- verifying ------------------------------------------------------------------------------------


def _safe_name(name: str) -> bool:
    pure = PurePosixPath(name)
    return not pure.is_absolute() and ".." not in pure.parts and "\\" not in name and ":" not in name


def digest(bundle: Path) -> str:
    """The SHA-256 of the bundle file itself (streamed): what the session's minutes record, and what
    ``grader verify --expect`` compares (a bundle edited then rehashed agrees with itself, not with this)."""
    h = hashlib.sha256()
    with Path(bundle).open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sign(bundle: Path, private_key: Path) -> Path:
    """An Ed25519 signature of the bundle's digest, written beside it (``<bundle>.sig``, base64)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(Path(private_key).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise BundleError(t("bundle.bad_key", name=private_key, error=exc)) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(t("bundle.not_ed25519", name=private_key))
    out = Path(str(bundle) + ".sig")
    out.write_text(base64.b64encode(key.sign(digest(bundle).encode())).decode() + "\n", encoding="ascii")
    return out


def check_signature(bundle: Path, public_key: Path, signature: Path | None = None) -> str | None:
    """Why the bundle's signature (``<bundle>.sig``) does not hold with ``public_key``, or None when it does."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    signature = signature or Path(str(bundle) + ".sig")
    try:
        key = load_pem_public_key(Path(public_key).read_bytes())
        raw = base64.b64decode(signature.read_text(encoding="ascii").strip(), validate=True)
    except (OSError, ValueError, TypeError, binascii.Error) as exc:
        return t("bundle.signature_unreadable", name=signature, error=exc)
    if not isinstance(key, Ed25519PublicKey):
        return t("bundle.not_ed25519", name=public_key)
    try:
        key.verify(raw, digest(bundle).encode())
    except InvalidSignature:
        return t("bundle.bad_signature", name=signature, public=public_key)
    return None


def _bounds(zf: zipfile.ZipFile) -> list[str]:
    """What makes a bundle too costly to read, before anything is decompressed (declared sizes)."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        return [t("bundle.too_many_files", n=len(infos), limit=MAX_MEMBERS)]
    problems = [t("bundle.file_too_large", name=i.filename, size=i.file_size, limit=MAX_FILE)
                for i in infos if i.file_size > MAX_FILE or (i.compress_size and i.file_size / i.compress_size > MAX_RATIO)]
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL:
        problems.append(t("bundle.too_large", size=total, limit=MAX_TOTAL))
    return problems


def _chunks(zf: zipfile.ZipFile, name: str, limit: int = MAX_FILE) -> Iterator[bytes]:
    """One member in chunks, never past ``limit`` nor its declared size (a lying header is refused)."""
    info = zf.getinfo(name)
    bound = min(limit, info.file_size)
    if info.file_size > limit:
        raise BundleError(t("bundle.file_too_large", name=name, size=info.file_size, limit=limit))
    size = 0
    with zf.open(info) as f:
        while chunk := f.read(_CHUNK):
            size += len(chunk)
            if size > bound:
                raise BundleError(t("bundle.file_too_large", name=name, size=size, limit=bound))
            yield chunk


def _read(zf: zipfile.ZipFile, name: str, limit: int = MAX_FILE) -> bytes:
    """One member, bounded (see :func:`_chunks`)."""
    return b"".join(_chunks(zf, name, limit))


def _stream_sha256(zf: zipfile.ZipFile, name: str) -> str:
    """A member's SHA-256, streamed (never the whole file in memory), bounded like :func:`_read`."""
    h = hashlib.sha256()
    for chunk in _chunks(zf, name):
        h.update(chunk)
    return h.hexdigest()


def read_manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(_read(zf, MANIFEST, 16 * 1024 * 1024).decode("utf-8"))
    except KeyError:
        raise BundleError(t("bundle.no_manifest", name=MANIFEST)) from None
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise BundleError(t("bundle.bad_manifest", name=MANIFEST, error=exc)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise BundleError(t("bundle.unknown_format", name=MANIFEST, expected=FORMAT))
    return manifest


def verify(bundle: Path) -> list[str]:
    """Every problem found in ``bundle``, each naming its file; an empty list means intact."""
    bundle = Path(bundle)
    if not bundle.is_file():
        return [t("bundle.not_found", name=bundle)]
    try:
        zf = zipfile.ZipFile(bundle)
    except (OSError, zipfile.BadZipFile) as exc:
        return [t("bundle.bad_zip", name=bundle, error=exc)]
    problems: list[str] = []
    with zf:
        too_costly = _bounds(zf)
        if too_costly:
            return too_costly
        names = [info.filename for info in zf.infolist() if not info.is_dir()]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(t("bundle.duplicate_file", name=name))
        for name in names:
            if not _safe_name(name):
                problems.append(t("bundle.forbidden_path", name=name))
        try:
            manifest = read_manifest(zf)
        except BundleError as exc:
            return problems + [str(exc)]
        listed: dict[str, Any] = manifest["files"]
        for name in REQUIRED:
            if name not in listed:
                problems.append(t("bundle.not_in_manifest", name=name))
        for name, meta in sorted(listed.items()):
            if name not in names:
                problems.append(t("bundle.missing_file", name=name))
                continue
            try:
                got = _stream_sha256(zf, name)
            except BundleError as exc:
                problems.append(str(exc))
                continue
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                problems.append(t("bundle.corrupt_file", name=name, error=exc))
                continue
            if not isinstance(meta, dict) or got != meta.get("sha256"):
                expected = meta.get("sha256", "?") if isinstance(meta, dict) else "?"
                problems.append(t("bundle.modified_file", name=name, expected=expected, got=got))
        for name in sorted(set(names) - set(listed) - {MANIFEST}):
            problems.append(t("bundle.extra_file", name=name))
    return problems


# --- loading --------------------------------------------------------------------------------------


class BundleStore(Store):
    """A session store rebuilt from a bundle in a temporary directory, removed by :meth:`close`."""

    def __init__(self, tmp: tempfile.TemporaryDirectory[str], run_id: str, manifest: dict[str, Any]):
        super().__init__(Path(tmp.name))
        self._tmp = tmp
        self.run_id = run_id
        self.manifest = manifest

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _insert(db: sqlite3.Connection, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    known = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
    for row in rows:
        cols = [c for c in known if c in row]
        db.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                   [row[c] for c in cols])


def load(bundle: Path, *, check: bool = True) -> BundleStore:
    """A store holding the bundle's run (``.run_id``); use it as a context manager or close it.

    :param check: verify the bundle first and refuse it (:class:`BundleError`) if anything was altered.
    """
    bundle = Path(bundle)
    if check:
        problems = verify(bundle)
        if problems:
            raise BundleError(t("bundle.altered", name=bundle), problems)
    try:
        with zipfile.ZipFile(bundle) as zf:
            if too_costly := _bounds(zf):
                raise BundleError(t("bundle.altered", name=bundle), too_costly)
            manifest = read_manifest(zf)
            doc = json.loads(_read(zf, EVIDENCE).decode("utf-8"))
            rubric_text = _read(zf, RUBRIC).decode("utf-8")
            roster_text = _read(zf, ROSTER).decode("utf-8")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise BundleError(t("bundle.unreadable", name=bundle, error=exc)) from exc
    if not isinstance(doc, dict) or doc.get("format") != EVIDENCE_FORMAT:
        raise BundleError(t("bundle.unknown_format", name=EVIDENCE, expected=EVIDENCE_FORMAT))
    run = {**doc["run"], "rubric_text": rubric_text, "roster_text": roster_text}
    tmp = tempfile.TemporaryDirectory(prefix="grader-bundle-")
    try:
        db = sqlite3.connect(Path(tmp.name) / Store.FILENAME)
        try:
            db.executescript(SCHEMA)
            with db:
                _insert(db, "runs", [run])
                for table in TABLES:
                    _insert(db, table, doc.get(table) or [])
        finally:
            db.close()
        return BundleStore(tmp, str(run["id"]), manifest)
    except BaseException:
        tmp.cleanup()
        raise


def render_reports(bundle: Path, out_dir: Path, lang: str = "fr") -> list[Path]:
    """Write the reports of a bundle's run again, offline (``grader report --from BUNDLE``)."""
    with load(bundle) as store:
        return _default_reports(store, store.run_id, Path(out_dir), lang)


# --- re-judging -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejudged:
    """One result judged again: the stored status and the one the installed judge gives now."""

    candidate: str
    host: str
    check_id: str
    check_type: str
    stored: str
    status: str
    observed: str = ""
    expected: str = ""
    message: str = ""
    rejudged: bool = True  # False: no judge could run (kept as stored; ``reason`` says why)
    reason: str = ""

    @property
    def changed(self) -> bool:
        return self.status != self.stored


def rejudge_store(store: Store, run_id: str, catalogue: Mapping[str, type] | None = None) -> list[Rejudged]:
    """Re-apply the installed checks' judges to the evidence of ``run_id`` (no host is contacted)."""
    from grader.check import evaluate
    from grader.plugins import default_catalogue

    catalogue = catalogue if catalogue is not None else default_catalogue()
    hosts = {(h["candidate"], h["host"]): h for h in store.hosts(run_id)}
    evidence = {(e["candidate"], e["host"], e["probe_key"]): e for e in store.evidence(run_id)}
    out: list[Rejudged] = []
    for r in store.results(run_id):
        base = {"candidate": r["candidate"], "host": r["host"], "check_id": r["check_id"],
                "check_type": r["check_type"], "stored": r["status"]}

        def kept(reason: str, r: Mapping[str, Any] = r, base: dict[str, Any] = base) -> Rejudged:
            return Rejudged(**base, status=r["status"], observed=r["observed"], expected=r["expected"],
                            message=r["message"], rejudged=False, reason=reason)

        host = hosts.get((r["candidate"], r["host"]))
        if host is None or host["status"] != "conforme":
            state = host["status"] if host else t("bundle.host_absent")
            out.append(kept(t("bundle.kept_unreached", state=state)))
            continue
        cls: type[Check] | None = catalogue.get(r["check_type"])
        if cls is None:
            out.append(kept(t("bundle.kept_no_plugin", check=r["check_type"])))
            continue
        keys: dict[str, str] = json.loads(r["probe_keys"] or "{}")
        if not keys:
            out.append(kept(t("bundle.kept_no_probe")))
            continue
        missing = sorted(name for name, key in keys.items() if (r["candidate"], r["host"], key) not in evidence)
        if missing:
            out.append(kept(t("bundle.kept_not_collected", probes=", ".join(missing))))
            continue
        try:
            params = cls.Params.model_validate(json.loads(r["params"] or "{}"))
        except (ValidationError, ValueError) as exc:
            out.append(Rejudged(**base, status="erreur",
                                message=t("bundle.params_refused", error=exc)))
            continue
        results = {name: probe_result_from_row(evidence[(r["candidate"], r["host"], key)]) for name, key in keys.items()}
        verdict = evaluate(cls(), params, results)
        out.append(Rejudged(**base, status=verdict.status.value, observed=verdict.observed,
                            expected=verdict.expected, message=verdict.message))
    return out


def rejudge(bundle: Path, catalogue: Mapping[str, type] | None = None, *, check: bool = True) -> list[Rejudged]:
    """:func:`rejudge_store` on a bundle (verified first unless ``check`` is false)."""
    with load(bundle, check=check) as store:
        return rejudge_store(store, store.run_id, catalogue)
