"""The ``winrm`` channel's language: PowerShell 5.1 scripts run on a Windows host, all in one run.

A probe is a PowerShell script (full cmdlet names, no aliases; values from a rubric quoted as
PowerShell single-quoted strings), built with :func:`winrm`. The channel runs every probe of a host
in one ``powershell.exe``, each in its own runspace with its own budget (see
:mod:`grader.transports.psenvelope`). The result's ``stdout`` is the probe's output as text (objects
through ``ConvertTo-Json`` by the probe itself, or ``Out-String``); ``exit_code`` 0, 1 when the probe
failed with a terminating error, 2 when it wrote non-terminating errors; ``stderr`` is then the JSON
list of PowerShell error records, read back with :func:`error_records` (exception type,
``FullyQualifiedErrorId``, category, message). Connection settings are ``hosts[].options.winrm``
(:class:`WinrmOptions`).
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, model_validator

from grader.model import Probe, ProbeResult
from grader.probes.channel import ChannelOptions, ChannelSpec


class WinrmOptions(ChannelOptions):
    """``hosts[].options.winrm`` in a rubric."""

    scheme: Literal["http", "https"] = "http"
    port: int | None = Field(default=None, ge=1, le=65535)  # default: 5985 (http), 5986 (https)
    auth: Literal["basic", "ntlm", "kerberos"] = "ntlm"
    verify_tls: bool = True  # https: check the certificate (false = accepted, with a warning in the evidence)
    ca_file: str | None = None  # https: CA bundle that signed the hosts' certificates (a lab CA)
    credential: str | None = None  # another rubric credential than the host's
    operation_timeout: int = Field(default=20, ge=1, le=300)  # WS-Management OperationTimeout of each request
    run_timeout: float | None = Field(default=None, gt=0)  # whole batch; default: the probes' budgets + 30 s
    # Kerberos only: the KDC ("dc-address" or "address:port", required), the host's name in its SPN
    # HTTP/<spn_host> (default: the host's address), the realm (default: the credential's @domain).
    kdc: str | None = None
    spn_host: str | None = None
    realm: str | None = None

    @model_validator(mode="after")
    def _kerberos(self) -> WinrmOptions:
        if self.auth == "kerberos" and not self.kdc:
            raise ValueError("auth: kerberos exige « kdc » (l'adresse d'un contrôleur de domaine du candidat)")
        if self.auth != "kerberos" and {"kdc", "spn_host", "realm"} & self.model_fields_set:
            raise ValueError("kdc, spn_host et realm ne servent qu'avec auth: kerberos")
        return self


CHANNEL = ChannelSpec("winrm", "grader.transports.winrm:WinrmChannel", Options=WinrmOptions, needs_credential=True)


def error_records(result: ProbeResult) -> list[dict[str, str]]:
    """The error records of a WinRM probe result (empty when it had none or is not ours)."""
    if not result.stderr.strip():
        return []
    try:
        data = json.loads(result.stderr)
    except json.JSONDecodeError:
        return []
    if not isinstance(data, list):
        return []
    return [{k: str(v) for k, v in e.items()} for e in data if isinstance(e, dict)]


def winrm(command: str, timeout: float = 20.0) -> Probe:
    """A passive probe run on the Windows host inside the PowerShell batch."""
    return Probe("winrm", command, timeout)
