"""The built-in Linux check pack, registered like any third-party plugin (entry point ``linux``).

One module per family of facts; each check declares its probes and judges their output
with a pure function (see :mod:`grader.check`). Shared parsing lives in ``_parse``.
"""

from __future__ import annotations

from checks.linux.accounts import UserInGroups
from checks.linux.backup import BackupRecent, BackupRestorable
from checks.linux.cron import CronEntryExists
from checks.linux.files import FileContains, FileExists
from checks.linux.jobs import JobRan, TimerActive
from checks.linux.packages import PackageInstalled
from checks.linux.ports import PortListening
from checks.linux.rsyslog import RsyslogForward
from checks.linux.scripts import BashScript
from checks.linux.services import ServiceActive
from checks.linux.snmpd import SnmpdCommunity, SnmpdV3User
from checks.linux.sshd import SshdSetting
from checks.linux.web import HttpAnswers
from grader.check import Check
from grader.plugins import hookimpl

CHECKS: tuple[type[Check], ...] = (
    PackageInstalled,
    ServiceActive,
    PortListening,
    UserInGroups,
    FileExists,
    FileContains,
    CronEntryExists,
    TimerActive,
    JobRan,
    BashScript,
    SshdSetting,
    RsyslogForward,
    SnmpdCommunity,
    SnmpdV3User,
    HttpAnswers,
    BackupRecent,
    BackupRestorable,
)


@hookimpl
def grader_register_checks() -> list[type[Check]]:
    """Every check of the Linux pack."""
    return list(CHECKS)
