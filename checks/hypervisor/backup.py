"""Proxmox VE backups (vzdump) of a VM, read through the ``pve`` channel, judged as restic, borg and Windows ones.

The ``backups`` probe (:func:`grader.probes.pve.backups`) brings, for the whole cluster, the VMs, the
backup jobs (``/cluster/backup``), each node's vzdump tasks and the archives of every storage that holds
backups. What counts as a successful backup of the VM:

* an archive of the VM (its ``vmid``) in a backup storage, dated by its ``ctime``: with ``storage``,
  in that storage only; a failed vzdump leaves no archive;
* without ``storage``, also a vzdump task of that VM (its ``id``) whose status is exactly ``OK``,
  dated by its ``endtime``. A task of a job that backs up several VMs names none (empty ``id``):
  only its archives say which VMs it saved. ``WARNINGS: n`` and ``ERROR: ...`` are not successes.

Each becomes a :class:`~checks._common.backup.Backup` and :func:`~checks._common.backup.judge_recent`
decides. The last failed task of the VM, when it is more recent than the last success, is shown beside
the verdict. A part the API refused (403 on a node's tasks, a storage's content) is ``erreur``, never
``non conforme``; so is a token that may not see every task (the task list shows only the token's own
without ``Sys.Audit`` on the node, with no error): then a missing backup cannot be told from a hidden one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_validator

from checks._common.backup import Backup, judge_recent, reference_time, when
from checks._common.text import clip
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Status, Verdict
from grader.probes import pve


def _vmid(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _at(value: Any) -> datetime | None:
    seconds = _vmid(value)
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds is not None else None


def resolve(vms: list[dict[str, Any]], vm: str) -> list[int]:
    """The VMIDs a rubric's ``vm`` names: a VMID as is, else every VM of that name."""
    if vm.isdigit():
        return [int(vm)]
    return sorted({v for v in (_vmid(e.get("vmid")) for e in vms if e.get("name") == vm) if v is not None})


def archives(nodes: list[dict[str, Any]], vmid: int, storage: str | None) -> list[Backup] | Msg | None:
    """The VM's archives in the backup storages (``storage`` only, when given), or why they cannot be read;
    None when no storage of that name receives backups."""
    found: list[Backup] = []
    seen = False
    for node in nodes:
        if node.get("storages") is None:
            return Msg("les stockages du nœud {node} n'ont pas pu être lus", node=node.get("node"))
        for s in node["storages"]:
            if storage is not None and s.get("storage") != storage:
                continue
            seen = True
            if s.get("backups") is None:
                return Msg("le contenu du stockage {storage} n'a pas pu être lu", storage=s.get("storage"))
            for a in s["backups"]:
                at = _at(a.get("ctime"))
                if _vmid(a.get("vmid")) == vmid and at is not None:
                    found.append(Backup(at, str(a.get("volid") or "?"), str(s.get("storage"))))
    return found if storage is None or seen else None


def tasks(nodes: list[dict[str, Any]], vmid: int) -> tuple[list[Backup], dict[str, Any] | None] | Msg:
    """The VM's successful vzdump tasks and its last one (any status), or why they cannot be trusted."""
    done: list[Backup] = []
    last: dict[str, Any] | None = None
    for node in nodes:
        if node.get("tasks") is None:
            return Msg("les tâches du nœud {node} n'ont pas pu être lues", node=node.get("node"))
        for t in node["tasks"]:
            if t.get("type") != "vzdump" or _vmid(t.get("id")) != vmid or _at(t.get("endtime")) is None:
                continue
            if last is None or int(t["endtime"]) > int(last["endtime"]):
                last = t
            if t.get("status") == "OK":
                done.append(Backup(_at(t["endtime"]), f"tâche vzdump {t.get('upid', '?')}", str(node.get("node"))))  # type: ignore[arg-type]
    return done, last


def covering_jobs(jobs: list[dict[str, Any]], vmid: int, storage: str | None) -> list[dict[str, Any]]:
    """The enabled backup jobs that include the VM (``all`` but not excluded, or named in ``vmid``)."""
    def listed(text: Any) -> set[int]:
        return {v for v in (_vmid(x) for x in str(text or "").split(",")) if v is not None}

    return [j for j in jobs
            if str(j.get("enabled", 1)) not in ("0", "false", "False")
            and (storage is None or j.get("storage") == storage)
            and ((str(j.get("all", 0)) in ("1", "true", "True") and vmid not in listed(j.get("exclude")))
                 or vmid in listed(j.get("vmid")))]


class PveBackupRecent(Check):
    """La dernière sauvegarde vzdump de la VM {vm} a moins de {max_age_hours} heures.

    Proxmox VE through its API (``pve`` channel): the VM (its name, or its VMID) must have an archive in
    a backup storage (``storage``: that one) or, without ``storage``, a vzdump task of its own ended
    ``OK``, younger than ``max_age_hours`` at the grader's clock. ``job: true`` also asks for an enabled
    backup job (``/cluster/backup``) that includes the VM (to ``storage`` when given). A failed task is
    not a success; a part the API refuses is erreur.
    """

    id = "backup.pve_recent"
    platform = "linux"
    transport = "pve"
    usually_serves = ("CP9.1",)
    example = "{vm: '{{ candidat }}-web', storage: sauvegardes, max_age_hours: 24, job: true}"

    class Params(CheckParams):
        vm: str = Field(min_length=1)  # the VM's name, or its VMID
        storage: str | None = None
        max_age_hours: float = Field(default=24, gt=0)
        job: bool = False

        @field_validator("vm", "storage")
        @classmethod
        def _plain(cls, value: str | None) -> str | None:
            if value is not None and (not value.strip() or any(ord(c) < 32 for c in value)):
                raise ValueError("valeur vide ou caractère de contrôle")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"backups": pve.backups()}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["backups"]
        where = Msg(", stockage {storage}", storage=params.storage) if params.storage else ""
        source = Msg("la VM {vm} (vzdump{where})", vm=params.vm, where=where)
        expected = Msg("une sauvegarde de {source} de moins de {hours:g} h", source=source, hours=params.max_age_hours)
        if r.exit_code != 0:
            return Verdict.erreur(Msg("l'API Proxmox VE a refusé la lecture des sauvegardes ({code}) : {reason}",
                                      code=r.exit_code, reason=clip(r.stderr.strip(), 200) or "?"), expected=expected)
        if r.truncated:
            return Verdict.erreur(Msg("liste des sauvegardes tronquée"), expected=expected)
        try:
            data = json.loads(r.stdout)
            nodes = list(data["nodes"])
        except (ValueError, KeyError, TypeError):
            return Verdict.erreur(Msg("réponse de l'API illisible"), observed=clip(r.stdout), expected=expected)
        if data.get("vms") is None:
            return Verdict.erreur(Msg("la liste des VM n'a pas pu être lue : {errors}",
                                      errors="; ".join(data.get("errors") or ()) or "?"), expected=expected)
        vmids = resolve(data["vms"], params.vm)
        if not vmids:
            names = ", ".join(str(v.get("name")) for v in data["vms"]) or Msg("aucune")
            return Verdict.non_conforme(Msg("VM présentes : {names}", names=names), expected,
                                        Msg("La VM {vm} n'existe pas sur ce cluster.", vm=params.vm))
        if len(vmids) > 1:
            return Verdict.erreur(Msg("plusieurs VM portent le nom {vm} : {vmids}", vm=params.vm,
                                      vmids=", ".join(map(str, vmids))), expected=expected)
        vmid = vmids[0]
        found = archives(nodes, vmid, params.storage)
        if isinstance(found, Msg):
            return Verdict.erreur(found, expected=expected)
        if found is None:
            storages = ", ".join(sorted({str(s.get("storage")) for n in nodes for s in n["storages"]})) or Msg("aucun")
            return Verdict.non_conforme(Msg("stockages de sauvegarde : {storages}", storages=storages), expected,
                                        Msg("Aucun stockage {storage} ne reçoit de sauvegardes.",
                                            storage=params.storage))
        read = tasks(nodes, vmid)
        if isinstance(read, Msg):  # the tasks say which runs failed: without them a success may be all that is shown
            return Verdict.erreur(read, expected=expected)
        done, last_task = read
        backups = found if params.storage else found + done
        now = reference_time(r.started)
        if isinstance(now, Verdict):
            return now
        verdict = judge_recent(backups, now, params.max_age_hours, source)
        notes: list[Msg] = []
        newest = max((b.at for b in backups), default=None)
        failed_at = _at(last_task.get("endtime")) if last_task else None
        if last_task and last_task.get("status") != "OK" and failed_at and (newest is None or failed_at > newest):
            notes.append(Msg("dernière tâche vzdump en échec le {at} : {status}", at=when(failed_at),
                             status=clip(str(last_task.get("status")), 160)))
        if params.job:
            if data.get("jobs") is None:
                return Verdict.erreur(Msg("les tâches de sauvegarde planifiées n'ont pas pu être lues"),
                                      observed=verdict.observed, expected=expected)
            jobs = covering_jobs(data["jobs"], vmid, params.storage)
            if jobs:
                notes.append(Msg("planifiée : {jobs}", jobs=", ".join(
                    f"{j.get('id')} ({j.get('schedule') or j.get('starttime') or '?'} → {j.get('storage') or '?'})"
                    for j in jobs)))
            else:
                notes.append(Msg("aucune tâche de sauvegarde planifiée active n'inclut la VM {vmid}", vmid=vmid))
                if verdict.status is Status.CONFORME:
                    verdict = Verdict.non_conforme(verdict.observed, expected,
                                                   Msg("Aucune sauvegarde planifiée n'inclut la VM {vm}.",
                                                       vm=params.vm))
        if verdict.status is Status.NON_CONFORME and params.storage is None and not all(
                n.get("audit") is True for n in nodes):
            blind = ", ".join(str(n.get("node")) for n in nodes if n.get("audit") is not True)
            return Verdict.erreur(Msg("le jeton n'a pas Sys.Audit sur {nodes} (ou ses droits n'ont pas pu être lus) : "
                                      "les tâches des autres comptes lui sont cachées", nodes=blind),
                                  observed=verdict.observed, expected=expected)
        if notes:
            verdict = replace(verdict, observed=Msg("{observed} ; {notes}", observed=verdict.observed,
                                                    notes=tuple(notes)))
        return verdict
