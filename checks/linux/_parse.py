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

  With ``strip`` (:class:`Strip`), the host drops comment and blank lines *before* the
  transport's output cap (64 KiB, :data:`grader.transports.envelope.CAP`): a file padded
  with megabytes of comments cannot push its effective lines past the cap. Each kept line
  is then preceded by its line number in the file (sed's ``=``), so the evidence keeps
  the file's own numbers::

      :: stat root 644 regular file
      :: stripped comments              (comments and blank lines dropped on the host)
      120                               (the number of the next line in the file)
      |*.* @@192.168.10.5:514
      :: end 0                          (still the exit code of the reading sed)

  The file's last line is always kept (emptied when it is a comment or blank), so a file
  of comments only is present with empty lines, and a missing final newline is still seen.
  Comment lines matching :attr:`Strip.keep` are kept (a commented-out cron job is evidence).
  The parser gives back one empty line for each run of dropped lines, with its number
  (:meth:`DumpedFile.numbered`): judges that skip blank and comment lines read the same
  configuration; ``/* */`` blocks (rsyslog) are left to the judge (see rsyslog.py).

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


@dataclass(frozen=True)
class Strip:
    """Which lines the host drops before the output cap (see the module docstring).

    :param comment: ERE of what starts a comment line after optional blanks (``#``).
    :param keep: ERE of comment lines kept all the same (evidence a judge reports, such as a
        commented-out cron job); None keeps none.
    """

    comment: str = "#"
    keep: str | None = None

    def sed(self) -> str:
        """The sed command filtering ``"$f"``: numbers and ``|``-prefixes the kept lines."""
        script = []
        if self.keep:
            script.append(f"/{_sed_regex(self.keep)}/b k")
        script += [f"/^[[:space:]]*({_sed_regex(self.comment)}|$)/{{", "$!d", "s/.*//", "}", ":k", "=", "s/^/|/"]
        return "/usr/bin/sed -E " + " ".join(f"-e '{line}'" for line in script) + ' -- "$f"'


def _sed_regex(regex: str) -> str:
    """An ERE written by a check author, for a ``/.../`` sed address inside single quotes."""
    if not regex or any(c in regex for c in "'\n\0"):
        raise ValueError(f"unsafe expression for a file dump: {regex!r}")
    return regex.replace("/", "\\/")


STRIPPED = ":: stripped comments"


def dump_command(paths: Sequence[str], *, family: bool = False, strip: Strip | None = None) -> str:
    """The sh command printing every file of ``paths`` (fixed paths or globs) in the dump framing.

    :param paths: absolute paths or globs written by the check author (``/etc/cron.d/*``);
        they are expanded by the remote shell, so they must never come from parameters.
    :param family: also print which distribution family the host belongs to.
    :param strip: drop comment and blank lines on the host, before the output cap; kept lines
        come with their line number (see the module docstring).
    """
    for path in paths:
        if not _SAFE_GLOB.match(path):
            raise ValueError(f"unsafe path in a file dump: {path!r}")
    read = (f"printf '{STRIPPED}\\n'; {strip.sed()}; " if strip else "/usr/bin/sed 's/^/|/' -- \"$f\"; ")
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
        + read + "printf '\\n:: end %s\\n' \"$?\"; "
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
    """One file of a dump. ``lines`` is None when the path is not a regular file.

    ``numbers`` is set when the host stripped comments (``:: stripped comments``): the line
    number in the file of each entry of ``lines`` (an empty entry stands for dropped lines).
    """

    path: str
    lstat: Meta | None = None
    stat: Meta | None = None
    lines: list[str] | None = None
    numbers: list[int] | None = None
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

    @property
    def stripped(self) -> bool:
        """The host dropped comment and blank lines (the numbers are the file's own)."""
        return self.numbers is not None

    def number(self, index: int) -> int:
        """The line number in the file of ``lines[index]`` (``index`` from 0)."""
        return self.numbers[index] if self.numbers is not None else index + 1

    def numbered(self) -> list[tuple[int, str]]:
        """(line number in the file, line) for every line read, like ``enumerate(lines, 1)``."""
        lines = self.lines or []
        return list(zip(self.numbers, lines, strict=True)) if self.numbers is not None else list(enumerate(lines, 1))


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
_NUMBER = re.compile(r"^[0-9]{1,12}$")


def parse_dump(text: str, *, truncated: bool = False) -> Dump:
    """Parse the dump framing strictly: any line that is neither ours nor content is an error.

    :param truncated: the output was capped; the last file may then be incomplete instead
        of being an error (it is marked ``complete=False``).
    :raises DumpError: when the output does not follow the framing.
    """
    dump = Dump(truncated=truncated)
    current: DumpedFile | None = None
    pending_empty = False
    next_number: int | None = None  # stripped files: the number announced for the next line
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        if pending_empty and not line.startswith(":: end "):
            raise DumpError(Msg("ligne vide inattendue avant la ligne {number}", number=number))
        if line.startswith("|"):
            if current is None or current.lines is None or current.complete:
                raise DumpError(Msg("contenu hors fichier à la ligne {number}", number=number))
            if current.numbers is not None:
                if next_number is None:
                    raise DumpError(Msg("ligne sans numéro à la ligne {number}", number=number))
                last = current.numbers[-1] if current.numbers else 0
                if next_number <= last:
                    raise DumpError(Msg("numéro de ligne non croissant à la ligne {number}", number=number))
                if next_number > last + 1:  # dropped lines: one empty line stands for them
                    current.lines.append("")
                    current.numbers.append(last + 1)
                current.numbers.append(next_number)
                next_number = None
            current.lines.append(line[1:])
            continue
        if _NUMBER.match(line):
            if current is None or current.numbers is None or current.complete or next_number is not None:
                raise DumpError(Msg("numéro de ligne inattendu à la ligne {number}", number=number))
            next_number = int(line)
            continue
        if line == "":
            if current is None or current.lines is None or current.complete:
                raise DumpError(Msg("ligne vide inattendue à la ligne {number}", number=number))
            pending_empty = True
            continue
        if line.startswith("==> "):
            if next_number is not None:
                raise DumpError(Msg("numéro de ligne sans ligne avant la ligne {number}", number=number))
            current = DumpedFile(path=line[4:])
            dump.files.append(current)
            continue
        if line.startswith(":: end "):
            if current is None or current.lines is None or current.complete or next_number is not None:
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
            if current is None or current.complete or current.lines or current.numbers is not None:
                raise DumpError(Msg("métadonnées inattendues à la ligne {number}", number=number))
            meta = Meta(m.group(2), m.group(3), m.group(4))
            if m.group(1) == "lstat":
                current.lstat = meta
            else:
                current.stat = meta
                current.lines = []  # content (if any) follows
            continue
        if line == STRIPPED:
            if current is None or current.lines != [] or current.numbers is not None or current.complete:
                raise DumpError(Msg("marqueur de commentaires retirés inattendu à la ligne {number}", number=number))
            current.numbers = []
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
