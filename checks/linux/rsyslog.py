"""rsyslog: forwarding of the local logs to a central collector (configuration evidence)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator

from checks._common.text import clip, comma_limited, limited, said
from checks.linux._parse import Dump, DumpedFile, dump_command, read_dump
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

    def describe(self) -> str | Msg:
        where = f"{self.path}:{self.line}"
        targets = ",".join(f"[{t}]" if ":" in t else t for t in self.targets)
        before = f"{where} {self.selector + ' ' if self.selector else ''}→ "
        after = f":{self.port}/{self.protocol}" + (f" (ruleset {self.ruleset})" if self.ruleset != DEFAULT_RULESET else "")
        text: str | Msg = (before + targets + after if targets else
                           Msg("{before}(sans cible){after}", before=before, after=after))
        if self.note or self.doubt:
            return Msg("{text} — {note}", text=text, note=self.note or self.doubt)
        return text


@dataclass
class Scan:
    forwards: list[Forward] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    unread: list[DumpedFile] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)  # include patterns we did not dump
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


@dataclass
class _Event:
    pos: int
    kind: str  # include | ruleset | forward
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

    events: list[_Event] = []
    commented = [f"{f.path}:{n} {clip(line.strip(), 80)}" for n, line in enumerate(raw, 1)
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
        path = _params(text[m.end():end]).get("file")
        if path:
            events.append(_Event(m.start(), "include", path))
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
        fwd = Forward(f.path, line_of(m.start()), _array(target), params.get("port", "514"),
                      protocol, selector, ruleset or "")
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
                events.append(_Event(pos, "include", path + "*" if path.endswith("/") else path))
            elif directive == "$ruleset" and len(words) > 1:
                events.append(_Event(pos, "ruleset", words[1]))
            continue
        masked_line = masked[pos:pos + len(line)]
        if _OMFWD_LEGACY.search(masked_line):
            fwd = Forward(f.path, number, (), "?", "?", stripped, "",
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
            fwd = Forward(f.path, number, (host[1:-1] if host.startswith("[") else host,),
                          port if port is not None else "514", "tcp" if m.group("at") == "@@" else "udp",
                          " ".join(line[:m.start()].split()), ruleset, note=note)
            events.append(_Event(absolute, "forward", fwd))
    events.sort(key=lambda e: e.pos)
    return events, commented


def _matches(pattern: str, path: str) -> bool:
    return pattern.count("/") == path.count("/") and fnmatch.fnmatchcase(path, pattern)


def scan(dump: Dump) -> Scan:
    """Walk the configuration as rsyslog does: rsyslog.conf, then includes where they appear."""
    result = Scan()
    main = dump.get(MAIN)
    if main is None or main.lines is None:
        return result
    dumped = [f for f in dump.files if f.lines is not None]
    visited: set[str] = set()
    state = {"ruleset": DEFAULT_RULESET}

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
                pattern = str(e.value)
                included = sorted((g for g in dumped if _matches(pattern, g.path)), key=lambda g: g.path)
                if not pattern.startswith("/etc/rsyslog.d/") and pattern != MAIN:
                    result.outside.append(pattern)
                for g in included:
                    walk(g)
            else:
                fwd = e.value
                assert isinstance(fwd, Forward)
                if not fwd.ruleset:
                    fwd.ruleset = state["ruleset"]
                result.forwards.append(fwd)

    walk(main)
    result.unread = [f for f in dumped if f.path not in visited]
    return result


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
    it) and does not count. Two cases are reported as "cannot tell" (erreur): an action
    inside a named ruleset (it only runs if that ruleset is used), and a list of targets
    (``target=[...]``, accepted only from rsyslog 8.2410: Debian 12 and RHEL 9 refuse it). This does not prove that messages arrive: the end-to-end proof
    (a line received by the collector) is a separate check.
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
        return {"rsyslog": ssh(dump_command(RSYSLOG_PATHS))}

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
        if result.outside:
            extra.append(Msg("inclusions non examinées : {paths}", paths=", ".join(result.outside)))
        if result.commented:
            extra.append(Msg("commenté : {lines}", lines=comma_limited(result.commented, 200)))
        items = [f.describe() for f in result.forwards] + extra
        observed = said(limited(items)) if items else Msg("aucun transfert configuré")
        return Verdict.non_conforme(observed, expected, Msg(
            "Aucun transfert actif vers {target}:{port}/{protocol} dans la configuration lue par rsyslog.",
            target=params.target, port=params.port, protocol=params.protocol))
