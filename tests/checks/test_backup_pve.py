"""backup.pve_recent: Proxmox VE vzdump backups through the real ``pve`` channel and the stand-in API.

The stand-in (:mod:`tests.pve_standin.server`) answers what Proxmox's published API schema says
(``recorded.json``: VM 100 c01-web archived on the shared storage ``sauvegardes`` 2026-12-04 and
2026-12-05 21:00 UTC, its vzdump task of 2026-12-06 03:00 failed; VM 101 c01-db once on 2026-12-01).
The grader's clock is set on the result (``started``), as a rejudge would read it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pydantic
import pytest

from checks.hypervisor.backup import PveBackupRecent
from grader.errors import CredentialError
from grader.model import ProbeResult, Status, Verdict
from grader.probes.pve import PveOptions
from grader.rubric import Credential
from grader.transports.base import HostContext
from grader.transports.pve import PveChannel
from tests.checks.conftest import run_judge
from tests.pve_standin.server import recorded, serving

TOKEN_ID, SECRET = "grader@pve!audit", "0d8e5a1c-7f3b-4a2e-9c61-5b4d3e2f1a00"
MORNING = "2026-12-06T08:00:00+00:00"  # 11 h after c01-web's last archive, 5 h after its failed task


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PVE_TOKEN", SECRET)


def collect(answers: dict[str, Any] | None = None, started: str = MORNING) -> tuple[ProbeResult, list[str]]:
    probe = PveBackupRecent().probes(PveBackupRecent.Params(vm="c01-web"))["backups"]
    cred = Credential(username=TOKEN_ID, password_env="PVE_TOKEN")
    with serving(answers, token=f"{TOKEN_ID}={SECRET}") as server:
        host = HostContext(name="pve1", address="127.0.0.1", platform="linux", port=None, credential=cred,
                           credentials={"pve": cred}, options=PveOptions(port=server.server_address[1], scheme="http"),
                           primary=True)
        got = PveChannel().collect(host, [probe])
    return replace(got.results[probe.key], started=started), [line for line, _ in server.seen]


def judge(params: dict[str, Any], answers: dict[str, Any] | None = None, started: str = MORNING) -> Verdict:
    return run_judge(PveBackupRecent, params, backups=collect(answers, started)[0])


def test_the_api_is_asked_for_vzdump_tasks_and_backup_content_only():
    _, seen = collect()
    assert "GET /api2/json/nodes/pve1/tasks?typefilter=vzdump&limit=500" in seen
    assert "GET /api2/json/nodes/pve1/storage/sauvegardes/content?content=backup" in seen
    assert not any("pve2/storage/sauvegardes" in line for line in seen), "a shared storage is read once"
    assert all(line.startswith("GET ") for line in seen), "read only"


def test_the_last_archive_is_recent_and_the_failed_task_after_it_is_shown():
    v = judge({"vm": "c01-web", "storage": "sauvegardes", "max_age_hours": 24})
    assert v.status is Status.CONFORME, v.message
    assert "vzdump-qemu-100-2026_12_05-21_00_05.vma.zst du 2026-12-05 21:00 UTC (sauvegardes)" in v.observed
    assert "dernière tâche vzdump en échec le 2026-12-06 03:00 UTC : ERROR: Backup of VM 100 failed" in v.observed
    v = judge({"vm": "c01-web", "storage": "sauvegardes", "max_age_hours": 6})
    assert v.status is Status.NON_CONFORME and "11.0 h, plus de 6 h" in v.message


def test_a_failed_task_is_not_a_success():
    answers = recorded()
    answers["GET /nodes/pve1/storage/sauvegardes/content"]["data"] = []
    for task in answers["GET /nodes/pve1/tasks"]["data"]:
        if task["id"] == "100" and task["status"] == "OK":
            task["status"] = "WARNINGS: 1"
    v = judge({"vm": "c01-web"}, answers)
    assert v.status is Status.NON_CONFORME and "Aucune sauvegarde" in v.message
    ok = recorded()
    ok["GET /nodes/pve1/storage/sauvegardes/content"]["data"] = []
    v = judge({"vm": "100"}, ok)
    assert v.status is Status.CONFORME and "tâche vzdump UPID:pve1:00001A2C" in v.observed, "its own OK task counts"


def test_an_old_backup_with_its_date_and_an_unknown_vm():
    v = judge({"vm": "c01-db"})
    assert v.status is Status.NON_CONFORME and "date du 2026-12-01 21:02 UTC" in v.message
    v = judge({"vm": "c02-web"})
    assert v.status is Status.NON_CONFORME and "n'existe pas" in v.message and "c01-web" in v.observed
    v = judge({"vm": "c01-web", "storage": "local-lvm"})
    assert v.status is Status.NON_CONFORME and "Aucun stockage local-lvm" in v.message
    assert "local, sauvegardes" in v.observed


@pytest.mark.parametrize("path", ["GET /nodes/pve2/tasks", "GET /nodes/pve1/storage/sauvegardes/content"])
def test_a_part_the_api_refuses_is_erreur_never_non_conforme(path):
    answers = recorded()
    answers[path] = {"status": 403, "reason": "Permission check failed (/nodes/pve2, Sys.Audit)"}
    v = judge({"vm": "c01-db", "max_age_hours": 1}, answers)
    assert v.status is Status.ERREUR, (v.status, v.message)


def test_a_token_without_sys_audit_cannot_say_non_conforme():
    answers = recorded()
    answers["GET /access/permissions"]["data"]["/nodes/pve2"] = {"VM.Audit": 1}
    v = judge({"vm": "c01-db"}, answers)
    assert v.status is Status.ERREUR and "Sys.Audit sur pve2" in v.message
    assert judge({"vm": "c01-web"}, answers).status is Status.CONFORME, "a success seen is a success"


def test_a_refused_token_is_a_credential_error(monkeypatch):
    monkeypatch.setenv("PVE_TOKEN", "autre-secret")
    with pytest.raises(CredentialError):
        collect()


def test_a_backup_job_must_include_the_vm_when_asked():
    v = judge({"vm": "c01-web", "storage": "sauvegardes", "job": True})
    assert v.status is Status.CONFORME and "planifiée : backup-5a1c2e3f-9b0d (21:00 → sauvegardes)" in v.observed
    answers = recorded()
    answers["GET /cluster/backup"]["data"][0]["vmid"] = "101"
    v = judge({"vm": "c01-web", "storage": "sauvegardes", "job": True}, answers)
    assert v.status is Status.NON_CONFORME and "Aucune sauvegarde planifiée" in v.message
    answers["GET /cluster/backup"] = {"status": 403, "reason": "Permission check failed (/, Sys.Audit)"}
    assert judge({"vm": "c01-web", "job": True}, answers).status is Status.ERREUR


def test_parameters_are_validated():
    with pytest.raises(pydantic.ValidationError):
        PveBackupRecent.Params(vm="c01-web", max_age_hours=0)
    with pytest.raises(pydantic.ValidationError):
        PveBackupRecent.Params(vm="")
