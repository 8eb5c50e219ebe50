"""A host's one deadline: every channel, every stage, closed when the host's budget is spent.

Some libraries wait without limit at some stage: paramiko for the answer to an exec, PTY or
shell request, smbprotocol once a session is open, ldap3 while it follows a server's paging
cookie. A candidate who is root on the machine can make any of them wait forever, and one such
host must never hold the room. So the runner gives each host a :class:`HostDeadline` (its
budget: the connect timeout plus the probes' own budgets, or ``hosts[].budget`` in the rubric),
channels register what they open (``guard``: sockets, transports), and when the budget is spent
the deadline closes all of it. Whatever was waiting then fails at once, whatever the library
says, and the runner says why, for every channel alike, with :meth:`HostDeadline.silence`:
« session ouverte mais muette après N s », never « refusé », a forged or an interrupted output;
a probe whose output the deadline cut says so (:meth:`HostDeadline.cut`). :func:`abort_all` does the same for every host at once (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Iterator

from grader.model import Msg

_LIVE: weakref.WeakSet[HostDeadline] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


class HostDeadline:
    """The budget of one host's collection, in seconds from :meth:`start`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.expired = False
        self._closers: dict[int, Callable[[], object]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._t0 = time.monotonic()

    def start(self) -> HostDeadline:
        self._t0 = time.monotonic()
        self._timer = threading.Timer(self.seconds, self.expire)
        self._timer.daemon = True
        self._timer.start()
        with _LIVE_LOCK:
            _LIVE.add(self)
        return self

    def cancel(self) -> None:
        """The host is done: nothing will be closed by this deadline any more."""
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._closers.clear()
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def remaining(self) -> float:
        """Seconds left (0 once expired): what a channel may still give one wait."""
        return 0.0 if self.expired else max(0.0, self.seconds - self.elapsed())

    def guard(self, close: Callable[[], object]) -> Callable[[], None]:
        """Close with ``close()`` when the budget is spent (at once if it already is); returns the release."""
        with self._lock:
            token = next(self._ids)
            self._closers[token] = close
            now = self.expired
        if now:
            _quietly(close)

        def release() -> None:
            with self._lock:
                self._closers.pop(token, None)

        return release

    @contextlib.contextmanager
    def guarding(self, close: Callable[[], object]) -> Iterator[None]:
        release = self.guard(close)
        try:
            yield
        finally:
            release()

    def expire(self) -> None:
        """Spend the budget now: close everything registered (a no-op the second time)."""
        with self._lock:
            if self.expired:
                return
            self.expired = True
            closers = list(self._closers.values())
            self._closers.clear()
        for close in closers:
            _quietly(close)

    def silence(self) -> Msg:
        """Why a channel stopped: the session opened, then said nothing within the host's budget."""
        return Msg("session ouverte mais muette après {seconds:g} s", seconds=round(self.elapsed()))

    def cut(self) -> Msg:
        """What a probe the deadline cut short says (its output did not come within the host's budget)."""
        return Msg("sonde coupée par l'échéance de l'hôte ({seconds:g} s)", seconds=round(self.seconds))


def abort_all() -> int:
    """Spend every live host's budget now (Ctrl-C): each waiting channel returns at once. Returns how many."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for deadline in live:
        deadline.expire()
    return len(live)


def _quietly(close: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):  # already closed, or closing under a failing read
        close()
