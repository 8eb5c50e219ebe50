"""rsyslog: forwarding of the local logs to a central collector (configuration evidence)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator

from checks._common.text import clip, comma_limited, limited, said
from checks.linux._parse import Dump, DumpedFile, Strip, dump_command, read_dump
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import ssh

MAIN = "/etc/rsyslog.conf"
RSYSLOG_PATHS = (MAIN, "/etc/rsyslog.d/*")
DEFAULT_RULESET = "RSYSLOG_DefaultRuleset"

_ACTION = re.compile(r"\baction\s*\(", re.IGNORECASE)
_RULESET = re.compile(r"\bruleset\s*\(", re.IGNORECASE)
_INCLUDE = re.compile(r"\binclude\s*\(", re.IGNORECASE)
_PARAM = re.compile(r"([A-Za-z][A-Za-z0-9_.]*)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\[[^\]]*\]|[^\s)]+)")
# Legacy forwarding action, as omfwd's parseSelectorAct reads it: @ (udp) or @@ (tcp),
# optional (options), host or [ipv6], optional :port (digits), then ;template.
_LEGACY = re.compile(
    r"(?:^|(?<=[\s&]))(?P<at>@@?)(?P<opts>\([^)]*\))?(?P<host>\[[^\]]*\]|[^\s:;#\[]+)(?::(?P<port>\d*))?"
)
_OMFWD_LEGACY = re.compile(r"(?:^|\s):omfwd:", re.IGNORECASE)
_COMMENTED_FORWARD = re.compile(r"^\s*#.*?(?:\s@@?[\w\[(]|omfwd)", re.IGNORECASE)
# The probe drops ``#`` comment lines and blank lines on the host (a file padded with comments
# cannot push the forward past the output cap), except those that end a ``/* */`` block (rsyslog's
# lexer ends it at the first ``*/``, even after a ``#``) and the commented forwards the evidence
# reports (_COMMENTED_FORWARD, in ERE). Lines inside ``/* */`` blocks are left to :func:`clean`:
# telling them on the host needs rsyslog's lexer (``$IncludeConfig /etc/rsyslog.d/*.conf`` opens none).
STRIP = Strip(keep=r"\*/|^[[:space:]]*#.*([[:space:]]@@?[[:alnum:]_[(]|[oO][mM][fF][wW][dD])")

# --- which messages a rule selects ---------------------------------------------------------------------
#
# rsyslog keeps, for a legacy selector (its « PRI filter »), one 8-bit mask of severities per
# facility: 0-23, and 24 for its internal « mark » (runtime/conf.c, DecodePRIFilter). A selection
# is that tuple of 25 masks. Rules run in order for every message: a ``stop`` (or the legacy ``~``
# discard action, which rsyslog's optimizer turns into a stop) ends the processing of the messages
# its filter selects, so an action after it only sees what is left.

Selection = tuple[int, ...]
_NFACILITIES = 25
EVERYTHING: Selection = (0xFF,) * _NFACILITIES
# Facility and severity names as rsyslog decodes them (runtime/srutils.c, syslogFacNames and
# syslogPriNames; case is ignored).
_FACILITY = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "security": 4, "syslog": 5, "lpr": 6,
             "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "console": 14,
             **{f"local{n}": 16 + n for n in range(8)}, "mark": 24}
_SEVERITY = {"emerg": 0, "panic": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4, "warn": 4,
             "notice": 5, "info": 6, "debug": 7}
_NOPRI, _ALLPRI = -1, 0xFF
# rsyslog's lexer (grammar/lexer.l, case-insensitive): a PRI filter, a property filter.
_PRIFILT = re.compile(r"[ \t]*([*a-z][*a-z]*[0-7]*[.,][,!=;.*a-z0-7]+)", re.IGNORECASE)
_PROPFILT = re.compile(r'[ \t]*:\$?[a-z-]+[ ]*,[ ]*!?[a-z]+[ ]*,[ ]*"[^"]*"', re.IGNORECASE)
_THEN_WORD = re.compile(r"\bthen\b", re.IGNORECASE)
_IF_OR_ELSE = re.compile(r"(?:if|else)\b", re.IGNORECASE)


def _priority(text: str) -> tuple[int, bool, bool] | None:
    """(severity, ``=`` exactly it, ``!`` its negation) of a selector's priority part; None if unknown."""
    ignore = text.startswith("!")
    text = text[1:] if ignore else text
    single = text.startswith("=")
    text = text[1:] if single else text
    if text == "*":
        return _ALLPRI, single, ignore
    if text == "none":
        return _NOPRI, single, ignore
    if text.isdigit():
        value = int(text)
        return (value, single, ignore) if value <= 7 else None
    value = _SEVERITY.get(text, -2)
    return (value, single, ignore) if value >= 0 else None


def decode_selector(text: str) -> Selection | None:
    """The messages a legacy selector (``*.*;auth,authpriv.none``) selects, as rsyslog computes them.

    None when we cannot read it (a name rsyslog does not know, a numeric facility): the caller
    then assumes nothing about what it selects.
    """
    masks = [0] * _NFACILITIES
    text = text.lower()
    i = 0
    while i < len(text):
        dot = text.find(".", i)
        if dot < 0:
            return None
        end = dot + 1
        while end < len(text) and text[end] not in ",;":
            end += 1
        facilities, wanted = text[i:dot], _priority(text[dot + 1:end])
        while end < len(text) and text[end] in ",;":
            end += 1
        i = end
        if wanted is None:
            return None
        pri, single, ignore = wanted
        indexes: list[int] = []
        for name in facilities.split(","):
            if name == "*":
                indexes.extend(range(_NFACILITIES))
            elif name in _FACILITY:
                indexes.append(_FACILITY[name])
            else:
                return None
        for n in indexes:
            if pri == _NOPRI:
                masks[n] = 0xFF if ignore else 0
            elif single:
                masks[n] = masks[n] & ~(1 << pri) if ignore else masks[n] | (1 << pri)
            elif pri == _ALLPRI:
                masks[n] = 0 if ignore else 0xFF
            else:
                bits = (1 << (pri + 1)) - 1
                masks[n] = masks[n] & ~bits if ignore else masks[n] | bits
    return tuple(m & 0xFF for m in masks)


@dataclass
class _Rules:
    """What the statements at the top level of one file select, line by line, and where they stop."""

    filters: dict[int, Selection | None] = field(default_factory=dict)  # line -> selection of its actions
    stops: list[tuple[int, int, Selection]] = field(default_factory=list)  # (position, line, what it stops)


def _rules(cleaned: list[str], masked: str, starts: list[int]) -> _Rules:
    """The filter of each top-level statement line and the stops of one file (comments already blanked).

    Modelled: a legacy selector (its actions on the same line, or on the next line when it stands
    alone), ``&`` (the previous filter's actions go on), a bare statement (every message), and
    ``stop`` or ``~`` as one of those actions. A property filter (``:programname, ...``) and
    ``if ... then`` select messages we cannot name: their stops are not counted (they stop
    *some* messages), and neither is what is inside ``{ }`` (a ruleset, a block) or on a line
    continued with ``\\``: a stop we do not model is never taken for one that ends everything.
    """
    rules = _Rules()
    braces = parens = 0
    last: Selection | None = None  # the filter ``&`` continues
    pending: Selection | None = EVERYTHING  # the filter of a selector standing alone on its line
    has_pending = in_condition = continued = False
    for number, line in enumerate(cleaned, 1):
        start = starts[number - 1]
        text = masked[start:start + len(line)]
        stripped = text.strip()
        top = braces == 0 and parens == 0
        directive = stripped.startswith("$") and not in_condition
        if not directive:
            for c in text:
                braces += (c == "{") - (c == "}")
                parens += (c == "(") - (c == ")")
        follows, continued = continued, stripped.endswith("\\")
        if follows:  # rsyslog joins a line ending with « \ » to the next one: not modelled
            last, has_pending = None, False
            continue
        if not top or directive or not stripped:
            continue
        offset = len(text) - len(text.lstrip())
        selection: Selection | None
        if in_condition:
            then = _THEN_WORD.search(stripped)
            if then is None:
                continue
            in_condition = False
            selection, rest = None, offset + then.end()
        elif stripped.startswith("&"):
            selection, rest = last, offset + 1
        elif _IF_OR_ELSE.match(stripped):
            then = _THEN_WORD.search(stripped)
            if then is None and stripped[:2].lower() == "if":
                in_condition, last, has_pending = True, None, False
                rules.filters[number] = None
                continue
            selection, rest = None, offset + (then.end() if then else 4)
        elif stripped.startswith(":"):
            prop = _PROPFILT.match(text)
            selection, rest = None, prop.end() if prop else len(text)
        elif (pri := _PRIFILT.match(text)) is not None:
            selection, rest = decode_selector(pri.group(1)), pri.end()
        else:
            selection, rest = (pending if has_pending else EVERYTHING), offset
        has_pending = False
        actions = text[rest:]
        rules.filters[number] = last = selection
        if not actions.strip():  # a filter alone: the statement it applies to follows
            pending, has_pending = selection, True
            continue
        if actions.lstrip().startswith("{"):
            continue  # a block: what is inside is not modelled
        position = start + rest
        for part in actions.split("&"):
            if part.strip().lower() in ("stop", "~") and selection is not None:
                rules.stops.append((position + len(part) - len(part.lstrip()), number, selection))
            position += len(part) + 1
    return rules



@dataclass
class Forward:
    """One forwarding action found in a file rsyslog reads."""

    path: str
    line: int
    targets: tuple[str, ...]
    port: str
    protocol: str
    selector: str
    ruleset: str = DEFAULT_RULESET
    note: str | Msg = ""  # why it does not count, if it does not
    doubt: str | Msg = ""  # why we cannot tell whether it works
    selection: Selection | None = None  # the messages its filter selects (None: a condition we do not model)
    partial: str | Msg = ""  # stops before it that leave it only part of the messages

    def describe(self) -> str | Msg:
        where = f"{self.path}:{self.line}"
        targets = ",".join(f"[{t}]" if ":" in t else t for t in self.targets)
        before = f"{where} {self.selector + ' ' if self.selector else ''}→ "
        after = f":{self.port}/{self.protocol}" + (f" (ruleset {self.ruleset})" if self.ruleset != DEFAULT_RULESET else "")
        text: str | Msg = (before + targets + after if targets else
                           Msg("{before}(sans cible){after}", before=before, after=after))
        if self.note or self.doubt:
            return Msg("{text} — {note}", text=text, note=self.note or self.doubt)
        if self.partial:
            return Msg("{text} — en partie arrêté avant par {stops}", text=text, stops=self.partial)
        return text


@dataclass
class Scan:
    forwards: list[Forward] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    unread: list[DumpedFile] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)  # includes rsyslog reads that the probe does not dump
    commented: list[str] = field(default_factory=list)


def clean(lines: list[str]) -> list[str]:
    """Blank out ``#`` and ``/* */`` comments, keeping line structure and quoted strings.

    Legacy ``$Directive`` lines are kept verbatim (rsyslog reads them whole: a path such as
    /etc/rsyslog.d/*.conf must not open a comment).
    """
    out: list[str] = []
    in_block = False
    for line in lines:
        if not in_block and line.lstrip().startswith("$"):
            out.append(line)
            continue
        buf: list[str] = []
        quote: str | None = None
        i = 0
        while i < len(line):
            c = line[i]
            if in_block:
                if line.startswith("*/", i):
                    in_block = False
                    buf.append("  ")
                    i += 2
                else:
                    buf.append(" ")
                    i += 1
                continue
            if quote:
                buf.append(c)
                if c == "\\" and i + 1 < len(line):
                    buf.append(line[i + 1])
                    i += 2
                    continue
                if c == quote:
                    quote = None
                i += 1
                continue
            if c in "\"'":
                quote = c
            elif line.startswith("/*", i):
                in_block = True
                buf.append("  ")
                i += 2
                continue
            elif c == "#" and (i == 0 or line[i - 1] in " \t" or not "".join(buf).strip()):
                break
            buf.append(c)
            i += 1
        out.append("".join(buf))
    return out


def mask_strings(text: str) -> str:
    """Same length as ``text``, with the inside of quoted strings replaced (for structure search)."""
    out = []
    quote: str | None = None
    escaped = False
    for c in text:
        if quote:
            if c == "\n":
                quote = None
                out.append(c)
            elif escaped:
                escaped = False
                out.append("x")
            elif c == "\\":
                escaped = True
                out.append("x")
            elif c == quote:
                quote = None
                out.append(c)
            else:
                out.append("x")
        else:
            if c in "\"'":
                quote = c
            out.append(c)
    return "".join(out)


def _close(masked: str, start: int, open_c: str, close_c: str) -> int:
    """Index of the bracket closing the one at ``start`` (or -1)."""
    depth = 0
    for i in range(start, len(masked)):
        if masked[i] == open_c:
            depth += 1
        elif masked[i] == close_c:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _params(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _PARAM.finditer(text):
        value = m.group(2)
        if value[:1] in "\"'":
            value = value[1:-1]
        out[m.group(1).lower()] = value
    return out


def _array(value: str) -> tuple[str, ...]:
    if value.startswith("["):
        return tuple(v.strip().strip("\"'") for v in value[1:-1].split(",") if v.strip())
    return (value,) if value else ()


_THEN = re.compile(r"\bif\b((?:(?!\bif\b).)*?)\bthen\s*\{?\s*$", re.IGNORECASE | re.DOTALL)


def _enclosing_if(text: str, masked: str, start: int) -> str:
    """The ``if ... then`` right before an action (for the observation), if any."""
    m = _THEN.search(masked, 0, start)
    if not m:
        return ""
    return " ".join(text[m.start():m.end()].rstrip(" \t\n{").split())


@dataclass(frozen=True)
class _Stop:
    selection: Selection  # the messages it ends
    where: str  # path:line and the line, for the evidence


@dataclass
class _Event:
    pos: int
    kind: str  # include | ruleset | forward | stop
    value: object


def _events(f: DumpedFile) -> tuple[list[_Event], list[str]]:
    """Includes, legacy $RuleSet switches and forwarding actions of one file, in order."""
    raw = f.lines or []
    cleaned = clean(raw)
    text = "\n".join(cleaned)
    masked = mask_strings(text)
    starts = [0]
    for line in cleaned:
        starts.append(starts[-1] + len(line) + 1)

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    rules = _rules(cleaned, masked, starts)
    events: list[_Event] = []
    commented = [f"{f.path}:{n} {clip(line.strip(), 80)}" for n, line in f.numbered()
                 if _COMMENTED_FORWARD.match(line)]
    blocks: list[tuple[int, int, str]] = []  # ruleset { } spans
    object_spans: list[tuple[int, int]] = []
    for m in _RULESET.finditer(masked):
        end = _close(masked, m.end() - 1, "(", ")")
        if end < 0:
            continue
        name = _params(text[m.end():end]).get("name", "?")
        object_spans.append((m.start(), end))
        rest = masked[end + 1:]
        brace = len(rest) - len(rest.lstrip())
        if rest[brace:brace + 1] == "{":
            open_at = end + 1 + brace
            close_at = _close(masked, open_at, "{", "}")
            blocks.append((open_at, close_at if close_at >= 0 else len(masked), name))
    for m in _INCLUDE.finditer(masked):
        end = _close(masked, m.end() - 1, "(", ")")
        if end < 0:
            continue
        object_spans.append((m.start(), end))
        params = _params(text[m.end():end])
        path = params.get("file")
        if path:
            events.append(_Event(m.start(), "include", path))
        elif "text" in params:  # configuration text given inline: not read here
            events.append(_Event(m.start(), "include", f"include(text=\"{clip(params['text'], 60)}\")"))
    for m in _ACTION.finditer(masked):
        end = _close(masked, m.end() - 1, "(", ")")
        if end < 0:
            continue
        object_spans.append((m.start(), end))
        params = _params(text[m.end():end])
        if params.get("type", "").lower() != "omfwd":
            continue
        ruleset = next((name for a, b, name in blocks if a < m.start() < b), None)
        line_start = starts[line_of(m.start()) - 1]
        selector = " ".join(text[line_start:m.start()].split()) or _enclosing_if(text, masked, m.start())
        protocol = params.get("protocol", "udp").lower()
        target = params.get("target", "")
        fwd = Forward(f.path, f.number(line_of(m.start()) - 1), _array(target), params.get("port", "514"),
                      protocol, selector, ruleset or "", selection=rules.filters.get(line_of(m.start())))
        if target.startswith("["):
            fwd.doubt = Msg("liste de cibles : acceptée seulement par rsyslog 8.2410 et suivants")
        events.append(_Event(m.start(), "forward", fwd))
    for number, line in enumerate(cleaned, 1):
        pos = starts[number - 1]
        stripped = line.strip()
        if stripped.startswith("$"):
            words = stripped.split()
            directive = words[0].lower()
            if directive == "$includeconfig" and len(words) > 1:
                path = words[1]
                events.append(_Event(pos, "include", path))
            elif directive == "$ruleset" and len(words) > 1:
                events.append(_Event(pos, "ruleset", words[1]))
            continue
        masked_line = masked[pos:pos + len(line)]
        if _OMFWD_LEGACY.search(masked_line):
            fwd = Forward(f.path, f.number(number - 1), (), "?", "?", stripped, "",
                          note=Msg("syntaxe « :omfwd: » refusée par rsyslog (seuls @ et @@ sont reconnus)"))
            events.append(_Event(pos, "forward", fwd))
            continue
        for m in _LEGACY.finditer(masked_line):
            absolute = pos + m.start()
            if any(a <= absolute <= b for a, b in object_spans):
                continue  # an @ inside action(...), include(...), ruleset(...)
            host = text[pos + m.start("host"):pos + m.end("host")]
            port = m.group("port")
            note: str | Msg = ""
            if port == "":
                note = Msg("port vide")
            ruleset = next((name for a, b, name in blocks if a < absolute < b), "")
            fwd = Forward(f.path, f.number(number - 1), (host[1:-1] if host.startswith("[") else host,),
                          port if port is not None else "514", "tcp" if m.group("at") == "@@" else "udp",
                          " ".join(line[:m.start()].split()), ruleset, note=note,
                          selection=rules.filters.get(number))
            events.append(_Event(absolute, "forward", fwd))
    for pos, number, selection in rules.stops:
        events.append(_Event(pos, "stop", _Stop(selection, f"{f.path}:{f.number(number - 1)} "
                                                      f"{clip(raw[number - 1].strip(), 60)}")))
    events.sort(key=lambda e: e.pos)
    return events, commented


def _matches(pattern: str, path: str) -> bool:
    return pattern.count("/") == path.count("/") and fnmatch.fnmatchcase(path, pattern)


RSYSLOG_D = "/etc/rsyslog.d"


def _include_pattern(path: str) -> str:
    """What rsyslog globs for an include: a directory (``/etc/rsyslog.d/``, or ``/etc/rsyslog.d``,
    which its ``stat`` finds to be one) stands for every file in it."""
    if path.endswith("/"):
        return path + "*"
    return path + "/*" if path == RSYSLOG_D else path


def _dumped_by_the_probe(pattern: str) -> bool:
    """Whether every file the include can name is in the dump (rsyslog.conf, or /etc/rsyslog.d/<name>,
    a name the probe's shell glob lists: not a dot file)."""
    if pattern == MAIN:
        return True
    directory, _, name = pattern.rpartition("/")
    return directory == RSYSLOG_D and bool(name) and not name.startswith(".")


def _all_stopped(stops: list[str]) -> Msg:
    return Msg("arrêté avant par {stops} : aucun message ne lui parvient", stops=comma_limited(stops, 200))


def scan(dump: Dump) -> Scan:
    """Walk the configuration as rsyslog does: rsyslog.conf, then includes where they appear.

    Along the way, the messages each ruleset still processes (every message, less what a ``stop``
    before has ended) tell which forwards receive anything; an include the probe did not dump makes
    the forwards after it uncertain (it may stop messages or change the ruleset).
    """
    result = Scan()
    main = dump.get(MAIN)
    if main is None or main.lines is None:
        return result
    dumped = [f for f in dump.files if f.lines is not None]
    others = [f for f in dump.files if f.lines is None]  # directories, links to them: rsyslog reads into them
    visited: set[str] = set()
    state = {"ruleset": DEFAULT_RULESET}
    remaining: dict[str, Selection] = {}
    stoppers: dict[str, list[str]] = {}

    def unread(what: str) -> None:
        if what not in result.outside:
            result.outside.append(what)

    def walk(f: DumpedFile) -> None:
        if f.path in visited:
            return
        visited.add(f.path)
        result.read.append(f.path)
        events, commented = _events(f)
        result.commented += commented
        for e in events:
            if e.kind == "ruleset":
                state["ruleset"] = str(e.value)
            elif e.kind == "include":
                pattern = _include_pattern(str(e.value))
                if not _dumped_by_the_probe(pattern):
                    unread(str(e.value))
                for g in others:
                    if _matches(pattern, g.path):
                        unread(g.path)
                for g in sorted((g for g in dumped if _matches(pattern, g.path)), key=lambda g: g.path):
                    walk(g)
            elif e.kind == "stop":
                assert isinstance(e.value, _Stop)
                selection, where = e.value.selection, e.value.where
                before = remaining.get(state["ruleset"], EVERYTHING)
                after = tuple(a & ~b for a, b in zip(before, selection, strict=True))
                if after != before:
                    remaining[state["ruleset"]] = after
                    stoppers.setdefault(state["ruleset"], []).append(where)
            else:
                fwd = e.value
                assert isinstance(fwd, Forward)
                if not fwd.ruleset:
                    fwd.ruleset = state["ruleset"]
                _reached(fwd, remaining.get(fwd.ruleset, EVERYTHING), stoppers.get(fwd.ruleset, []))
                if result.outside and not fwd.doubt:
                    fwd.doubt = Msg("inclusion non lue avant ce transfert ({paths}) : elle peut arrêter les "
                                    "messages ou changer de ruleset", paths=comma_limited(result.outside, 200))
                result.forwards.append(fwd)

    walk(main)
    result.unread = [f for f in dumped if f.path not in visited]
    return result


def _reached(fwd: Forward, remaining: Selection, stops: list[str]) -> None:
    """Say on ``fwd`` what reaches it: nothing (its selector selects nothing, or stops before ended
    every message it selects), or only part of what it selects."""
    if fwd.note:
        return
    if fwd.selection is not None and not any(fwd.selection):
        fwd.note = Msg("son sélecteur ne sélectionne aucun message")
        return
    wanted = fwd.selection or EVERYTHING
    reach = tuple(a & b for a, b in zip(wanted, remaining, strict=True))
    if not any(reach):
        fwd.note = _all_stopped(stops)
    elif reach != wanted:
        fwd.partial = comma_limited(stops, 200)


def _same_target(expected: str, actual: str) -> bool:
    return expected.strip("[]").lower() == actual.strip("[]").lower()


def _same_port(expected: int, actual: str) -> bool:
    return actual == str(expected) or (actual.lower() == "syslog" and expected == 514)


class RsyslogForward(Check):
    """Les journaux sont transférés par rsyslog vers {target}:{port}/{protocol}.

    Configuration evidence: the forwarding action is present in a file rsyslog reads
    (/etc/rsyslog.conf and the files it includes, e.g. /etc/rsyslog.d/*.conf only — a
    ``.conf.bak`` file is not read). Legacy ``*.* @host:port`` (@ = udp, @@ = tcp, port 514 by
    default, ``@[ipv6]:port``, ``;template``) and RainerScript ``action(type="omfwd" ...)``
    (also inside ``if ... then``) are recognised; commented lines and ``/* */`` blocks are
    not. The ``:omfwd:`` prefix is not a syntax rsyslog accepts (``rsyslogd -N1`` rejects
    it) and does not count. Rules run in order (included files where the include stands, in
    lexical order): a forward counts only if some messages still reach it. Its selector must
    select something (``*.none``, ``auth,authpriv.none`` select nothing), and a ``stop`` or the
    legacy ``~`` before it, on a selector (``*.* stop``, ``& stop`` after ``*.* /var/log/x``) or
    unconditional, removes the messages it selects; one that leaves none makes the forward not
    count, one that leaves some is said in the evidence. Stops under a property filter or an
    ``if`` (one program's messages) or inside ``{ }`` are not counted. Cases reported as
    "cannot tell" (erreur): an action inside a named ruleset (it only runs if that ruleset is
    used), a list of targets (``target=[...]``, accepted only from rsyslog 8.2410: Debian 12
    and RHEL 9 refuse it), and an include the probe does not dump (another directory, a
    subdirectory, ``include(text=...)``) before the forward, or anywhere when no forward is
    found. This does not prove that messages arrive: the end-to-end proof (a line received by
    the collector) is a separate check. The host drops ``#`` comment lines and blank lines
    before the output cap (see ``STRIP``: a file padded with them is still read whole; line
    numbers are the file's own); ``/* */`` blocks are not dropped there.
    """

    id = "linux.rsyslog_forward"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        target: str
        port: int = Field(default=514, ge=1, le=65535)
        protocol: Literal["udp", "tcp"] = "udp"

        @field_validator("target")
        @classmethod
        def _target(cls, value: str) -> str:
            if not re.fullmatch(r"\[?[A-Za-z0-9_.:%-]+\]?", value):
                raise ValueError("cible invalide (nom d'hôte ou adresse IP)")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"rsyslog": ssh(dump_command(RSYSLOG_PATHS, strip=STRIP))}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["rsyslog"]
        expected = Msg("transfert vers {target}:{port}/{protocol}", target=params.target, port=params.port,
                       protocol=params.protocol)
        dump = read_dump(r, expected)
        if isinstance(dump, Verdict):
            return dump
        if MAIN in dump.absent:
            return Verdict.non_conforme(Msg("{path} absent", path=MAIN), expected, Msg("rsyslog n'est pas configuré sur cet hôte."))
        result = scan(dump)
        if not result.read:
            return Verdict.erreur(Msg("{path} illisible", path=MAIN), observed=clip(r.stdout), expected=expected)
        found = [
            f for f in result.forwards
            if not f.note and any(_same_target(params.target, t) for t in f.targets)
            and _same_port(params.port, f.port) and f.protocol == params.protocol
        ]
        active = [f for f in found if f.ruleset == DEFAULT_RULESET and not f.doubt]
        observed_items = [f.describe() for f in (active or result.forwards)]
        if active:
            return Verdict.conforme(said(limited(observed_items)), expected,
                                    Msg("rsyslog est configuré pour transférer vers {target}.", target=params.target))
        if found:
            why = found[0].doubt or (
                Msg("le transfert est défini dans un ruleset nommé : il ne s'applique que si ce ruleset est utilisé"))
            return Verdict.erreur(why, observed=said(limited([f.describe() for f in found])), expected=expected)
        if r.truncated or any(not f.complete for f in dump.files if f.lines is not None):
            return Verdict.erreur(Msg("sortie tronquée : la configuration n'a pas été lue en entier"),
                                  expected=expected)
        extra: list[Msg] = []
        for f in result.unread:
            for event in _events(f)[0]:
                if isinstance(event.value, Forward):
                    extra.append(Msg("non lu par rsyslog : {forward}", forward=event.value.describe()))
        if result.commented:
            extra.append(Msg("commenté : {lines}", lines=comma_limited(result.commented, 200)))
        items = [f.describe() for f in result.forwards] + extra
        observed = said(limited(items)) if items else Msg("aucun transfert configuré")
        if result.outside:
            return Verdict.erreur(Msg("inclusion non lue par la sonde : {paths} ; le transfert peut s'y trouver",
                                      paths=comma_limited(result.outside, 200)), observed=observed, expected=expected)
        return Verdict.non_conforme(observed, expected, Msg(
            "Aucun transfert actif vers {target}:{port}/{protocol} dans la configuration lue par rsyslog.",
            target=params.target, port=params.port, protocol=params.protocol))
