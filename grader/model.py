"""The records every part of grader shares: statuses, probes, probe results, verdicts.

A check never runs anything. It *declares* probes (what to collect) and judges their
results with a pure function. The engine deduplicates the probes of all checks of a host,
sends them in one round trip per transport, and hands each check the results it asked for.
Keeping these records small and frozen is what lets the store, the reports and `rejudge`
treat evidence as plain data.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """One verdict per check and per host. "We could not tell" is never "the candidate failed"."""

    CONFORME = "conforme"
    NON_CONFORME = "non_conforme"
    ERREUR = "erreur"  # could not evaluate (probe timed out, broken output, judge crashed)
    INJOIGNABLE = "injoignable"  # host unreachable or authentication refused
    NON_EVALUE = "non_evalue"  # not run (dependency missing, interrupted, filtered out)

    @property
    def conclusive(self) -> bool:
        """A conclusive status needs no rerun: the fact was observed one way or the other."""
        return self in (Status.CONFORME, Status.NON_CONFORME)


@dataclass(frozen=True)
class Probe:
    """A command to collect, declared by a check and executed by a transport.

    :param transport: ``ssh`` (run on the candidate host in the batch envelope) or ``http``
        (a request sent by the grader itself: functional proof from the grader's side).
    :param command: for ``ssh`` a POSIX sh command using absolute paths only; for ``http``
        the URL.
    :param timeout: seconds the probe may run before it is killed (then the check is ``erreur``).
    :param active: True when the probe causes an effect on the host (a test connection, a log
        line); active probes are listed as such in the evidence.
    """

    transport: str
    command: str
    timeout: float = 10.0
    active: bool = False

    @property
    def key(self) -> str:
        """Stable identity: two checks asking for the same command share one execution."""
        digest = hashlib.sha256(f"{self.transport}\0{self.command}".encode()).hexdigest()
        return f"{self.transport}-{digest[:12]}"


@dataclass(frozen=True)
class ProbeResult:
    """What came back for one probe. ``stdout``/``stderr`` are already capped (see ``truncated``)."""

    key: str
    transport: str
    command: str
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    started: str = ""  # ISO 8601 UTC
    duration: float = 0.0
    truncated: bool = False
    timed_out: bool = False
    error: str | None = None  # why the probe produced no usable result (framing lost, ...); French
    error_ref: Msg | None = field(default=None, compare=False)  # ``error`` by reference (said in other languages)
    stderr_ref: Msg | None = field(default=None, compare=False)  # ``stderr`` by reference: a grader-side channel's words
    stdout_ref: Msg | None = field(default=None, compare=False)  # ``stdout`` by reference: a grader-side channel's words

    def __post_init__(self) -> None:
        keep_refs(self, "error", "stderr", "stdout")

    @property
    def ok(self) -> bool:
        """The probe ran to completion (whatever its exit code) and its output is trustworthy."""
        return self.error is None and not self.timed_out


_SCALARS = (str, int, float, bool, type(None))
#: How the items of a list value are joined, per language (French typography by default).
LIST_SEPARATORS = {"fr": " ; ", "en": "; "}


def _value(value: Any) -> Any:
    """A message value as kept: a scalar, a :class:`Msg`, a tuple of those; anything else as its ``str``."""
    if isinstance(value, (*_SCALARS, Msg)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(v if isinstance(v, (*_SCALARS, Msg)) else str(v) for v in value)
    return str(value)


@dataclass(frozen=True, init=False)
class Msg:
    """A message the jury reads, by reference: its French template and the values that fill it.

    ``Msg("Le paquet {package} n'est pas installé.", package=name)``. The French template is the
    msgid of the ``checks`` gettext domain (:mod:`grader.i18n_checks`), so a report in English
    can say the same thing from the catalogue, while the store keeps the French text as well.
    Candidate data only ever goes in the values, and the template names every field
    (``{package}``: no positional, attribute or index fields), so a value can never be read as
    a format. A value is a scalar, another :class:`Msg` (a part said in the same language) or
    a list of those (joined with the language's :data:`LIST_SEPARATORS`); anything else is kept
    as its ``str``.
    """

    id: str
    args: dict[str, Any]

    def __init__(self, id: str, /, **args: Any) -> None:
        for _, name, _, _ in string.Formatter().parse(id):
            if name is not None and not name.isidentifier():
                raise ValueError(f"Msg template field {name!r} is not a plain name: {id!r}")
            if name is not None and name not in args:
                raise ValueError(f"Msg template field {name!r} has no value: {id!r}")
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "args", {k: _value(v) for k, v in args.items()})

    def render(self, translate: Callable[[str], str | None] | None = None, lang: str = "fr") -> str:
        """The text in French, or through ``translate`` (French template -> ``lang`` one).

        :raises LookupError: ``translate`` has no text for this message or one of its parts.
        """
        template = self.id
        if translate is not None:
            found = translate(self.id)
            if found is None:
                raise LookupError(self.id)
            template = found

        def show(value: Any) -> Any:
            if isinstance(value, Msg):
                return value.render(translate, lang)
            if isinstance(value, tuple):
                return LIST_SEPARATORS.get(lang, " ; ").join(str(show(v)) for v in value)
            return value

        return template.format_map({k: show(v) for k, v in self.args.items()})

    def __str__(self) -> str:
        return self.render()

    def to_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Msg):
                return value.to_json()
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            return value

        return {"id": self.id, "args": {k: plain(v) for k, v in self.args.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Msg:
        def value(raw: Any) -> Any:
            if isinstance(raw, Mapping):
                return cls.from_json(raw)
            if isinstance(raw, list):
                return tuple(value(v) for v in raw)
            return raw

        return cls(str(data["id"]), **{str(k): value(v) for k, v in dict(data.get("args") or {}).items()})


@dataclass(frozen=True)
class Verdict:
    """A judge's answer: one status, what was observed, what was expected, and why.

    ``message``, ``observed`` and ``expected`` may each be given as a :class:`Msg`: the verdict
    then holds the French text in the field (what every consumer reads and the store keeps) and
    the reference in ``message_ref`` / ``observed_ref`` / ``expected_ref``, which lets a report
    say it in another language. The references take no part in comparisons: two verdicts saying
    the same thing are equal.
    """

    status: Status
    observed: str = ""
    expected: str = ""
    message: str = ""
    message_ref: Msg | None = field(default=None, compare=False)
    observed_ref: Msg | None = field(default=None, compare=False)
    expected_ref: Msg | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        keep_refs(self, "message", "observed", "expected")

    @classmethod
    def conforme(cls, observed: str | Msg = "", expected: str | Msg = "", message: str | Msg = "") -> Verdict:
        return cls(Status.CONFORME, observed, expected, message)  # type: ignore[arg-type]

    @classmethod
    def non_conforme(cls, observed: str | Msg = "", expected: str | Msg = "", message: str | Msg = "") -> Verdict:
        return cls(Status.NON_CONFORME, observed, expected, message)  # type: ignore[arg-type]

    @classmethod
    def erreur(cls, message: str | Msg, observed: str | Msg = "", expected: str | Msg = "") -> Verdict:
        return cls(Status.ERREUR, observed, expected, message)  # type: ignore[arg-type]


@dataclass(frozen=True)
class HostOutcome:
    """How reaching a host went, independent of any check."""

    reached: bool
    reason: str = ""  # French, plain words, when not reached
    host_key: str = ""  # e.g. "ssh-ed25519 SHA256:..."
    anomalies: tuple[str, ...] = ()  # text the host printed outside the envelope, etc. (French)
    execs: int = 0  # remote executions used (the batching contract: 1 per transport)
    status: Status = Status.CONFORME  # INJOIGNABLE or ERREUR when not reached
    extra: dict[str, str] = field(default_factory=dict)
    reason_ref: Msg | None = field(default=None, compare=False)  # ``reason`` by reference (said in other languages)
    anomaly_refs: tuple[Msg | None, ...] = field(default=(), compare=False)  # each anomaly by reference, or None
    host_key_ref: Msg | None = field(default=None, compare=False)  # ``host_key`` by reference, when it has words

    def __post_init__(self) -> None:
        """``reason``, ``host_key`` and the ``anomalies`` may be given as :class:`Msg`: French text kept, reference beside it."""
        keep_refs(self, "reason", "host_key")
        if any(isinstance(a, Msg) for a in self.anomalies):
            object.__setattr__(self, "anomaly_refs", tuple(a if isinstance(a, Msg) else None for a in self.anomalies))
            object.__setattr__(self, "anomalies", tuple(str(a) for a in self.anomalies))


def keep_refs(record: Any, *names: str) -> None:
    """Fields of ``record`` given as a :class:`Msg`: the French text in the field (what every consumer
    reads and the store keeps), the reference in ``<name>_ref`` (what a report in another language
    re-renders). Works on frozen dataclasses too (called from ``__post_init__``)."""
    for name in names:
        value = getattr(record, name)
        if isinstance(value, Msg):
            object.__setattr__(record, f"{name}_ref", value)
            object.__setattr__(record, name, value.render())


def said_as_read(text: str, ref: Msg | None) -> str | Msg:
    """``text`` by its reference when that says exactly the same French text (a value for a :class:`Msg`,
    said in the report's language), else ``text`` as read: e.g. ``said_as_read(r.stderr.strip(), r.stderr_ref)``
    for what a grader-side channel wrote in a probe's stderr."""
    return ref if ref is not None and ref.render() == text else text
