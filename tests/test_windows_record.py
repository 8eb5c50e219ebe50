"""``grader windows record`` and ``replay`` (issue #16): real outputs, from the people who have Windows.

Against the WS-Man stand-in (the real pywinrm client, a real socket): ``record`` runs the recording
rubric's probes and the OS facts probe in one batch and writes a bundle; ``replay`` accepts it
(exit 0); a stand-in that serves the bundle answers a second ``record`` with the same records. A
tampered record is listed and refused (exit 1); the bundle holds no password; a huge or hostile
bundle is refused without being read whole (exit 2).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import windows_record as wr
from grader.bundle import BundleError
from grader.plugins import default_catalogue
from grader.rubric import load_rubric
from grader.transports import psenvelope
from tests.winrm_standin import Standin, WindowsHost
from tests.winrm_standin.recordings import bundles

PASSWORD = "Mot-de-passe-Très-2024!"
USER = "formateur-enreg"
# What the documentation-derived recordings answer, per (entry of rubrics/windows-record.yaml, probe name).
ANSWERS = {
    ("service-dns", "service"): "get_service_dns_running",
    ("role-dhcp", "feature"): "get_windowsfeature_dhcp_installed",
    ("dhcp-lan", "scope"): "get_dhcpserverv4scope_lan",
    ("dhcp-lan", "service"): "get_service_dhcpserver_running",
    ("dhcp-lan", "options"): "get_dhcpserverv4optionvalue_none",
    ("dhcp-lan", "reservations"): "get_dhcpserverv4reservation_lan",
    ("zone-tssr", "zone"): "get_dnsserverzone_tssr_lan",
    ("zone-tssr", "service"): "get_service_dns_running",
    ("dns-apex", "records"): "get_dnsserverresourcerecord_apex_a",
    ("dns-apex", "service"): "get_service_dns_running",
    ("dns-srv", "records"): "get_dnsserverresourcerecord_name_missing",
    ("dns-srv", "service"): "get_service_dns_running",
    ("partage-commun", "share"): "get_smbshare_commun",
    ("partage-commun", "access"): "get_smbshareaccess_commun",
    ("partage-commun", "ntfs"): "get_acl_commun",
    ("tache-powershell", "task"): "get_scheduledtask_sauvegarde_daily_sid",
    ("tache-schtasks", "task"): "get_scheduledtask_sauvegarde_daily_fr",
    ("tache-console", "task"): "get_scheduledtask_not_found",
    ("script-sauvegarde", "script"): "script_documented",
    ("script-sauvegarde", "tasks"): "tasks_running_script",
    ("wsus", "policy"): "wsus_policy_configured",
    ("sauvegarde-wsb", "sets"): "get_wbbackupset_two_versions",
    ("hyperv-vm", "inventory"): "hyperv_inventory_lab",
    ("hyperv-point-controle", "inventory"): "hyperv_inventory_lab",
    ("hyperv-commutateur", "inventory"): "hyperv_inventory_lab",
    ("hyperv-volume", "inventory"): "hyperv_inventory_lab",
    ("hyperv-agent", "inventory"): "hyperv_inventory_lab",
    ("hyperv-agent", "agent"): "hyperv_agent_web_fr",
}


def grader(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "GRADER_LANG")}
    base["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], check=False, capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=timeout)


def documented_host() -> WindowsHost:
    """A French Windows Server 2022 as the documentation-derived recordings play it."""
    host = WindowsHost("srv-modele").answer(wr.OS_FACTS.command, "os_facts_ws2022_fr")
    plan = wr.plan_recording(load_rubric(wr.default_rubric()), default_catalogue())
    for check in plan.checks:
        for name, probe in check.probes.items():
            host.answer(probe.command, ANSWERS[(check.id, name)])
    return host


def record(standin: Standin, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return grader("windows", "record", "127.0.0.1", "--port", str(standin.port), "--username", USER,
                  "--password-env", "GRADER_TEST_RECORD", "--label", "ws2022-fr-modele", "-o", str(out), *extra,
                  env={"GRADER_TEST_RECORD": PASSWORD})


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One bundle recorded against the stand-in (shared: each record is a real WinRM exchange)."""
    out = tmp_path_factory.mktemp("record") / "ws2022-fr.json"
    host = documented_host()
    with Standin(host, users={USER: PASSWORD}, auth=("ntlm",)) as standin:
        result = record(standin, out)
        actions = list(standin.actions)
    assert result.returncode == 0, result.stdout + result.stderr
    assert host.unknown == []
    return out, result, actions


def test_record_runs_every_probe_in_one_batch_and_writes_the_bundle(recorded):
    out, result, actions = recorded
    assert actions.count("Create") == 1 and actions.count("Command") == 1 and actions.count("Delete") == 1
    bundle = json.loads(out.read_text(encoding="utf-8"))
    assert bundle["format"] == wr.FORMAT and bundle["label"] == "ws2022-fr-modele" and bundle["complete"] is True
    assert bundle["os"] == {"caption": "Microsoft Windows Server 2022 Standard", "version": "10.0.20348",
                            "build": "20348", "os_language": "1036", "culture": "fr-FR", "ui_culture": "fr-FR",
                            "powershell": "5.1.20348.2582"}
    assert bundle["recorded"].endswith("+00:00")
    checks = {c["check"] for c in bundle["checks"]}
    winrm_types = {cid for cid, cls in default_catalogue().items() if cls.transport == "winrm"}
    hyperv = {"hypervisor.vm", "hypervisor.snapshot", "hypervisor.network", "hypervisor.storage", "hypervisor.guest_agent"}
    assert checks == winrm_types | hyperv, "one instance of every installed WinRM check, and the Hyper-V back-end's"
    probes = bundle["probes"]
    assert probes[0]["command"] == wr.OS_FACTS.command and probes[0]["checks"] == ["(os)"]
    assert [p["index"] for p in probes] == list(range(len(probes)))
    assert len({p["command"] for p in probes}) == len(probes), "each probe once"
    for probe in probes:
        record = json.loads(base64.b64decode(probe["raw"]))
        assert record == probe["record"] and record["i"] == probe["index"] and record["k"] == probe["key"]
        assert psenvelope.record_problems(record) == []
    apex = next(p for p in probes if "dns-apex" in p["checks"] and "Get-DnsServerResourceRecord" in p["command"])
    assert "-Name '@'" in apex["command"]
    assert [m["name"] for m in bundle["modules"][0]["modules"]] == ["DnsServer", "DhcpServer", "ScheduledTasks",
                                                                    "ServerManager", "SmbShare"]
    assert "ws2022-fr.json" in result.stdout and "grader windows replay" in result.stdout
    assert out.stat().st_mode & 0o077 == 0, "the server's answers are the trainer's: mode 0600"


def test_the_bundle_holds_no_secret(recorded):
    out, _, _ = recorded
    data = out.read_bytes()
    for form in (PASSWORD.encode(), PASSWORD.encode("utf-16-le"), base64.b64encode(PASSWORD.encode()),
                 json.dumps(PASSWORD).encode(), b"GRADER_TEST_RECORD", b"127.0.0.1"):
        assert form not in data
    assert USER.encode() not in data, "no account name either"


def test_replay_accepts_the_recording_and_judges_every_check(recorded):
    out, _, _ = recorded
    result = grader("windows", "replay", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    n = len(json.loads(out.read_text(encoding="utf-8"))["probes"])
    assert f"Les {n} enregistrements ont été acceptés par la grammaire des sondes." in result.stdout
    assert "ws2022-fr-modele" in result.stdout and "Windows Server 2022" in result.stdout
    assert "Modules PowerShell importés en 0.0 s : DnsServer ok 0.0 s" in result.stdout
    assert "n'est pas allé à son terme" not in result.stdout
    for entry in ("service-dns", "dhcp-lan", "dns-apex", "partage-commun", "tache-console", "wsus"):
        assert entry in result.stdout
    english = grader("windows", "replay", str(out), "--lang", "en")
    assert english.returncode == 0 and "records were accepted by the probe grammar" in english.stdout
    document = wr.read_bundle(out)
    replayed = wr.replay(document, default_catalogue())
    assert replayed.refused == [] and replayed.accepted == len(document["probes"])
    statuses = {row.check: row.status.value for row in replayed.rows if row.status is not None}
    assert len(statuses) == len(document["checks"]), [row.note for row in replayed.rows]
    assert statuses["service-dns"] == "conforme" and statuses["tache-console"] == "non_conforme"


def test_a_standin_serving_the_bundle_gives_the_same_records(recorded, tmp_path):
    out, _, _ = recorded
    served = WindowsHost.from_bundle(out)
    assert all("ws2022-fr-modele" in r.origin and "Windows Server 2022" in r.origin for r in served.recordings.values())
    again = tmp_path / "again.json"
    with Standin(served, users={USER: PASSWORD}, auth=("ntlm",)) as standin:
        result = record(standin, again)
    assert result.returncode == 0, result.stdout + result.stderr
    assert served.unknown == []
    first, second = (json.loads(p.read_text(encoding="utf-8")) for p in (out, again))
    assert [(p["command"], p["raw"]) for p in second["probes"]] == [(p["command"], p["raw"]) for p in first["probes"]]
    assert second["os"] == first["os"]


def test_a_tampered_record_is_listed_and_refused(recorded, tmp_path):
    out, _, _ = recorded
    bundle = json.loads(out.read_text(encoding="utf-8"))
    probes = bundle["probes"]
    # 1: not base64; 2: a record whose key is another probe's; 3: a field of the wrong type.
    probes[1]["raw"] = "!!pas du base64!!"
    record = dict(probes[2]["record"], k=probes[3]["key"])
    probes[2]["raw"] = base64.b64encode(json.dumps(record).encode()).decode()
    record = dict(probes[3]["record"], trunc="non", status="perdu")
    probes[3]["raw"] = base64.b64encode(json.dumps(record).encode()).decode()
    probes[3]["record"] = record
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(bundle), encoding="utf-8")
    result = grader("windows", "replay", str(tampered))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 réponse(s) refusée(s)" in result.stdout
    assert "sonde 1 " in result.stdout and "enregistrement illisible pour la sonde 1" in result.stdout
    assert "enregistrement de la sonde 2 incohérent" in result.stdout
    assert "champ trunc de type inattendu" in result.stdout and "statut de sonde inconnu : 'perdu'" in result.stdout
    english = grader("windows", "replay", str(tampered), "--lang", "en")
    assert english.returncode == 1 and "3 answer(s) refused" in english.stdout
    assert "field trunc of an unexpected type" in english.stdout


def test_an_output_the_judge_cannot_read_is_refused(recorded):
    out, _, _ = recorded
    bundle = json.loads(out.read_text(encoding="utf-8"))
    probe = next(p for p in bundle["probes"] if p["checks"] == ["wsus"])
    record = dict(probe["record"], out="WUServer : http://srv-wsus (pas du JSON)")
    probe["raw"] = base64.b64encode(json.dumps(record).encode()).decode()
    probe["record"] = record
    replayed = wr.replay(bundle, default_catalogue())
    assert [(r.probe, r.check) for r in replayed.refused] == [(None, "wsus")]
    assert "sortie illisible" in replayed.refused[0].reasons[0]


def test_a_huge_or_hostile_bundle_is_refused_without_reading_it_whole(tmp_path, monkeypatch):
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(wr.MAX_BYTES + 1)
    opened: list[int] = []
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: opened.append(1) or real_read(self))
    with pytest.raises(BundleError, match="paquet refusé"):
        wr.read_bundle(huge)
    assert opened == []
    nested = tmp_path / "nested.json"
    nested.write_text('{"format": "grader-windows-recording/1", "probes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(BundleError):
        wr.read_bundle(nested)
    many = tmp_path / "many.json"
    many.write_text(json.dumps({"format": wr.FORMAT, "checks": [], "probes": [{}] * (wr.MAX_PROBES + 1)}))
    with pytest.raises(BundleError, match="au plus 2000"):
        wr.read_bundle(many)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": wr.FORMAT, "checks": [{"id": 1}], "probes": [
        {"index": 0, "key": "k", "command": "x" * (wr.MAX_COMMAND + 1), "timeout": 1e9, "raw": "A" * (wr.MAX_RAW + 1)}]}))
    with pytest.raises(BundleError) as caught:
        wr.read_bundle(bad)
    assert len(caught.value.problems) == 4, caught.value.problems
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "grader-bundle/1"}))
    for path in (huge, nested, many, bad, other, tmp_path / "absent.json"):
        result = grader("windows", "replay", str(path))
        assert result.returncode == 2, (path, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr


def test_record_exit_codes_and_account_errors(tmp_path):
    out = tmp_path / "x.json"
    neither = grader("windows", "record", "127.0.0.1", "-o", str(out))
    assert neither.returncode == 2 and "--credential" in neither.stderr
    both = grader("windows", "record", "127.0.0.1", "--credential", "enregistrement", "--username", "grader",
                  "--password-env", "X", "-o", str(out))
    assert both.returncode == 2
    unknown = grader("windows", "record", "127.0.0.1", "--credential", "inconnu", "-o", str(out))
    assert unknown.returncode == 2 and "enregistrement" in unknown.stderr
    no_password = grader("windows", "record", "127.0.0.1", "--credential", "enregistrement", "-o", str(out))
    assert no_password.returncode == 2 and "GRADER_WINRM_PASSWORD" in no_password.stderr
    kerberos = grader("windows", "record", "127.0.0.1", "--username", "grader", "--password-env", "X",
                      "--auth", "kerberos", "-o", str(out), env={"X": PASSWORD})
    assert kerberos.returncode == 2 and "kdc" in kerberos.stderr
    with Standin(documented_host(), users={USER: PASSWORD}, auth=("ntlm",)) as standin:
        refused = grader("windows", "record", "127.0.0.1", "--port", str(standin.port), "--username", USER,
                         "--password-env", "X", "-o", str(out), env={"X": "mauvais"})
    assert refused.returncode == 2 and "authentification refusée" in refused.stderr
    assert not out.exists()


def test_the_password_in_an_answer_stops_the_bundle(tmp_path):
    document = {"format": wr.FORMAT, "probes": [{"record": {"out": f"net use x: /user:grader {PASSWORD}"}}]}
    with pytest.raises(BundleError):
        wr.write_bundle(document, tmp_path / "x.json", secrets=[PASSWORD])
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("bundle", bundles(), ids=lambda p: p.stem)
def test_every_bundle_a_trainer_sent_back_replays(bundle):
    """A bundle in tests/winrm_standin/bundles/ is a fixture whose origin is that machine: it must replay."""
    document = wr.read_bundle(bundle)
    replayed = wr.replay(document, default_catalogue())
    assert replayed.refused == [], replayed.refused


def test_a_batch_cut_short_is_said_and_its_missing_records_refused(recorded, tmp_path):
    out, _, _ = recorded
    bundle = json.loads(out.read_text(encoding="utf-8"))
    bundle["complete"] = False
    bundle["probes"][-1]["raw"] = bundle["probes"][-1]["record"] = None
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(bundle), encoding="utf-8")
    result = grader("windows", "replay", str(cut))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "n'est pas allé à son terme" in result.stdout and "aucun cadre R enregistré" in result.stdout
    assert bundle["probes"][-1]["checks"] == ["hyperv-agent"], "the rubric's last entry's own probe is the last one"
    assert "hyperv-agent (hypervisor.guest_agent)" in result.stdout and "non jugée : sonde(s) agent" in result.stdout
