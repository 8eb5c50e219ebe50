"""The built-in channels, registered through the same hook a third party's transport uses."""

from __future__ import annotations

from grader.plugins import hookimpl
from grader.transports.cli import CliChannel
from grader.transports.dhcp import DhcpChannel
from grader.transports.dns import DnsChannel
from grader.transports.http import HttpChannel
from grader.transports.ldap import LdapChannel
from grader.transports.smb import SmbChannel
from grader.transports.snmp import SnmpChannel
from grader.transports.ssh import SshChannel
from grader.transports.syslog import SyslogChannel
from grader.transports.tls import TlsChannel
from grader.transports.winrm import WinrmChannel


@hookimpl
def grader_register_transports() -> list[type]:
    return [SshChannel, HttpChannel, SnmpChannel, SyslogChannel, WinrmChannel,
            LdapChannel, DnsChannel, CliChannel, DhcpChannel, SmbChannel, TlsChannel]
