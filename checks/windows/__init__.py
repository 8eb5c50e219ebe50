"""The Windows Server check pack over WinRM, registered like any third-party plugin (entry point ``windows``).

Each check declares PowerShell probes (full cmdlet names, ``-ErrorAction Stop``, output
through ``ConvertTo-Json -Depth 4``) that the ``winrm`` channel runs in one PowerShell
process per host, and judges their output with a pure function. Shared helpers (quoting,
Windows PowerShell 5.1 JSON, how a failed probe is judged) live in ``_ps``. Directory facts
(OUs, users, groups, GPOs) are in ``checks.windows.ad``, a plugin of its own (LDAP channel).
"""

from __future__ import annotations

from checks.windows.backup import WindowsBackupRecent
from checks.windows.dhcp import DhcpScope
from checks.windows.dns import DnsRecord, DnsZone
from checks.windows.features import FeatureInstalled
from checks.windows.gpresult import GpoApplied
from checks.windows.scripts import PsScriptDocumented
from checks.windows.services import ServiceRunning
from checks.windows.shares import SmbShare
from checks.windows.tasks import ScheduledTask
from checks.windows.wsus import WsusClientPolicy
from grader.check import Check
from grader.plugins import hookimpl

CHECKS: tuple[type[Check], ...] = (
    ServiceRunning,
    FeatureInstalled,
    ScheduledTask,
    SmbShare,
    DhcpScope,
    DnsRecord,
    DnsZone,
    PsScriptDocumented,
    WsusClientPolicy,
    WindowsBackupRecent,
    GpoApplied,
)


@hookimpl
def grader_register_checks() -> list[type[Check]]:
    """Every WinRM check of the Windows pack."""
    return list(CHECKS)
