"""The batch envelope: many probes, one remote exec, results nobody on the host can forge.

Why it exists: one SSH exec per check costs a round trip each (50 ms with paramiko's
defaults); one exec per host makes the cost of a run grow with hosts, not with checks.
The envelope is a POSIX sh script sent on the exec's stdin. It runs every probe

* in its own subshell (or, for a simple command, its own process), with its own time budget:
  one watchdog per batch kills a probe (and its children) past its deadline — a ``timeout``
  process per probe cost more than the probes themselves (bench/README.md);
* in a clean environment: the exec command is ``exec /usr/bin/env -i PATH=<system dirs> LC_ALL=C
  /bin/sh -s``, so no alias, function, PATH entry or profile of the login account applies
  inside the batch. sshd hands that line to the account's *login shell*, whose rc files run
  first: ``exec`` defeats a function named after an absolute path (bash accepts
  ``/usr/bin/env() {...}``), but a rc file can still redefine ``exec`` itself or take the
  session over. That cannot be prevented from outside, so it is detected: the login shell
  first says its name and what its commands are (``SHELL`` frame, :func:`shell_anomalies`),
  and anything it prints lands *before* the first frame, where it is an anomaly. The reports
  show such anomalies beside every verdict of the host (:data:`grader.model.HOST_WIDE_ANOMALIES`);
* with stdin from /dev/null, stdout and stderr written to a private directory named after
  the boundary (mode 0700, removed on exit, 16 MiB file-size limit), sent back capped at
  ``CAP`` bytes (+1 to detect truncation) by one ``head`` per group of probes;

and frames each result with a random per-run boundary (128 bits) that candidate-controlled
data cannot guess::

    <B> SHELL <$0>                        (the login shell, before the batch: remote_command)
    <what type and declare -F said>
    <B> SHELL-END
    <B> START <uptime>
    <B> R <index> <rc> <t0> <t1>          (as each probe ends: exit code, host clock)
    <B> F <index> <index>...              (a group's outputs follow, one head call)
    ==> /tmp/<B>/<index>.o <==            (head's own header, naming the secret directory)
    <stdout>
    ==> /tmp/<B>/<index>.e <==
    <stderr>
    <B> G
    <B> END

The parser accepts a probe's result only if its R frame came first and a later F...G block
carried both its files under the expected headers in the announced order; anything else is
an ``error`` on that probe (``erreur``, never a verdict). Process starts dominate the cost
of a batch, so a probe costs one fork (plus the exec of its program when it is a simple
command, see :func:`is_simple`) and a share of one ``head``; the clock is read from
/proc/uptime by a shell builtin, and a killed probe exits 137 (``timed_out``). Text outside frames is kept as anomalies. Threat model: this defeats aliases, PATH
tricks, rc-file output, functions named after the programs run and forged text in files; it
detects, without preventing, rc files that redefine the login shell's own builtins (the
report's words can be forged too, so a clean report proves nothing). It does not defend against
a candidate who replaced /bin/sh or /usr/bin/head themselves (root on their own VM can do that)
— such a host is beyond any remote grader, and functional probes from the grader's side are the
counter-measure.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from grader.model import Msg, Probe, ProbeResult

CAP = 64 * 1024
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
FILE_LIMIT_BLOCKS = 32768  # 16 MiB in 512-byte blocks: beyond it the probe gets SIGXFSZ
FLUSH_EVERY = 16  # probes whose outputs are sent by one `head` (fewer processes, partial results kept)


def remote_command(*, sudo: bool = False, boundary: str | None = None) -> str:
    """The one command line given to sshd, which runs it through the account's login shell.

    ``/bin/sh -s`` (dash on Debian) reads the script from stdin in blocks and starts fast: a
    process start is the envelope's main cost (measured in bench/envelope_costs.py). It is
    started with ``exec`` and absolute paths: bash accepts a *function* named ``/usr/bin/env``
    (from ``/etc/bash.bashrc`` or ``~/.bashrc``, which bash reads when sshd starts it) and an
    absolute path alone does not bypass it, but ``exec`` runs the file itself.

    With ``boundary`` (what :meth:`Envelope.remote_command` passes), the login shell first
    reports itself in a ``SHELL`` frame (see :data:`SHELL_REPORT`): its name, what ``exec``,
    ``printf``, ``type``, the programs run and ``declare`` are to it, and the functions it
    defined (bash). Only builtins, so it costs no process. A shell whose rc files redefine
    ``exec`` itself can still take the batch over; the report is how the jury learns that such
    a host's answers may be forged (:func:`shell_findings`).
    """
    clean = f"/usr/bin/env -i PATH={SYSTEM_PATH} LC_ALL=C /bin/sh -s"
    command = f"exec /usr/bin/sudo -n -- {clean}" if sudo else f"exec {clean}"
    if boundary is None:
        return command
    return SHELL_REPORT.format(b=boundary, sudo=" /usr/bin/sudo" if sudo else "") + command


# What the login shell says of itself before the batch: every word a builtin of POSIX shells
# (``declare -F`` is bash's: elsewhere it fails on stderr, which is not read). No redirection,
# so a csh or tcsh login shell still runs it. ``type`` rather than ``command -V``, which reads
# one name only in dash.
SHELL_REPORT = ("printf '%s SHELL %s\\n' {b} \"$0\"; "
                "type exec printf type /usr/bin/env /bin/sh{sudo} declare; declare -F; "
                "printf '%s SHELL-END\\n' {b}; ")


@dataclass(frozen=True)
class Envelope:
    """A rendered batch: the script to send and what is needed to read the answer."""

    boundary: str
    script: str
    probes: tuple[Probe, ...]

    def remote_command(self, *, sudo: bool = False) -> str:
        """The exec's command line, with the login shell's report framed by this envelope's boundary."""
        return remote_command(sudo=sudo, boundary=self.boundary)

    @property
    def directory(self) -> str:
        """The private directory of the outputs; its name holds the boundary, so head's file
        headers that name it are as unforgeable as the frames."""
        return f"/tmp/{self.boundary}"


def build(probes: Sequence[Probe], *, boundary: str | None = None,
          passwords: Mapping[str, str] | None = None) -> Envelope:
    """Render the script for already-deduplicated probes (order kept, index = position).

    ``passwords``: credential name -> password, for the probes that name a ``secret``. The password
    is written in the script (sent on the exec's stdin, never recorded) as the third argument of the
    ``k`` function, which sets it in that probe's subshell only; the probe's recorded command keeps
    ``$GRADER_SECRET``. A probe whose secret is not given is refused (ValueError): the channel resolves
    every secret before building, and leaves out the probes whose secret it could not resolve.
    """
    b = boundary or "GRADER-" + secrets.token_hex(16)
    passwords = passwords or {}
    lines = [
        "set -u",
        "umask 077",
        f"ulimit -f {FILE_LIMIT_BLOCKS} 2>/dev/null",  # a flooding probe cannot fill the disk
        f"B={b}",
        'D=/tmp/$B',
        '/bin/mkdir -m 700 -- "$D" 2>/dev/null || { printf "%s FATAL mkdir\\n" "$B"; exit 0; }',
        "trap '/bin/rm -rf -- \"$D\"' EXIT",
        "trap 'exit 130' HUP INT TERM",
        # Clock without a process: /proc/uptime (centiseconds); 0.00 where it does not exist
        # (then no probe is ever past its deadline: only the exec's own deadline applies).
        "now() { R=; { read R _ </proc/uptime; } 2>/dev/null; case $R in *.??) ;; *) R=0.00 ;; esac; }",
        'cs() { C=$(( ${R%.*} * 100 + 1${R#*.} - 100 )); }',
        # One watchdog for the whole batch instead of a timeout(1) per probe (a process start per
        # probe is the envelope's main cost): every 0.2 s it reads the running probe's pid and
        # deadline and kills it (and its children) when the deadline has passed.
        ("( while [ -d \"$D\" ]; do /bin/sleep 0.2; c=; d=; { read c d <\"$D/w\"; } 2>/dev/null;"
         " [ -n \"$c\" ] || continue; now; cs; if [ \"$C\" -gt \"$d\" ]; then"
         " /usr/bin/pkill -KILL -P \"$c\"; kill -KILL \"$c\"; fi; done ) </dev/null >/dev/null 2>&1 &"),
        # run INDEX: wait for the probe started in the background, say how it ended (R frame).
        "run() {",
        '  c=$!; echo "$c $d" >"$D/w"; wait "$c"; rc=$?; : >"$D/w"; now',
        '  printf "%s R %s %s %s %s\\n" "$B" "$1" "$rc" "$s" "$R"',
        "}",
        # p INDEX CENTISECONDS COMMAND: a compound command, in its own subshell. Outputs go to
        # private files (no pipe, so a large output never turns into SIGPIPE and a changed exit code).
        "p() {",
        '  now; s=$R; cs; d=$(( C + $2 ))',
        '  ( set +u; eval "$3" ) </dev/null >"$D/$1.o" 2>"$D/$1.e" &',
        '  run "$1"',
        "}",
        # k INDEX CENTISECONDS SECRET COMMAND: as p, with a credential's password in the shell variable
        # GRADER_SECRET of this probe's subshell only (not exported: the command passes it on by name).
        "k() {",
        '  now; s=$R; cs; d=$(( C + $2 ))',
        '  ( set +u; GRADER_SECRET=$3; eval "$4" ) </dev/null >"$D/$1.o" 2>"$D/$1.e" &',
        '  run "$1"',
        "}",
        # q INDEX CENTISECONDS WORD...: a simple command (see is_simple), started directly.
        "q() {",
        '  i=$1; now; s=$R; cs; d=$(( C + $2 )); shift 2',
        '  "$@" </dev/null >"$D/$i.o" 2>"$D/$i.e" &',
        '  run "$i"',
        "}",
        # f INDEX...: one head sends the capped outputs of several probes; head names each file
        # in a header line ("==> /tmp/<boundary>/<index>.o <=="), which frames each output.
        "f() {",
        '  printf "%s F %s\\n" "$B" "$*"',
        "  a=; for i in \"$@\"; do a=\"$a $D/$i.o $D/$i.e\"; done",
        f"  /usr/bin/head -c {CAP + 1} -- $a",
        '  printf "\\n%s G\\n" "$B"',
        "}",
        'now; printf "%s START %s\\n" "$B" "$R"',
    ]
    pending: list[str] = []
    for index, probe in enumerate(probes):
        timeout = str(max(10, round(probe.timeout * 100)))  # centiseconds
        if probe.secret is not None:
            if probe.secret not in passwords:
                raise ValueError(f"no password for the secret of probe {index}")
            lines.append(f"k {index} {timeout} {_sh_quote(passwords[probe.secret])} {_sh_quote(probe.command)}")
        elif is_simple(probe.command):
            lines.append(f"q {index} {timeout} {probe.command}")
        else:
            lines.append(f"p {index} {timeout} {_sh_quote(probe.command)}")
        pending.append(str(index))
        if len(pending) == FLUSH_EVERY:
            lines.append("f " + " ".join(pending))
            pending = []
    if pending:
        lines.append("f " + " ".join(pending))
    lines.append('printf "%s END\\n" "$B"')
    return Envelope(b, "\n".join(lines) + "\n", tuple(probes))


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.,:+-@%= ")


def is_simple(command: str) -> bool:
    """True when ``command`` is one absolute-path program with plain or single-quoted words.

    Such a command means the same words whether the envelope's shell or a ``sh -c`` parses
    it: no expansion, operator, redirection, glob, escape or double quote outside single
    quotes, no newline, and an absolute program path that is not an assignment.
    """
    if not command.startswith("/") or "\n" in command:
        return False
    first = command.split(" ", 1)[0]
    if "=" in first or "'" in first:
        return False
    quoted = False
    for char in command:
        if char == "'":
            quoted = not quoted
        elif not quoted and char not in _PLAIN:
            return False
    return not quoted


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass
class Parsed:
    """The envelope's answer: one result per probe key, plus what did not belong."""

    results: dict[str, ProbeResult] = field(default_factory=dict)
    anomalies: list[str | Msg] = field(default_factory=list)  # said by Msg: French words, data in values
    complete: bool = False  # START and END seen
    shell: str | None = None  # the login shell's name as it said it (``$0``), None when it did not
    shell_report: list[str] = field(default_factory=list)  # what it said of its commands and functions


def parse(envelope: Envelope, raw: bytes, *, started: str = "", cut: Msg | None = None,
          login_shell: bool = True) -> Parsed:
    """Read the framed output. Never trusts a frame whose boundary, order or file header is wrong.

    A probe has a result only if its ``R`` frame (exit code, clock) came first and a later
    ``F``…``G`` block carried both of its files under headers naming the private directory,
    in the order the ``F`` frame announced. Anything else is an ``error`` on that probe: ``cut``
    (why the output stopped, e.g. the host's deadline) for a probe whose end never came, and
    « sortie interrompue ou falsifiée » for one whose frames were wrong. ``login_shell=False``: the
    script was started without a login shell (a guest agent execs ``/bin/sh`` itself), so none had to
    describe itself; a ``SHELL`` frame is then an anomaly like any frame out of place.
    """
    b = envelope.boundary.encode()
    out = Parsed()
    frame = re.compile(rb"^" + re.escape(b) + rb" (SHELL|SHELL-END|START|END|FATAL|R|F|G)(?: (.*))?$")
    pieces = re.split(rb"(?m)^(" + re.escape(b) + rb" [^\n]*)\n?", raw)
    ends: dict[int, tuple[str, str, str]] = {}  # index -> (rc, t0, t1)
    bad: set[int] = set()
    files: dict[int, tuple[bytes, bytes]] = {}
    u0 = ""
    seen_start = False
    in_shell = False  # between the login shell's SHELL and SHELL-END frames
    block: list[int] | None = None  # indices announced by the open F frame
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            if in_shell:
                out.shell_report.extend(piece[:4096].decode(errors="replace").splitlines())
            elif block is not None:
                _read_block(envelope, piece, block, files, bad, out)
                block = []  # the block's text is consumed; G must follow
            elif piece.strip():
                where = Msg("avant l'enveloppe") if not seen_start else Msg("hors cadre")
                out.anomalies.append(Msg("texte {where} : {text}", where=where,
                                         text=repr(piece[:300].decode(errors="replace"))))
            continue
        m = frame.match(piece)
        if not m:
            out.anomalies.append(Msg("ligne de cadre illisible : {line}", line=repr(piece[:120])))
            continue
        kind, arg = m.group(1).decode(), (m.group(2) or b"").decode(errors="replace")
        if kind == "SHELL" and login_shell and not seen_start and out.shell is None:
            out.shell, in_shell = arg[:200], True
            continue
        in_shell = False
        if kind == "SHELL-END":
            continue
        if kind == "SHELL":
            out.anomalies.append(Msg("cadre SHELL inattendu : {frame}", frame=repr(arg[:120])))
        elif kind == "START":
            seen_start, u0 = True, arg
        elif kind == "FATAL":
            out.anomalies.append(Msg("l'enveloppe n'a pas pu démarrer : {error}", error=arg))
        elif kind == "END":
            out.complete = seen_start and block is None
        elif kind == "R":
            fields = arg.split(" ")
            try:
                index = int(fields[0])
            except ValueError:
                out.anomalies.append(Msg("cadre R illisible : {frame}", frame=repr(arg)))
                continue
            if index in ends:
                bad.add(index)
                out.anomalies.append(Msg("cadre R en double pour la sonde {index}", index=index))
            ends[index] = (fields[1] if len(fields) > 1 else "", fields[2] if len(fields) > 2 else "",
                           fields[3] if len(fields) > 3 else "")
        elif kind == "F":
            try:
                announced = [int(x) for x in arg.split()]
            except ValueError:
                out.anomalies.append(Msg("cadre F illisible : {frame}", frame=repr(arg)))
                announced = []
            missing = [x for x in announced if x not in ends]
            if missing:  # outputs before their exit code: not the order the script writes
                bad.update(missing)
                out.anomalies.append(Msg("sorties sans code de sortie pour les sondes {indices}", indices=str(missing)))
            block = announced
        elif kind == "G":
            if block is None:
                out.anomalies.append(Msg("cadre G inattendu"))
            elif block:  # F announced files but no text came: every file lost its header
                bad.update(block)
            block = None
    if login_shell and (seen_start or out.shell is not None):
        out.anomalies.extend(shell_anomalies(out.shell, out.shell_report))
    for index, probe in enumerate(envelope.probes):
        if index in bad or index not in ends or index not in files:
            never_ended = cut is not None and index not in bad and index not in ends
            out.results[probe.key] = ProbeResult(
                key=probe.key, transport=probe.transport, command=probe.command, started=started,
                error=cut if never_ended else Msg(
                    "résultat absent ou incohérent dans l'enveloppe (sortie interrompue ou falsifiée)"),
            )
            continue
        out.results[probe.key] = _result(probe, ends[index], files[index], u0, started)
    return out


# The commands the login shell must describe as builtins or files (the report's ``type`` words
# that every POSIX shell knows; ``declare`` and ``/usr/bin/sudo`` may be missing).
SHELL_DESCRIBED = ("exec", "printf", "type", "/usr/bin/env", "/bin/sh")
_REDEFINED = re.compile(r"^(\S+) is (?:a (?:shell )?function|aliased to|an alias)\b")
_DESCRIBED = re.compile(r"^(\S+) is ")
_FUNCTION = re.compile(r"^declare -f\S* (\S+)$")


def shell_findings(report: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """What a login shell's report shows: (names redefined by a function or an alias, functions
    defined, words of :data:`SHELL_DESCRIBED` it did not describe). Pure; the report is what the
    host chose to print, so an empty finding proves nothing, a finding proves tampering or a
    shell beyond what the batch expects."""
    redefined: list[str] = []
    functions: list[str] = []
    described: set[str] = set()
    for line in report:
        if m := _REDEFINED.match(line):
            redefined.append(m.group(1))
        if m := _DESCRIBED.match(line):
            described.add(m.group(1))
        if m := _FUNCTION.match(line):
            functions.append(m.group(1))
    missing = [word for word in SHELL_DESCRIBED if word not in described]
    return list(dict.fromkeys(redefined)), list(dict.fromkeys(functions)), missing


def shell_anomalies(shell: str | None, report: Sequence[str]) -> list[Msg]:
    """The anomalies a login shell's report gives (each in :data:`grader.model.HOST_WIDE_ANOMALIES`:
    the reports show them beside every verdict of the host)."""
    if shell is None:
        return [Msg("le shell de connexion ne s'est pas décrit avant le lot : son environnement n'a pas pu être "
                    "vérifié, une fonction de ses fichiers de démarrage a pu fausser les résultats de cet hôte")]
    name = shell or "?"
    redefined, functions, missing = shell_findings(report)
    said: list[Msg] = []
    if redefined:
        said.append(Msg("shell de connexion {shell} : {names} redéfini(s) par une fonction ou un alias de ses fichiers "
                        "de démarrage ; les résultats de cet hôte ont pu être falsifiés", shell=name,
                        names=tuple(redefined)))
    others = [f for f in functions if f not in redefined]
    if others:
        said.append(Msg("shell de connexion {shell} : fonctions définies au lancement du lot ({names}) ; "
                        "vérifiez qu'elles ne faussent pas les résultats de cet hôte", shell=name,
                        names=tuple(others[:20])))
    if missing and not redefined:
        said.append(Msg("shell de connexion {shell} : n'a pas décrit {names} ; son environnement n'a pas pu être "
                        "vérifié", shell=name, names=tuple(missing)))
    return said


def _read_block(envelope: Envelope, text: bytes, block: list[int], files: dict[int, tuple[bytes, bytes]],
                bad: set[int], out: Parsed) -> None:
    """Split one head output into its files, checking every header is the expected one, in order."""
    directory = re.escape(envelope.directory.encode())
    header = re.compile(rb"(?:^|\n)==> " + directory + rb"/(\d+)\.([oe]) <==\n")
    # Each block's text ends with the "\n" printed before the G frame: remove exactly that one.
    if text.endswith(b"\n"):
        text = text[:-1]
    marks = list(header.finditer(text))
    expected = [(str(x).encode(), kind) for x in block for kind in (b"o", b"e")]
    got = [(m.group(1), m.group(2)) for m in marks]
    if got != expected or (marks and marks[0].start() != 0):
        bad.update(block)
        out.anomalies.append(Msg("bloc de sorties incohérent pour les sondes {indices}", indices=str(block)))
        return
    contents = [text[m.end(): marks[k + 1].start() if k + 1 < len(marks) else len(text)]
                for k, m in enumerate(marks)]
    for k, index in enumerate(block):
        files[index] = (contents[2 * k], contents[2 * k + 1])


def _result(probe: Probe, end: tuple[str, str, str], outputs: tuple[bytes, bytes], u0: str,
            started: str) -> ProbeResult:
    rc_text, t0, t1 = end
    try:
        rc: int | None = int(rc_text)
    except ValueError:
        rc = None
    try:
        duration = max(0.0, float(t1) - float(t0))
    except ValueError:
        duration = 0.0
    stdout, t_out = _cap(outputs[0])
    stderr, t_err = _cap(outputs[1])
    timed_out = rc in (124, 137)  # timeout(1): 124 on TERM, 128+9 after -k KILL
    truncated = t_out or t_err or rc == 153  # 128+SIGXFSZ: the output exceeded the file limit
    return ProbeResult(
        key=probe.key, transport=probe.transport, command=probe.command, stdout=stdout, stderr=stderr,
        exit_code=rc, started=_offset(started, u0, t0), duration=duration, truncated=truncated,
        timed_out=timed_out, error=None if rc is not None else "code de sortie illisible",
    )


def _offset(started: str, u0: str, t0: str) -> str:
    """The probe's start: the batch's start plus the host clock's offset since START."""
    try:
        base = datetime.fromisoformat(started)
        return (base + timedelta(seconds=max(0.0, float(t0) - float(u0)))).isoformat(timespec="milliseconds")
    except ValueError:
        return started


def _cap(data: bytes) -> tuple[str, bool]:
    truncated = len(data) > CAP
    return data[:CAP].decode("utf-8", errors="replace"), truncated
