"""Windows Server Backup: the backups of the server's catalogue (``Get-WBBackupSet``), over WinRM.

Each backup set of the catalogue is a successful backup (the WindowsServerBackup module lists the
output of successful backup operations only); its ``BackupTime``, ``VersionId`` (the version
identifier ``wbadmin get versions`` shows) and the volumes it holds (``Volume[].MountPath``) become
the normalised backups of :mod:`checks._common.backup`, judged as restic and borg ones are. Read only:
``Get-WBBackupSet`` reads the catalogue and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, field_validator

from checks._common.backup import Backup, judge_recent, reference_time
from checks.windows._ps import as_list, failure, ps_date, read_items, unusable
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.winrm import winrm

PROJECTION = ("ForEach-Object { [pscustomobject]@{ VersionId = $_.VersionId; BackupTime = $_.BackupTime; "
              "Volumes = @($_.Volume | ForEach-Object { $_.MountPath }) } }")


class WindowsBackupRecent(Check):
    """La dernière sauvegarde Windows Server Backup a moins de {max_age_hours} heures.

    ``Get-WBBackupSet`` lists the backups of the server's catalogue; with ``volume`` (``C:``), only
    those holding that volume count. The most recent must be younger than ``max_age_hours`` at the
    grader's clock. No backup at all is non conforme; the module absent (feature
    Windows-Server-Backup not installed) is erreur, as an access refused.
    """

    id = "backup.windows_recent"
    platform = "windows"
    transport = "winrm"
    usually_serves = ("CP8.3",)
    example = "{volume: 'C:', max_age_hours: 24}"

    class Params(CheckParams):
        volume: str | None = None  # a volume's mount path as Windows writes it: C:, D:
        max_age_hours: float = Field(default=24, gt=0)

        @field_validator("volume")
        @classmethod
        def _volume(cls, value: str | None) -> str | None:
            if value is not None and (not value.strip() or any(ord(c) < 32 for c in value)):
                raise ValueError("volume vide ou caractère de contrôle")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"sets": winrm(f"Get-WBBackupSet -ErrorAction Stop | {PROJECTION} | ConvertTo-Json -Depth 4",
                              timeout=60)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["sets"]
        source: str | Msg = (Msg("le volume {volume} (Windows Server Backup)", volume=params.volume) if params.volume
                             else "Windows Server Backup")
        expected = Msg("une sauvegarde de {source} de moins de {hours:g} h", source=source, hours=params.max_age_hours)
        if failure(r) is not None:
            return unusable(r, "Get-WBBackupSet", expected)
        found = read_items(r, "Get-WBBackupSet", expected)
        if isinstance(found, Verdict):
            return found
        backups = []
        for item in found:
            at = ps_date(item.get("BackupTime"))
            if at is None:
                return Verdict.erreur(Msg("Get-WBBackupSet : date illisible ({value})", value=str(item.get("BackupTime"))),
                                      expected=expected)
            volumes = [str(v) for v in as_list(item.get("Volumes"))]
            if params.volume and not any(v.rstrip("\\").casefold() == params.volume.rstrip("\\").casefold()
                                         for v in volumes):
                continue
            backups.append(Backup(at, str(item.get("VersionId") or "?"), ", ".join(volumes)))
        now = reference_time(r.started)
        if isinstance(now, Verdict):
            return now
        return judge_recent(backups, now, params.max_age_hours, source)
