"""The ``hypervisor.*`` judges over Proxmox VE, through the real ``pve`` channel and a stand-in API on loopback.

The stand-in (:mod:`tests.pve_standin.server`) answers the JSON recorded after Proxmox's published
API schema and refuses any request without the expected ``PVEAPIToken`` header; the channel under
test is :class:`grader.transports.pve.PveChannel` itself, the judges are the libvirt ones.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from checks.hypervisor import _proxmox
from checks.hypervisor.checks import ClusterHealthy, GuestAgent, NetworkBridge, StoragePool, VmConfigured, VmSnapshot
from grader.check import Check
from grader.errors import CredentialError, TransportError
from grader.model import ProbeResult, Status, Verdict
from grader.probes.pve import PveOptions
from grader.rubric import Credential
from grader.transports.base import HostContext
from grader.transports.pve import PveChannel
from tests.checks.conftest import run_judge
from tests.pve_standin.server import recorded, serving

TOKEN_ID, SECRET = "grader@pve!audit", "0d8e5a1c-7f3b-4a2e-9c61-5b4d3e2f1a00"
WEB = {"backend": "proxmox", "vm": "c01-web", "state": "running", "vcpus": 2, "memory": "2G",
       "disks": [{"target": "scsi0", "size": "32G", "bus": "scsi", "format": "raw"}],
       "nics": [{"bridge": "vmbr0", "vlan": 10, "model": "virtio"}], "autostart": True, "os_variant": "l26"}


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PVE_TOKEN", SECRET)


def host(port: int, **options: Any) -> HostContext:
    cred = Credential(username=TOKEN_ID, password_env="PVE_TOKEN")
    return HostContext(name="pve1", address="127.0.0.1", platform="linux", port=None, credential=cred,
                       credentials={"pve": cred}, options=PveOptions(port=port, scheme="http", **options), primary=True)


def collect(cls: type[Check], params: dict[str, Any], answers: dict[str, Any] | None = None) -> dict[str, ProbeResult]:
    probes = cls().probes(cls.Params(**params))
    with serving(answers, token=f"{TOKEN_ID}={SECRET}") as server:
        got = PveChannel().collect(host(server.server_address[1]), list(probes.values()))
    return {name: got.results[p.key] for name, p in probes.items()}


def judge(cls: type[Check], params: dict[str, Any], answers: dict[str, Any] | None = None) -> Verdict:
    return run_judge(cls, params, **collect(cls, params, answers))


def test_the_recorded_api_parses_into_the_model():
    inv = _proxmox.parse_inventory(collect(VmConfigured, WEB)["inventory"].stdout)
    assert inv.version == "8.2.4" and [v.name for v in inv.vms] == ["c01-web", "c01-db"]
    web, db = inv.vms
    assert (web.state, web.vcpus, web.memory, web.current_memory, web.autostart) == (
        "running", 2, 2 * 2**30, 2**30, True)
    assert [(d.target, d.device, d.format) for d in web.disks] == [("ide2", "cdrom", None), ("scsi0", "disk", "raw")]
    assert (web.nics[0].mac, web.nics[0].vlans, web.agent.declared) == ("BC:24:11:2A:3B:4C", (10,), True)
    assert (db.state, db.disks[0].format, db.disks[0].bus, db.snapshots, db.agent.declared) == (
        "shut off", "qcow2", "virtio", (), False)
    assert inv.bridge("vmbr0").vlan_filtering and [p.name for p in inv.bridge("vmbr0").ports] == ["eno1"]
    assert inv.pool("local-lvm").type == "lvmthin" and inv.cluster.quorate and inv.cluster.ha[0].name == "c01-web"


def test_vm_conforme_and_non_conforme():
    verdict = judge(VmConfigured, WEB)
    assert verdict.status is Status.CONFORME, verdict.message
    verdict = judge(VmConfigured, WEB | {"vcpus": 4, "nics": [{"bridge": "vmbr0", "vlan": 20}], "autostart": False})
    assert verdict.status is Status.NON_CONFORME
    for said in ("2 vCPU au lieu de 4", "VLAN 10 au lieu de 20", "démarrage automatique activé"):
        assert said in verdict.message, (said, verdict.message)
    assert judge(VmConfigured, WEB | {"vm": "c01-absent"}).status is Status.NON_CONFORME


def test_snapshot_conforme_and_non_conforme():
    params = {"backend": "proxmox", "vm": "c01-web", "name": "avant-maj", "after": "2026-06-15T00:00:00+02:00"}
    assert judge(VmSnapshot, params).status is Status.CONFORME
    assert judge(VmSnapshot, params | {"after": "2026-07-01T00:00:00+02:00"}).status is Status.NON_CONFORME
    assert judge(VmSnapshot, params | {"vm": "c01-db", "after": None}).status is Status.NON_CONFORME


def test_network_conforme_and_non_conforme():
    params = {"backend": "proxmox", "name": "vmbr0", "ports": ["eno1"], "vlans": [10, 20], "vlan_aware": True}
    assert judge(NetworkBridge, params).status is Status.CONFORME
    verdict = judge(NetworkBridge, params | {"name": "vmbr1"})
    assert verdict.status is Status.NON_CONFORME and "ports absents : eno1" in verdict.message


def test_storage_conforme_and_non_conforme():
    params = {"backend": "proxmox", "pool": "local-lvm", "type": "lvmthin", "free": "100G"}
    assert judge(StoragePool, params).status is Status.CONFORME
    verdict = judge(StoragePool, params | {"free": "1T"})
    assert verdict.status is Status.NON_CONFORME and "libres" in verdict.message


def test_guest_agent_conforme_and_non_conforme():
    params = {"backend": "proxmox", "vm": "c01-web"}
    verdict = judge(GuestAgent, params)
    assert verdict.status is Status.CONFORME and "7.2.0" in str(verdict.observed)
    answers = recorded()
    answers["POST /nodes/pve1/qemu/100/agent/ping"] = {"status": 500, "reason": "QEMU guest agent is not running"}
    verdict = judge(GuestAgent, params, answers)
    assert verdict.status is Status.NON_CONFORME and "not running" in str(verdict.observed)
    assert judge(GuestAgent, {"backend": "proxmox", "vm": "c01-db"}).status is Status.NON_CONFORME


def test_cluster_conforme_and_non_conforme():
    params = {"name": "tssr", "nodes": ["pve1", "pve2"], "ha": ["c01-web"]}
    verdict = judge(ClusterHealthy, params)
    assert verdict.status is Status.CONFORME, verdict.message
    answers = recorded()
    answers["GET /cluster/status"]["data"][0]["quorate"] = 0
    answers["GET /cluster/status"]["data"][2]["online"] = 0
    answers["GET /cluster/ha/resources"]["data"][0]["state"] = "stopped"
    verdict = judge(ClusterHealthy, params, answers)
    assert verdict.status is Status.NON_CONFORME
    for said in ("pas de quorum", "nœud pve2 hors ligne", "ressource HA c01-web dans l'état stopped"):
        assert said in verdict.message, (said, verdict.message)
    alone = recorded()
    alone["GET /cluster/status"] = {"data": [{"type": "node", "name": "pve1", "online": 1, "local": 1}]}
    assert judge(ClusterHealthy, {}, alone).status is Status.NON_CONFORME


def test_a_part_the_token_may_not_read_is_erreur_not_non_conforme():
    answers = recorded()
    answers["GET /cluster/ha/resources"] = {"status": 403, "reason": "Permission check failed (/, Sys.Audit)"}
    verdict = judge(ClusterHealthy, {"ha": ["c01-web"]}, answers)
    assert verdict.status is Status.ERREUR and "HA" in verdict.message


def test_a_wrong_token_is_a_credential_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PVE_TOKEN", "not-the-token")
    with serving(token=f"{TOKEN_ID}={SECRET}") as server, pytest.raises(CredentialError, match="401"):
        PveChannel().collect(host(server.server_address[1]), [_proxmox_probe()])


def test_a_password_or_clear_text_off_loopback_is_refused():
    cred = Credential(username="root@pam", password_env="PVE_TOKEN")
    ctx = HostContext(name="pve1", address="127.0.0.1", platform="linux", port=None, credential=cred,
                      credentials={}, options=PveOptions(scheme="http"), primary=True)
    with pytest.raises(CredentialError):
        PveChannel().collect(ctx, [_proxmox_probe()])
    remote = HostContext(name="pve1", address="192.0.2.10", platform="linux", port=None,
                         credential=Credential(username=TOKEN_ID, password_env="PVE_TOKEN"), credentials={},
                         options=PveOptions(scheme="http"), primary=True)
    with pytest.raises(TransportError):
        PveChannel().collect(remote, [_proxmox_probe()])


def test_the_token_reaches_the_api_header_and_nothing_else():
    probes = [*VmConfigured().probes(VmConfigured.Params(**WEB)).values(),
              *GuestAgent().probes(GuestAgent.Params(backend="proxmox", vm="c01-web")).values()]
    with serving(token=f"{TOKEN_ID}={SECRET}") as server:
        got = PveChannel().collect(host(server.server_address[1]), probes)
    assert server.seen and all(auth == f"PVEAPIToken={TOKEN_ID}={SECRET}" for _, auth in server.seen)
    stored = json.dumps([r.model_dump(mode="json") if hasattr(r, "model_dump") else repr(r)
                         for r in got.results.values()]) + repr(got.results) + str(got.login)
    assert SECRET not in stored and TOKEN_ID in str(got.login)
    verdict = run_judge(GuestAgent, {"backend": "proxmox", "vm": "c01-web"},
                        **{name: got.results[p.key] for name, p in GuestAgent().probes(
                            GuestAgent.Params(backend="proxmox", vm="c01-web")).items()})
    assert SECRET not in repr(verdict)


def _proxmox_probe():
    from grader.probes.pve import inventory
    return inventory()
