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
from typing import Any, Self, overload


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


def ref_of(text: object) -> Msg | None:
    """The reference a text carries: the :class:`Msg` itself, or None for plain text."""
    return text if isinstance(text, Msg) else None


class RefOf:
    """A record's ``<field>_ref``: the reference its :data:`Text` field carries, or None for plain text.

    A view, not a second field: the text and its reference can never disagree.
    """

    def __init__(self, field_name: str) -> None:
        self.field_name = field_name

    @overload
    def __get__(self, record: None, owner: type) -> RefOf: ...

    @overload
    def __get__(self, record: object, owner: type | None = None) -> Msg | None: ...

    def __get__(self, record: object, owner: type | None = None) -> RefOf | Msg | None:
        return self if record is None else ref_of(getattr(record, self.field_name))


@dataclass(frozen=True)
class Probe:
    """A command to collect, declared by a check and executed by a transport.

    :param transport: the channel that carries it (``ssh``, ``winrm``, ``ldap``, ``http``...: any
        registered channel, see :mod:`grader.probes`).
    :param command: what the channel runs or sends, in that channel's probe language (a POSIX sh
        command with absolute paths for ``ssh``, a PowerShell script for ``winrm``, a URL for
        ``http``, canonical JSON for ``ldap``...).
    :param timeout: seconds the probe may run before it is killed (then the check is ``erreur``).
    :param active: True when the probe causes an effect on the host (a test connection, a log
        line); active probes are listed as such in the evidence.
    :param secret: the name of a rubric credential whose password this probe needs (a backup
        repository's password). The command never holds the password: it names the shell variable
        ``$GRADER_SECRET`` (:data:`grader.probes.ssh.SECRET`), which the channel sets inside this
        probe's own subshell only, so the recorded command shows the placeholder and the evidence
        never the secret (only the ``ssh`` channel carries secrets, see :mod:`grader.transports.envelope`).
        The ``kdc`` and ``smb_as`` channels read the credential named here to log in *as* that account
        (a user's test password: an AS exchange, a share opened as the user); their commands name it only.
    """

    transport: str
    command: str
    timeout: float = 10.0
    active: bool = False
    secret: str | None = None

    @property
    def key(self) -> str:
        """Stable identity: two checks asking for the same command (with the same secret) share one execution."""
        named = f"\0secret={self.secret}" if self.secret is not None else ""
        digest = hashlib.sha256(f"{self.transport}\0{self.command}{named}".encode()).hexdigest()
        return f"{self.transport}-{digest[:12]}"


@dataclass(frozen=True)
class ProbeResult:
    """What came back for one probe. ``stdout``/``stderr`` are already capped (see ``truncated``).

    ``error``, and the ``stdout``/``stderr`` a grader-side channel writes itself, may be a :class:`Msg`
    (:data:`Text`): the same French text, with its reference for a report in another language.
    """

    key: str
    transport: str
    command: str
    stdout: Text = ""
    stderr: Text = ""
    exit_code: int | None = None
    started: str = ""  # ISO 8601 UTC
    duration: float = 0.0
    truncated: bool = False
    timed_out: bool = False
    error: Text | None = None  # why the probe produced no usable result (framing lost, ...); French

    @property
    def ok(self) -> bool:
        """The probe ran to completion (whatever its exit code) and its output is trustworthy."""
        return self.error is None and not self.timed_out

    error_ref = RefOf("error")
    stderr_ref = RefOf("stderr")
    stdout_ref = RefOf("stdout")


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


class Msg(str):
    """A message the jury reads, by reference: a French text that also knows its template and values.

    ``Msg("Le paquet {package} n'est pas installé.", package=name)`` *is* the French text (a ``str``:
    every consumer reads, compares and stores it as text), and carries the template and the values
    that made it. The French template is the msgid of the ``checks`` gettext domain
    (:mod:`grader.i18n_checks`), so a report in English can say the same thing from the catalogue
    (:meth:`render`), while the store keeps the French text as well. Candidate data only ever goes
    in the values, and the template names every field (``{package}``: no positional, attribute or
    index fields), so a value can never be read as a format. A value is a scalar, another
    :class:`Msg` (a part said in the same language) or a list of those (joined with the language's
    :data:`LIST_SEPARATORS`); anything else is kept as its ``str``. Text derived from a Msg (a slice,
    a concatenation) is plain text: only the Msg itself carries the reference.
    """

    id: str
    args: Mapping[str, Any]

    def __new__(cls, id: str, /, **args: Any) -> Self:
        for _, name, _, _ in string.Formatter().parse(id):
            if name is not None and not name.isidentifier():
                raise ValueError(f"Msg template field {name!r} is not a plain name: {id!r}")
            if name is not None and name not in args:
                raise ValueError(f"Msg template field {name!r} has no value: {id!r}")
        values = {k: _value(v) for k, v in args.items()}
        self = super().__new__(cls, _fill(id, values, None, "fr"))
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "args", values)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Msg is immutable: cannot set {name!r}")

    def __repr__(self) -> str:
        return f"Msg({self.id!r}" + "".join(f", {k}={v!r}" for k, v in self.args.items()) + ")"

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and copy rebuild the reference, not only the text
        return (Msg.from_json, (self.to_json(),))

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
        return _fill(template, self.args, translate, lang)

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
        """A message read back (a store, a bundle someone sent): its template may ask for no width or
        precision (``{x:>99999999}`` would cost gigabytes to render), only a type (``{seconds:g}``)."""

        def value(raw: Any) -> Any:
            if isinstance(raw, Mapping):
                return cls.from_json(raw)
            if isinstance(raw, list):
                return tuple(value(v) for v in raw)
            return raw

        template = str(data["id"])
        for _, _, spec, conversion in string.Formatter().parse(template):
            if conversion or (spec and any(ch.isdigit() for ch in spec)):
                raise ValueError(f"Msg template read back with a format width, precision or conversion: {template!r}")
        return cls(template, **{str(k): value(v) for k, v in dict(data.get("args") or {}).items()})


def _fill(template: str, values: Mapping[str, Any], translate: Callable[[str], str | None] | None, lang: str) -> str:
    """``template`` with ``values``, parts that are messages said through ``translate`` in ``lang``."""

    def show(value: Any) -> Any:
        if isinstance(value, Msg):
            return value.render(translate, lang)
        if isinstance(value, tuple):
            return LIST_SEPARATORS.get(lang, " ; ").join(str(show(v)) for v in value)
        if isinstance(value, str):
            return str.__str__(value)
        return value

    return template.format_map({k: show(v) for k, v in values.items()})


#: A text of a record: plain French text, or a :class:`Msg` (the same French text, with its reference).
Text = str | Msg


@dataclass(frozen=True)
class Verdict:
    """A judge's answer: one status, what was observed, what was expected, and why.

    ``message``, ``observed`` and ``expected`` are :data:`Text`: a :class:`Msg` where the judge said it
    by reference, which lets a report say it in another language (``message_ref``...); two verdicts
    saying the same French text are equal, whatever their references.
    """

    status: Status
    observed: Text = ""
    expected: Text = ""
    message: Text = ""

    @classmethod
    def conforme(cls, observed: Text = "", expected: Text = "", message: Text = "") -> Verdict:
        return cls(Status.CONFORME, observed, expected, message)

    @classmethod
    def non_conforme(cls, observed: Text = "", expected: Text = "", message: Text = "") -> Verdict:
        return cls(Status.NON_CONFORME, observed, expected, message)

    @classmethod
    def erreur(cls, message: Text, observed: Text = "", expected: Text = "") -> Verdict:
        return cls(Status.ERREUR, observed, expected, message)

    message_ref = RefOf("message")
    observed_ref = RefOf("observed")
    expected_ref = RefOf("expected")


@dataclass(frozen=True)
class HostOutcome:
    """How reaching a host went, independent of any check. ``reason``, ``host_key`` and each anomaly are :data:`Text`."""

    reached: bool
    reason: Text = ""  # French, plain words, when not reached
    host_key: Text = ""  # e.g. "ssh-ed25519 SHA256:..."
    anomalies: tuple[Text, ...] = ()  # text the host printed outside the envelope, etc. (French)
    execs: int = 0  # remote executions used (the batching contract: 1 per transport)
    status: Status = Status.CONFORME  # INJOIGNABLE or ERREUR when not reached
    extra: dict[str, str] = field(default_factory=dict)

    reason_ref = RefOf("reason")
    host_key_ref = RefOf("host_key")

    @property
    def anomaly_refs(self) -> tuple[Msg | None, ...]:
        """Each anomaly's reference, or None for plain text (empty when none has one)."""
        refs = tuple(ref_of(a) for a in self.anomalies)
        return refs if any(r is not None for r in refs) else ()


#: Anomaly templates that cast doubt on every verdict of their host, not on one probe: the reports
#: show them beside each verdict of that host. The channel that says one uses exactly its template
#: (:func:`grader.transports.envelope.shell_anomalies`; tests/transports/test_login_shell.py ties them).
HOST_WIDE_ANOMALIES: frozenset[str] = frozenset({
    ("le shell de connexion ne s'est pas décrit avant le lot : son environnement n'a pas pu être vérifié, une "
    "fonction de ses fichiers de démarrage a pu fausser les résultats de cet hôte"),
    ("shell de connexion {shell} : {names} redéfini(s) par une fonction ou un alias de ses fichiers de démarrage ; "
    "les résultats de cet hôte ont pu être falsifiés"),
    ("shell de connexion {shell} : fonctions définies au lancement du lot ({names}) ; vérifiez qu'elles ne faussent "
    "pas les résultats de cet hôte"),
    "shell de connexion {shell} : n'a pas décrit {names} ; son environnement n'a pas pu être vérifié",
})


def said_as_read(text: str, ref: Msg | None) -> Text:
    """``text`` by its reference when that says exactly the same French text, else ``text`` as read.

    How a text read back (from the store, or cut from a longer one: ``said_as_read(r.stderr.strip(),
    r.stderr_ref)``) keeps its reference only when the reference still says exactly that."""
    return ref if ref is not None and ref.render() == text else text
