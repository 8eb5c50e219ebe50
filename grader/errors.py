"""The exception tree. Everything grader raises on purpose derives from ``GraderError``::

    GraderError
    ├── UsageError            bad command line, missing file (exit code 2)
    │   └── AnnotationError   a jury annotation the store refuses (unknown target, no justification)
    ├── RubricError           a rubric or roster with located problems (exit code 2)
    ├── PluginError           a plugin that does not honour the contract (load time)
    ├── CredentialError       a credential reference that cannot be resolved safely
    ├── TransportError        a host could not be reached or used
    │   ├── Unreachable       connection refused/timed out, DNS, auth refused -> injoignable
    │   └── HostKeyMismatch   the host key changed since it was first seen -> erreur
    ├── StoreError            the session store is unusable
    └── LabError              the lab could not be built or torn down
"""

from __future__ import annotations

from grader.model import Msg, said_as_read


class GraderError(Exception):
    """Root of grader's own errors; messages are meant for a person, from the catalogue (:mod:`grader.i18n`).

    A channel's reason for not grading a host (``Unreachable``, ``TransportError``,
    ``CredentialError``) may be raised with a :class:`~grader.model.Msg` as its only argument:
    ``str(exc)`` is then its French text, as before, and :attr:`message_ref` lets the runner
    store the reference so that reports and the live view can say it in another language.
    """

    @property
    def message_ref(self) -> Msg | None:
        """The message by reference when the error was raised with a :class:`~grader.model.Msg`, else None."""
        return self.args[0] if len(self.args) == 1 and isinstance(self.args[0], Msg) else None


def said(exc: BaseException) -> Msg | str:
    """What an exception says, by reference when raised with a :class:`Msg` that still renders to its text."""
    ref = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], Msg) else None
    return said_as_read(str(exc), ref)


class UsageError(GraderError):
    pass


class AnnotationError(UsageError):
    """A jury observation or override that cannot be recorded; the message says what to fix."""


class RubricError(GraderError):
    """Carries every problem found, each already located (``file:line:col: what — how``)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class PluginError(GraderError):
    pass


class CredentialError(GraderError):
    pass


class TransportError(GraderError):
    pass


class Unreachable(TransportError):
    pass


class HostKeyMismatch(TransportError):
    pass


class StoreError(GraderError):
    pass


class LabError(GraderError):
    pass
