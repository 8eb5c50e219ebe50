"""The records every part of grader shares: statuses, probes, probe results, verdicts.

A check never runs anything. It *declares* probes (what to collect) and judges their
results with a pure function. The engine deduplicates the probes of all checks of a host,
sends them in one round trip per transport, and hands each check the results it asked for.
Keeping these records small and frozen is what lets the store, the reports and `rejudge`
treat evidence as plain data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum


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
    error: str | None = None  # why the probe produced no usable result (framing lost, ...)

    @property
    def ok(self) -> bool:
        """The probe ran to completion (whatever its exit code) and its output is trustworthy."""
        return self.error is None and not self.timed_out


@dataclass(frozen=True)
class Verdict:
    """A judge's answer: one status, what was observed, what was expected, and why."""

    status: Status
    observed: str = ""
    expected: str = ""
    message: str = ""

    @classmethod
    def conforme(cls, observed: str = "", expected: str = "", message: str = "") -> Verdict:
        return cls(Status.CONFORME, observed, expected, message)

    @classmethod
    def non_conforme(cls, observed: str = "", expected: str = "", message: str = "") -> Verdict:
        return cls(Status.NON_CONFORME, observed, expected, message)

    @classmethod
    def erreur(cls, message: str, observed: str = "", expected: str = "") -> Verdict:
        return cls(Status.ERREUR, observed, expected, message)


@dataclass(frozen=True)
class HostOutcome:
    """How reaching a host went, independent of any check."""

    reached: bool
    reason: str = ""  # French, plain words, when not reached
    host_key: str = ""  # e.g. "ssh-ed25519 SHA256:..."
    anomalies: tuple[str, ...] = ()  # text the host printed outside the envelope, etc.
    execs: int = 0  # remote executions used (the batching contract: 1 per transport)
    status: Status = Status.CONFORME  # INJOIGNABLE or ERREUR when not reached
    extra: dict[str, str] = field(default_factory=dict)
