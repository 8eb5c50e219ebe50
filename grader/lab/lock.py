"""The lab is one per machine: whoever brings it up or down holds ``/run/grader-lab.lock``.

Hosts are named by candidate (``c01-srv-lin``…) on one bridge, so a second ``grader demo`` or
``grader lab down`` started while a test session or a benchmark uses the lab would tear that lab
down under it. The CLI's lab commands therefore take the lock without waiting and say who to
wait for; the tests' ``room`` fixture and the benchmark take the same lock. A process started by
a holder of the lock (``flock /run/grader-lab.lock grader demo``, or a test session that runs the
CLI) sets ``GRADER_LAB_LOCK_HELD=1`` so that the CLI does not wait for its own parent.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grader.errors import LabError
from grader.i18n import t

LOCK_PATH = Path("/run/grader-lab.lock")
HELD_ENV = "GRADER_LAB_LOCK_HELD"


@contextmanager
def lab_lock(path: Path = LOCK_PATH) -> Iterator[None]:
    """Hold the machine's lab lock for the block, or raise LabError at once if someone else holds it."""
    if os.environ.get(HELD_ENV) == "1":
        yield
        return
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(t("lab.busy", path=str(path), env=HELD_ENV)) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
