"""Parsing helpers shared by the Linux checks: pure functions over probe output.

Two things live here:

* the *file dump*: one probe that prints several configuration files (fixed paths and
  globs chosen by the check, never parameters) in a framing that file contents cannot
  forge. Every content line is printed with a ``|`` prefix, so any line that does not
  start with ``|`` was written by the probe itself::

      :: family debian                  (optional, see ``FAMILY``)
      ==> /etc/cron.d/backup            (a file follows)
      :: lstat root 644 regular file    (owner, octal mode, type of the path itself)
      :: stat root 644 regular file     (same, symbolic links followed; regular files only)
      |first line of the file
      |...
                                        (empty line: the file ended with a newline)
      :: end 0                          (exit code of the reading command)
      :: absent /etc/rsyslog.conf       (a fixed path that does not exist)

  File names containing a newline are skipped by the shell (``:: skipped-name``): no
  daemon we read reads them either, and they would be the only way to forge a header.

* small helpers to recognise "the command itself could not run" (binary missing,
  permission denied) so that judges answer ``erreur`` instead of ``non_conforme``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from checks._common.text import clip, reason_of
from grader.model import Msg, ProbeResult, Verdict

# Characters allowed in the fixed paths and globs a check may dump (never parameters).
_SAFE_GLOB = re.compile(r"^/[A-Za-z0-9_./*-]+$")

FAMILY = (
    "if [ -r /etc/debian_version ]; then printf ':: family debian\\n'; "
    "elif [ -r /etc/redhat-release ]; then printf ':: family redhat\\n'; "
    "else printf ':: family other\\n'; fi; "
)


def dump_command(paths: Sequence[str], *, family: bool = False) -> str:
    """The sh command printing every file of ``paths`` (fixed paths or globs) in the dump framing.

    :param paths: absolute paths or globs written by the check author (``/etc/cron.d/*``);
        they are expanded by the remote shell, so they must never come from parameters.
    :param family: also print which distribution family the host belongs to.
    """
    for path in paths:
        if not _SAFE_GLOB.match(path):
            raise ValueError(f"unsafe path in a file dump: {path!r}")
    return (
        (FAMILY if family else "")
        + "N=$(printf '\\n_'); N=${N%_}; "
        + "for f in " + " ".join(paths) + "; do "
        + "case $f in *\"$N\"*) printf ':: skipped-name\\n'; continue;; esac; "
        + "if [ ! -e \"$f\" ] && [ ! -L \"$f\" ]; then printf ':: absent %s\\n' \"$f\"; continue; fi; "
        + "printf '==> %s\\n' \"$f\"; "
        + "/usr/bin/stat -c ':: lstat %U %a %F' -- \"$f\"; "
        + "if [ -f \"$f\" ]; then "
        + "/usr/bin/stat -L -c ':: stat %U %a %F' -- \"$f\"; "
        + "/usr/bin/sed 's/^/|/' -- \"$f\"; printf '\\n:: end %s\\n' \"$?\"; "
        + "fi; done"
    )


class DumpError(ValueError):
    """The dump output does not follow the framing (garbage, cut, or not ours)."""


@dataclass(frozen=True)
class Meta:
    """``stat`` facts about a path: owner name, octal mode (string), file type."""

    owner: str
    mode: str
    kind: str

    @property
    def mode_int(self) -> int:
        return int(self.mode, 8)

    @property
    def regular(self) -> bool:
        return self.kind in ("regular file", "regular empty file")


@dataclass
class DumpedFile:
    """One file of a dump. ``lines`` is None when the path is not a regular file."""

    path: str
    lstat: Meta | None = None
    stat: Meta | None = None
    lines: list[str] | None = None
    final_newline: bool = True
    read_rc: int | None = None
    complete: bool = False  # the closing ``:: end`` was seen

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def directory(self) -> str:
        return self.path.rsplit("/", 1)[0] or "/"

    @property
    def readable(self) -> bool:
        return self.lines is not None and self.complete and self.read_rc == 0


@dataclass
class Dump:
    """A parsed dump: the files in order, the absent fixed paths, the family marker."""

    files: list[DumpedFile] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    family: str | None = None
    skipped_names: int = 0
    truncated: bool = False

    def get(self, path: str) -> DumpedFile | None:
        for f in self.files:
            if f.path == path:
                return f
        return None


_META = re.compile(r"^:: (lstat|stat) (\S+) ([0-7]+) (.+)$")


def parse_dump(text: str, *, truncated: bool = False) -> Dump:
    """Parse the dump framing strictly: any line that is neither ours nor content is an error.

    :param truncated: the output was capped; the last file may then be incomplete instead
        of being an error (it is marked ``complete=False``).
    :raises DumpError: when the output does not follow the framing.
    """
    dump = Dump(truncated=truncated)
    current: DumpedFile | None = None
    pending_empty = False
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        if pending_empty and not line.startswith(":: end "):
            raise DumpError(Msg("ligne vide inattendue avant la ligne {number}", number=number))
        if line.startswith("|"):
            if current is None or current.lines is None or current.complete:
                raise DumpError(Msg("contenu hors fichier à la ligne {number}", number=number))
            current.lines.append(line[1:])
            continue
        if line == "":
            if current is None or current.lines is None or current.complete:
                raise DumpError(Msg("ligne vide inattendue à la ligne {number}", number=number))
            pending_empty = True
            continue
        if line.startswith("==> "):
            current = DumpedFile(path=line[4:])
            dump.files.append(current)
            continue
        if line.startswith(":: end "):
            if current is None or current.lines is None or current.complete:
                raise DumpError(Msg("fin de fichier inattendue à la ligne {number}", number=number))
            try:
                current.read_rc = int(line[7:])
            except ValueError as exc:
                raise DumpError(Msg("code de sortie illisible à la ligne {number}", number=number)) from exc
            current.final_newline = pending_empty or not current.lines
            current.complete = True
            pending_empty = False
            continue
        m = _META.match(line)
        if m:
            if current is None or current.complete or current.lines:
                raise DumpError(Msg("métadonnées inattendues à la ligne {number}", number=number))
            meta = Meta(m.group(2), m.group(3), m.group(4))
            if m.group(1) == "lstat":
                current.lstat = meta
            else:
                current.stat = meta
                current.lines = []  # content (if any) follows
            continue
        if line.startswith(":: absent "):
            dump.absent.append(line[10:])
            current = None
            continue
        if line.startswith(":: family "):
            dump.family = line[10:].strip()
            continue
        if line == ":: skipped-name":
            dump.skipped_names += 1
            continue
        raise DumpError(Msg("ligne inattendue {number} : {line}", number=number, line=repr(clip(line, 80))))
    if current is not None and current.lines is not None and not current.complete and not truncated:
        raise DumpError(Msg("le fichier {path} n'a pas de fin (sortie interrompue)", path=current.path))
    return dump


# -- "the command could not run" ----------------------------------------------------------

def cannot_run(result: ProbeResult) -> str | Msg | None:
    """Why the probe's command itself could not run (exit 126/127), else None (a value for a :class:`Msg`)."""
    if result.exit_code in (126, 127):
        return clip(result.stderr.strip(), 200) or Msg("code de sortie {code}", code=result.exit_code)
    return None


UNREADABLE_CONFIG = Msg("lecture de la configuration impossible")


def read_dump(result: ProbeResult, expected: str | Msg, *, what: Msg = UNREADABLE_CONFIG,
              need_family: bool = False) -> Dump | Verdict:
    """The dump of a file-dump probe, or the ``erreur`` verdict saying why it cannot be judged."""
    reason = cannot_run(result)
    if reason:
        return Verdict.erreur(Msg("{what} : {reason}", what=what, reason=reason), expected=expected)
    try:
        dump = parse_dump(result.stdout, truncated=result.truncated)
    except DumpError as exc:
        return Verdict.erreur(Msg("sortie illisible : {exc}", exc=reason_of(exc)), observed=clip(result.stdout),
                              expected=expected)
    if need_family and dump.family is None:  # the probe prints it first: without it the output is not ours
        return Verdict.erreur(Msg("sortie incomplète (marqueur de distribution absent)"),
                              observed=clip(result.stdout) or Msg("(vide)"), expected=expected)
    return dump


def text_lines(text: str) -> list[str]:
    """Split on ``\\n`` only (not on ``\\r`` or other Unicode separators), dropping the final empty piece."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def split_words(line: str) -> list[str]:
    """Split like net-snmp's ``copy_nword``: whitespace-separated, "quoted" or 'quoted' words."""
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            break
        if line[i] in "\"'":
            quote_char = line[i]
            j = i + 1
            buf = []
            while j < n and line[j] != quote_char:
                if line[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(line[j])
                j += 1
            words.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < n and line[j] not in " \t":
                j += 1
            words.append(line[i:j])
            i = j
    return words
