"""The ``ssh`` channel's language: POSIX sh commands run on the host inside the batch envelope.

A probe is one command line with absolute paths only; the channel runs every probe of a host in one
exec, each in its own subshell with its own deadline, in an emptied environment (see
:mod:`grader.transports.envelope`). What comes back is the command's stdout, stderr and exit code,
capped. Values from a rubric enter a command through :func:`quote`, never unquoted.
"""

from __future__ import annotations

import shlex

from grader.model import Probe
from grader.probes.channel import ChannelSpec

CHANNEL = ChannelSpec("ssh", "grader.transports.ssh:SshChannel", needs_credential=True)


#: How a probe's command names the password of its ``secret`` credential: a shell variable the
#: envelope sets in that probe's subshell only (never exported, never in the command text). Pass it
#: to the one program that needs it as an environment assignment: ``RESTIC_PASSWORD={SECRET} /usr/bin/restic …``.
SECRET = '"$GRADER_SECRET"'


def ssh(command: str, timeout: float = 10.0, *, secret: str | None = None) -> Probe:
    """A passive probe run on the host inside the batch envelope (absolute paths only).

    ``secret``: the name of a rubric credential whose password the command reads as :data:`SECRET`.
    """
    return Probe("ssh", command, timeout, secret=secret)


def quote(value: str) -> str:
    """Quote a parameter for the remote POSIX shell. Never interpolate unquoted values."""
    return shlex.quote(str(value))
