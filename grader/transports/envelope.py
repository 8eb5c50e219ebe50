"""The batch envelope: many probes, one remote exec, results nobody on the host can forge.

Why it exists: one SSH exec per check costs a round trip each (50 ms with paramiko's
defaults); one exec per host makes the cost of a run grow with hosts, not with checks.
The envelope is a POSIX sh script sent on the exec's stdin. It runs every probe

* in its own subshell, under ``/usr/bin/timeout`` (per-probe budget, then KILL);
* in a clean environment: the exec command is ``/usr/bin/env -i PATH=<system dirs> LC_ALL=C
  /bin/sh -c ...`` so no alias, function, PATH entry or profile of the login account applies
  (the login shell only ever sees absolute paths, and anything it prints lands *before* the
  first frame, where it is recorded as an anomaly);
* with stdin from /dev/null, stdout and stderr written to a private temporary directory
  (mode 0700, removed on exit, 16 MiB file-size limit) and sent back capped at ``CAP`` bytes
  (+1 to detect truncation);

and frames each result with a random per-run boundary (128 bits) that candidate-controlled
data cannot guess::

    <B> START
    <B> O <index>\\n<stdout>\\n<B> E <index> <rc> <t0> <t1>\\n<stderr>\\n<B> X <index>
    ...
    <B> END

The parser accepts a probe's result only if its O, E and X frames are all present, in
order, with the same index; anything else is an ``error`` on that probe (``erreur``, never a
verdict). Text outside frames is kept as anomalies. Threat model: this defeats aliases, PATH
tricks, rc-file output and forged text in files; it does not defend against a candidate who
replaced /bin/sh or /usr/bin/timeout themselves (root on their own VM can do that) — such a
host is beyond any remote grader, and functional probes from the grader's side are the
counter-measure.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from grader.model import Probe, ProbeResult

CAP = 64 * 1024
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
FILE_LIMIT_BLOCKS = 32768  # 16 MiB in 512-byte blocks: beyond it the probe gets SIGXFSZ

# Prefer bash when present, only for $EPOCHREALTIME (per-probe timing); the script is POSIX.
_SHELL_PICKER = "if [ -x /bin/bash ]; then exec /bin/bash --noprofile --norc -s; fi; exec /bin/sh -s"


def remote_command(*, sudo: bool = False) -> str:
    """The one command line given to sshd. Only absolute paths: nothing the login shell's rc
    files define (aliases, functions, PATH) can stand in for it."""
    clean = f"/usr/bin/env -i PATH={SYSTEM_PATH} LC_ALL=C /bin/sh -c '{_SHELL_PICKER}'"
    return f"/usr/bin/sudo -n -- {clean}" if sudo else clean


@dataclass(frozen=True)
class Envelope:
    """A rendered batch: the script to send and what is needed to read the answer."""

    boundary: str
    script: str
    probes: tuple[Probe, ...]


def build(probes: Sequence[Probe], *, boundary: str | None = None) -> Envelope:
    """Render the script for already-deduplicated probes (order kept, index = position)."""
    b = boundary or "GRADER-" + secrets.token_hex(16)
    lines = [
        "set -u",
        "umask 077",
        f"ulimit -f {FILE_LIMIT_BLOCKS} 2>/dev/null",  # a flooding probe cannot fill the disk
        f"B={b}",
        'T=$(/usr/bin/mktemp -d 2>/dev/null || /bin/mktemp -d 2>/dev/null) || { printf "%s FATAL mktemp\\n" "$B"; exit 0; }',
        "trap '/bin/rm -rf \"$T\"' EXIT",
        "trap 'exit 130' HUP INT TERM",
        "now() { R=${EPOCHREALTIME:-}; }",
        # p INDEX TIMEOUT COMMAND: outputs go to private files first (no pipe, so a capped
        # output never turns into SIGPIPE and a changed exit code), then are sent capped.
        "p() {",
        '  printf "%s O %s\\n" "$B" "$1"; now; s=$R',
        '  /usr/bin/timeout -k 2 "$2" /bin/sh -c "$3" </dev/null >"$T/o" 2>"$T/e"',
        '  rc=$?; now',
        f'  if [ -s "$T/o" ]; then /usr/bin/head -c {CAP + 1} "$T/o"; fi',
        '  printf "\\n%s E %s %s %s %s\\n" "$B" "$1" "$rc" "$s" "$R"',
        f'  if [ -s "$T/e" ]; then /usr/bin/head -c {CAP + 1} "$T/e"; fi',
        '  printf "\\n%s X %s\\n" "$B" "$1"',
        "}",
        'printf "%s START\\n" "$B"',
    ]
    for index, probe in enumerate(probes):
        timeout = f"{max(probe.timeout, 0.1):g}"
        lines.append(f"p {index} {timeout} {_sh_quote(probe.command)}")
    lines.append('printf "%s END\\n" "$B"')
    return Envelope(b, "\n".join(lines) + "\n", tuple(probes))


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass
class Parsed:
    """The envelope's answer: one result per probe key, plus what did not belong."""

    results: dict[str, ProbeResult] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)
    complete: bool = False  # START and END seen


def parse(envelope: Envelope, raw: bytes, *, started: str = "") -> Parsed:
    """Read the framed output. Never trusts a frame whose boundary or order is wrong."""
    b = envelope.boundary.encode()
    out = Parsed()
    frame = re.compile(rb"^" + re.escape(b) + rb" (START|END|FATAL|O|E|X)(?: (.*))?$")
    # Split keeping the line structure: every frame line starts at the beginning of a line.
    pieces = re.split(rb"(?m)^(" + re.escape(b) + rb" [^\n]*)\n?", raw)
    # pieces = [text, frame, text, frame, text, ...]
    state: dict[str, object] = {}
    seen_start = False
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            if piece.strip() or (piece and state.get("expect") in ("stdout", "stderr")):
                _text(out, state, piece, seen_start)
            continue
        m = frame.match(piece)
        if not m:
            out.anomalies.append(f"ligne de cadre illisible : {piece[:120]!r}")
            continue
        kind, arg = m.group(1).decode(), (m.group(2) or b"").decode(errors="replace")
        if kind == "START":
            seen_start = True
        elif kind == "FATAL":
            out.anomalies.append(f"l'enveloppe n'a pas pu démarrer : {arg}")
        elif kind == "END":
            out.complete = seen_start
        elif kind == "O":
            state = {"index": arg, "expect": "stdout", "stdout": b"", "stderr": b""}
        elif kind == "E":
            fields = arg.split(" ")
            if state.get("index") != fields[0] or state.get("expect") != "stdout":
                out.anomalies.append(f"cadre E inattendu pour la sonde {fields[0]}")
                state = {}
                continue
            state.update(expect="stderr", rc=fields[1] if len(fields) > 1 else "",
                         t0=fields[2] if len(fields) > 2 else "", t1=fields[3] if len(fields) > 3 else "")
        elif kind == "X":
            if state.get("index") != arg or state.get("expect") != "stderr":
                out.anomalies.append(f"cadre X inattendu pour la sonde {arg}")
                state = {}
                continue
            _finish(out, envelope, state, started)
            state = {}
    for index, probe in enumerate(envelope.probes):
        if probe.key not in out.results:
            out.results[probe.key] = ProbeResult(
                key=probe.key, transport=probe.transport, command=probe.command, started=started,
                error="résultat absent de l'enveloppe (sortie interrompue ou falsifiée)",
            )
    return out


def _text(out: Parsed, state: dict[str, object], piece: bytes, seen_start: bool) -> None:
    expect = state.get("expect")
    if expect in ("stdout", "stderr"):
        state[expect] = bytes(state[expect]) + piece  # type: ignore[arg-type]
    else:
        where = "avant l'enveloppe" if not seen_start else "hors cadre"
        out.anomalies.append(f"texte {where} : {piece[:300].decode(errors='replace')!r}")


def _cap(data: bytes) -> tuple[str, bool]:
    # The envelope printed one "\n" before the closing frame: remove exactly that one.
    if data.endswith(b"\n"):
        data = data[:-1]
    truncated = len(data) > CAP
    return data[:CAP].decode("utf-8", errors="replace"), truncated


def _finish(out: Parsed, envelope: Envelope, state: dict[str, object], started: str) -> None:
    try:
        probe = envelope.probes[int(str(state["index"]))]
    except (ValueError, IndexError):
        out.anomalies.append(f"index de sonde inconnu : {state.get('index')!r}")
        return
    stdout, t_out = _cap(bytes(state["stdout"]))  # type: ignore[arg-type]
    stderr, t_err = _cap(bytes(state["stderr"]))  # type: ignore[arg-type]
    try:
        rc: int | None = int(str(state.get("rc")))
    except ValueError:
        rc = None
    try:
        duration = max(0.0, float(str(state["t1"])) - float(str(state["t0"])))
    except (KeyError, ValueError):
        duration = 0.0
    timed_out = rc in (124, 137)  # timeout(1): 124 on TERM, 128+9 after -k KILL
    truncated = t_out or t_err or rc == 153  # 128+SIGXFSZ: the output exceeded the file limit
    out.results[probe.key] = ProbeResult(
        key=probe.key, transport=probe.transport, command=probe.command,
        stdout=stdout, stderr=stderr, exit_code=rc, started=started, duration=duration,
        truncated=truncated, timed_out=timed_out,
        error=None if rc is not None else "code de sortie illisible",
    )
