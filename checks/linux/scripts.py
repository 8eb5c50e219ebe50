"""Bash scripts written by the candidate: valid, clean by shellcheck, documented, and their artefact fresh.

The script is never run. ``bash -n`` (parse only) runs on the host, with the host's bash;
shellcheck runs on the grader machine, on the script's text as fetched, through the engine's
grader-side analysis hook (:meth:`grader.check.Check.analyse`): the candidate's machine need not
have shellcheck, and could not fake its findings. That keeps ``judge`` pure (it reads shellcheck's
stored output like any probe's) and ``rejudge`` possible without shellcheck. The text goes to
shellcheck on its stdin, bounded in size and time, from an empty directory with no rc file
(``--norc``), without following ``source`` (shellcheck's default): nothing of the script runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from checks._common.params import Hours
from checks._common.text import clip, limited, said
from checks.linux._parse import cannot_run, text_lines
from checks.linux.files import AbsolutePath
from checks.linux.jobs import NOW, ago
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import quote, ssh

#: shellcheck's levels, most severe first; a rubric's ``shellcheck`` fails on its level and those above.
LEVELS = ("error", "warning", "info", "style")
SHELLCHECK_TIMEOUT = 20.0
#: Bytes of script given to shellcheck at most (the SSH output cap is 64 KiB anyway).
SHELLCHECK_MAX_INPUT = 256 * 1024
#: Bytes of shellcheck's output kept.
SHELLCHECK_MAX_OUTPUT = 256 * 1024
SHELLCHECK_ARGS = ("--norc", "--format=json1", "--shell=bash", "--severity=style", "-")
_DIRECTIVE = re.compile(r"^#\s*(shellcheck\s|-\*-|vim?:)", re.IGNORECASE)
_USAGE = re.compile(r"^\s*(function\s+)?usage\s*(\(\s*\))?\s*\{?\s*$|^\s*(function\s+)?usage\s*\(\s*\)|\busage\s*:",
                    re.IGNORECASE | re.MULTILINE)


def shellcheck_executable() -> str | None:
    """shellcheck on the grader machine (Debian: the ``shellcheck`` package, installed by scripts/setup)."""
    return shutil.which("shellcheck", path="/usr/bin:/bin:/usr/local/bin")


def run_shellcheck(text: str) -> ProbeResult:
    """shellcheck's JSON on ``text`` (given on stdin, never executed), as a grader-side result.

    The key names a digest of the text: the same script gives the same evidence key. A missing
    shellcheck, a script too long or an overrun is the result's ``error``/``timed_out`` (erreur).
    """
    data = text.encode("utf-8", "surrogateescape")
    digest = hashlib.sha256(data).hexdigest()
    command = f"shellcheck {' '.join(SHELLCHECK_ARGS)} < sha256:{digest}"
    base = ProbeResult(key=f"grader-shellcheck-{digest[:12]}", transport="grader", command=command,
                       started=datetime.now(UTC).isoformat(timespec="milliseconds"))
    exe = shellcheck_executable()
    if exe is None:
        return replace(base, error=Msg("shellcheck est absent de la machine du correcteur "
                                             "(paquet Debian shellcheck, installé par scripts/setup)"))
    if len(data) > SHELLCHECK_MAX_INPUT:
        return replace(base, error=Msg("script trop long pour shellcheck ({size} octets, {cap} au plus)",
                                             size=len(data), cap=SHELLCHECK_MAX_INPUT))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="grader-shellcheck-") as empty:
        try:
            done = subprocess.run([exe, *SHELLCHECK_ARGS], input=data, capture_output=True, cwd=empty,
                                  timeout=SHELLCHECK_TIMEOUT, check=False,
                                  env={"PATH": "/usr/bin:/bin", "HOME": empty, "LC_ALL": "C.UTF-8"})
        except subprocess.TimeoutExpired:
            return replace(base, timed_out=True, duration=time.perf_counter() - t0)
        except OSError as exc:
            return replace(base, error=Msg("shellcheck n'a pas pu être lancé : {error}", error=str(exc)))
    out, err = done.stdout, done.stderr
    return replace(base, stdout=out[:SHELLCHECK_MAX_OUTPUT].decode("utf-8", "replace"),
                       stderr=err[:4096].decode("utf-8", "replace"), exit_code=done.returncode,
                       duration=time.perf_counter() - t0, truncated=len(out) > SHELLCHECK_MAX_OUTPUT)


def findings(r: ProbeResult) -> list[dict[str, Any]]:
    """shellcheck's comments (json1: ``{"comments": [...]}``); ValueError when its output is not that."""
    if r.exit_code not in (0, 1) or r.truncated:
        raise ValueError(clip(str(r.stderr).strip(), 160) or f"code {r.exit_code}")
    doc = json.loads(str(r.stdout) or '{"comments": []}')
    comments = doc.get("comments") if isinstance(doc, dict) else None
    if not isinstance(comments, list):
        raise ValueError("json1 attendu")  # noqa: TRY004 - one error type for « not shellcheck json1 »
    return [c for c in comments if isinstance(c, dict)]


def header(text: str) -> list[str]:
    """The documentation header: the comment lines before the first command (shebang, directives left out)."""
    lines = text_lines(text)
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    block: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        if not _DIRECTIVE.match(stripped):
            words = stripped.lstrip("#").strip()
            if words.strip("#=-*_ "):
                block.append(words)
    return block


def documented(text: str) -> bool:
    """A header of at least one sentence-like line (three words or more)."""
    return any(len(line.split()) >= 3 for line in header(text))


def has_usage(text: str) -> bool:
    """A usage text: a ``usage`` function or a « Usage : » line."""
    return _USAGE.search(text) is not None


class BashScript(Check):
    """Le script bash {path} est valide, propre pour shellcheck et documenté.

    Conforme when the file exists, ``bash -n`` (on the host, parse only) accepts it; when
    ``shellcheck`` is not ``off``, shellcheck (run on the grader machine on the fetched text, see
    the module) reports nothing at that level or above (``error`` < ``warning`` < ``info`` <
    ``style``: ``warning`` fails on errors and warnings; lower findings are shown as evidence);
    when ``documented``, comment lines before the first command say what it does (one line of
    three words or more, shebang and ``# shellcheck`` directives left out); when ``usage``, it
    has a usage text (a ``usage`` function or a « Usage : » line); when ``artefact`` is given
    (an absolute path, what the script produces), it exists, is not empty and, with
    ``artefact_max_age_hours``, was modified within that many hours of the host's clock.
    A script shellcheck cannot get whole (longer than the 64 KiB output cap) is erreur.
    """

    id = "script.bash"
    usually_serves = ("CP11.4",)
    example = "{path: /usr/local/bin/sauvegarde.sh, artefact: /var/backups/etc.tar.gz, artefact_max_age_hours: 24}"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        path: AbsolutePath
        shellcheck: Literal["error", "warning", "info", "style", "off"] = "warning"
        documented: bool = True
        usage: bool = False
        artefact: AbsolutePath | None = None
        artefact_max_age_hours: Hours | None = None

    def probes(self, params: Params) -> Mapping[str, Probe]:
        q = quote(params.path)
        probes = {"text": ssh(f"/bin/cat -- {q}"), "syntax": ssh(f"/bin/bash -n -- {q}")}
        if params.artefact:
            a = quote(params.artefact)
            probes["artefact"] = ssh(f"/usr/bin/stat -L -c '%F|%s|%Y' -- {a}; printf ':: stat %s\\n' \"$?\"; {NOW}")
        return probes

    def analyse(self, params: Params, results: Mapping[str, ProbeResult]) -> Mapping[str, ProbeResult]:
        """shellcheck on the fetched text, when the rubric asks for it and the text came back whole."""
        text = results["text"]
        if params.shellcheck == "off" or text.exit_code != 0 or text.truncated:
            return {}
        return {"shellcheck": run_shellcheck(str(text.stdout))}

    def _expected(self, p: Params) -> str | Msg:
        parts: list[str | Msg] = [Msg("bash -n sans erreur")]
        if p.shellcheck != "off":
            parts.append(Msg("aucun constat shellcheck de niveau {level} ou plus grave", level=p.shellcheck))
        if p.documented:
            parts.append(Msg("en-tête de documentation"))
        if p.usage:
            parts.append(Msg("texte d'usage"))
        if p.artefact:
            parts.append(Msg("{artefact} produit depuis moins de {hours} h", artefact=p.artefact,
                             hours=f"{p.artefact_max_age_hours:g}") if p.artefact_max_age_hours else
                         Msg("{artefact} produit", artefact=p.artefact))
        return said(tuple(parts))

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = self._expected(params)
        text, syntax = results["text"], results["syntax"]
        reason = cannot_run(text)
        if reason:
            return Verdict.erreur(Msg("lecture du script impossible : {reason}", reason=reason), expected=expected)
        if text.exit_code != 0:
            detail = str(text.stderr).strip()
            if "No such file" in detail or "Not a directory" in detail:
                return Verdict.non_conforme(Msg("fichier absent"), expected,
                                            Msg("Le script {path} n'existe pas.", path=params.path))
            return Verdict.erreur(Msg("lecture du script impossible : {reason}", reason=clip(detail, 160) or "-"),
                                  expected=expected)
        if text.truncated:
            return Verdict.erreur(Msg("script tronqué à la lecture : trop long pour être analysé en entier"),
                                  expected=expected)
        body = str(text.stdout)
        observed: list[str | Msg] = []
        problems: list[Msg] = []
        if syntax.exit_code == 0:
            observed.append(Msg("bash -n : aucune erreur"))
        elif syntax.exit_code in (1, 2):
            observed.append(Msg("bash -n : {errors}", errors=clip(str(syntax.stderr).strip(), 200)))
            problems.append(Msg("Le script contient une erreur de syntaxe bash."))
        else:
            return Verdict.erreur(Msg("bash -n n'a pas pu être exécuté : {reason}",
                                      reason=clip(str(syntax.stderr).strip(), 160) or syntax.exit_code),
                                  expected=expected)
        if params.shellcheck != "off":
            verdict = self._shellcheck(params, results.get("shellcheck"), observed, problems, expected)
            if verdict is not None:
                return verdict
        if params.documented:
            head = header(body)
            if documented(body):
                observed.append(Msg("en-tête : {header}", header=clip(" / ".join(head), 120)))
            else:
                observed.append(Msg("en-tête : (aucun commentaire descriptif avant la première commande)"))
                problems.append(Msg("Le script n'a pas d'en-tête de documentation."))
        if params.usage:
            if has_usage(body):
                observed.append(Msg("texte d'usage présent"))
            else:
                observed.append(Msg("texte d'usage absent"))
                problems.append(Msg("Le script n'a pas de texte d'usage."))
        if params.artefact:
            verdict = self._artefact(params, results["artefact"], observed, problems, expected)
            if verdict is not None:
                return verdict
        shown = said(tuple(observed))
        if problems:
            return Verdict.non_conforme(shown, expected, said(tuple(problems)))
        return Verdict.conforme(shown, expected, Msg("Le script {path} est conforme.", path=params.path))

    @staticmethod
    def _shellcheck(p: Params, r: ProbeResult | None, observed: list[str | Msg], problems: list[Msg],
                    expected: str | Msg) -> Verdict | None:
        if r is None:
            return Verdict.erreur(Msg("l'analyse shellcheck n'a pas été faite"), expected=expected)
        try:
            found = findings(r)
        except ValueError as exc:
            return Verdict.erreur(Msg("sortie de shellcheck illisible : {reason}", reason=str(exc)),
                                  observed=clip(str(r.stdout)) or Msg("(vide)"), expected=expected)
        rank = LEVELS.index(p.shellcheck)
        failing = [c for c in found if c.get("level") in LEVELS[:rank + 1]]
        described = [f"SC{c.get('code')} ({c.get('level')}) ligne {c.get('line')} : {clip(str(c.get('message')), 100)}"
                     for c in found]
        observed.append(Msg("shellcheck : {findings}", findings=said(limited(described, 300)))
                        if described else Msg("shellcheck : aucun constat"))
        if failing:
            problems.append(Msg("shellcheck signale {count} constat(s) de niveau {level} ou plus grave.",
                                count=len(failing), level=p.shellcheck))
        return None

    @staticmethod
    def _artefact(p: Params, r: ProbeResult, observed: list[str | Msg], problems: list[Msg],
                  expected: str | Msg) -> Verdict | None:
        stat_line, code, now = None, None, None
        for line in text_lines(str(r.stdout)):
            if line.startswith(":: stat "):
                code = line[8:].strip()
            elif line.startswith(":: now ") and line[7:].strip().isdigit():
                now = datetime.fromtimestamp(int(line[7:].strip()), tz=UTC)
            elif stat_line is None and line.count("|") == 2:
                stat_line = line
        if code is None or now is None:
            return Verdict.erreur(Msg("sortie illisible : {reason}", reason=Msg("horloge ou état absent")),
                                  observed=clip(str(r.stdout)) or Msg("(vide)"), expected=expected)
        if code != "0" or stat_line is None:
            observed.append(Msg("{artefact} : absent", artefact=p.artefact))
            problems.append(Msg("Le fichier produit par le script ({artefact}) n'existe pas.", artefact=p.artefact))
            return None
        kind, size, mtime = stat_line.split("|")
        if not (size.isdigit() and mtime.isdigit()):
            return Verdict.erreur(Msg("sortie de stat illisible"), observed=clip(stat_line), expected=expected)
        when = datetime.fromtimestamp(int(mtime), tz=UTC)
        observed.append(Msg("{artefact} : {kind}, {size} octets, modifié {when}", artefact=p.artefact, kind=kind,
                            size=size, when=ago(when, now)))
        if not kind.startswith("regular") or int(size) == 0:
            problems.append(Msg("Le fichier produit par le script ({artefact}) est vide ou n'est pas un fichier.",
                                artefact=p.artefact))
        elif p.artefact_max_age_hours and now - when > timedelta(hours=p.artefact_max_age_hours):
            problems.append(Msg("Le fichier produit par le script ({artefact}) date de plus de {hours} h.",
                                artefact=p.artefact, hours=f"{p.artefact_max_age_hours:g}"))
        return None

