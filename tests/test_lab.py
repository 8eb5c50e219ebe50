"""The lab: real systemd-nspawn hosts with real sshd, and the demo room's planted state.

The ``lab`` tests boot candidates 01 and 02 of the demo room (03 stays down) once for the
session; they need root and systemd-nspawn, and build the base tree on first use (about a
minute, from the Debian mirror). The last test tears the lab down and checks that nothing
is left. The other tests are pure and run anywhere.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

import paramiko
import pytest

from grader.errors import LabError
from grader.lab import base, demo, glpi, network
from grader.lab.hosts import CGROUP_PREFIX, FLAVORS, PROPAGATE_DIR, HostSpec, Lab, lab_services

BOOTED = {"01": "c01-srv-lin", "02": "c02-srv-lin"}
DOWN_IP = demo.DEMO_ROOM["03"][demo.HOST]
STATUSES = {"conforme", "non_conforme", "injoignable"}

lab_only = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("systemd-nspawn") is None,
    reason="le labo exige root et systemd-nspawn (apt-get install systemd-container)",
)


# --- pure -----------------------------------------------------------------------------------

def test_planted_truth_covers_every_check_for_every_candidate():
    assert set(demo.PLANTED_TRUTH) == set(demo.DEMO_ROOM) == set(demo.DEMO_RUBRIC_NOTES) == {"01", "02", "03"}
    for verdicts in demo.PLANTED_TRUTH.values():
        assert set(verdicts) == set(demo.CHECK_IDS)
        assert set(verdicts.values()) <= STATUSES
    # 03's machines are down; only the shared hypervisor, which is up, says what became of its VM
    assert {k for k, v in demo.PLANTED_TRUTH["03"].items() if v != "injoignable"} <= set(demo.HYPERVISOR_CHECK_IDS)
    assert demo.PLANTED_TRUTH["03"]["vm-web"] == "non_conforme"  # shut off, the rubric wants it running
    # 02's VM: the wrong memory and no snapshot
    assert (demo.PLANTED_TRUTH["02"]["vm-web"], demo.PLANTED_TRUTH["02"]["vm-web-instantane"]) == ("non_conforme",) * 2


def test_demo_specs_match_the_room():
    specs = {s.name: s for s in demo.demo_specs()}
    assert [(s.ip, s.own_hostname, s.boot, s.flavor) for s in specs.values()][:6] == [
        ("10.77.1.10", "srv-lin", True, "linux"), ("10.77.2.10", "srv-lin", True, "linux"),
        ("10.77.3.10", "srv-lin", False, "linux"),
        ("10.77.1.20", "dc", True, "dc"), ("10.77.2.20", "dc", True, "dc"), ("10.77.3.20", "dc", False, "dc")]
    assert all(s.setup is not None for s in specs.values() if s.flavor == "dc" and s.boot)
    for c in ("01", "02", "03"):
        routeur, lan, wan = specs[f"c{c}-routeur"], specs[f"c{c}-pc-lan"], specs[f"c{c}-srv-wan"]
        assert (routeur.flavor, routeur.boot, lan.boot, wan.boot) == ("router", c != "03", c != "03", c != "03")
        n = int(c)
        assert [(k.ifname, k.segment, k.cidr) for k in routeur.links] == [
            ("eth1", f"c{c}-lan", f"10.77.{n}.65/27"), ("eth2", f"c{c}-wan", f"10.77.{n}.129/27")]
        assert lan.links[0].segment == f"c{c}-lan" and wan.links[0].segment == f"c{c}-wan"
        back = ((f"10.77.{n}.192/27", f"10.77.{n}.65"),) if c != "03" else ()  # to the VPN's tunnel network
        assert lan.routes == ((f"10.77.{n}.128/27", f"10.77.{n}.65"),) + back and wan.routes == ()
        assert routeur.tun == wan.tun == (c != "03") and not lan.tun  # OpenVPN server and client
    shared = specs[demo.HYPERVISOR]  # one hypervisor for the room's candidates, each with their own VM on it
    assert (shared.ip, shared.flavor, shared.boot, shared.tun) == (demo.HYPERVISOR_IP, "hypervisor", True, True)
    guests = {g.name: g for g in demo.demo_guests()}
    assert set(guests) == {"c01-web", "c02-web", "c03-web"}
    assert (guests["c01-web"].memory_mib, guests["c01-web"].snapshot, guests["c01-web"].start) == (96, "avant-maj", True)
    assert (guests["c02-web"].memory_mib, guests["c02-web"].snapshot) == (128, None)
    assert not guests["c03-web"].start
    # each candidate's own Zabbix server and IPBX (03's down, like its other machines)
    for c in ("01", "02", "03"):
        zbx, agent, ipbx = specs[f"c{c}-zabbix"], specs[f"c{c}-srv-fic"], specs[f"c{c}-ipbx"]
        n = int(c)
        assert [(s.ip, s.flavor, s.boot) for s in (zbx, agent, ipbx, specs[f"c{c}-accueil"], specs[f"c{c}-bureau"])] \
            == [(f"10.77.{n}.{h}", f, c != "03") for h, f in ((60, "zabbix"), (61, "zabbix-agent"), (25, "voip"),
                                                                (26, "voip"), (27, "voip"))]
        assert (zbx.setup is not None, ipbx.setup is not None) == (c != "03",) * 2  # readiness waited for in the lab
    # each candidate's second VLAN: router between two /27s of its own, a VLAN 10 client, the VLAN 20 witness
    for c in ("01", "02", "03"):
        rt, pc, srv = specs[f"c{c}-rt-vlan"], specs[f"c{c}-pc-10"], specs[f"c{c}-srv-20"]
        n = int(c)
        assert [(s.ip, s.boot) for s in (rt, pc, srv)] == [(f"10.77.{n}.{h}", c != "03") for h in (3, 4, 5)]
        assert [(k.ifname, k.segment, k.cidr) for k in rt.links] == [
            ("eth1", f"c{c}-v10", f"10.77.{n}.161/27"), ("eth2", f"c{c}-v20", f"10.77.{n}.225/27")]
        assert pc.routes == ((f"10.77.{n}.224/27", f"10.77.{n}.161"),)
        assert srv.routes == ((f"10.77.{n}.160/27", f"10.77.{n}.225"),)
    # no two hosts share a management address, no two segments a /27
    assert len({s.ip for s in specs.values()}) == len(specs)
    cidrs = [ipaddress.ip_interface(k.cidr).network for s in specs.values() for k in s.links]
    by_segment = {k.segment: ipaddress.ip_interface(k.cidr).network for s in specs.values() for k in s.links}
    assert set(cidrs) == set(by_segment.values()) and len(set(by_segment.values())) == len(by_segment)


def test_the_demo_roster_names_the_shared_hypervisor():
    import rubrics
    from grader.plugins import default_catalogue
    from grader.roster import load_roster
    from grader.rubric import load_rubric

    rubric = load_rubric(rubrics.demo_rubric(), default_catalogue())
    host = rubric.host("hyperviseur")
    assert host.shared is not None and host.shared.own == "c{{ candidat }}-*"
    roster = load_roster(rubrics.demo_roster(), rubric)
    assert {c.variables["hyperviseur"] for c in roster} == {demo.HYPERVISOR_IP}


def test_links_are_checked():
    from grader.lab.hosts import Link

    for ifname, segment, cidr in (("eth0", "c01-lan", "10.77.1.65/27"), ("eth1", "x" * 12, "10.77.1.65/27"),
                                  ("eth1", "c01-lan", "10.77.1.65"), ("eth1", "c01-lan", "10.78.1.65/27"),
                                  ("eth1", "c01-lan", "10.77.1.64/27"), ("eth1", "c01 lan", "10.77.1.65/27")):
        with pytest.raises(LabError):
            Link(ifname, segment, cidr)
    with pytest.raises(LabError, match="en double"):
        HostSpec("r", "10.77.9.2", links=(Link("eth1", "a", "10.77.9.65/27"), Link("eth1", "b", "10.77.9.129/27")))
    assert network.segment_bridge("c01-lan") == "grs-c01-lan"


def test_flavors_have_their_own_cache_keys_and_unknown_ones_are_refused():
    from grader.lab import samba
    from grader.lab.hosts import FLAVORS

    assert set(FLAVORS) == {"linux", "dc", "router", "hypervisor", "voip", "site-router", "zabbix", "zabbix-agent"}
    assert {"kamailio", "baresip-core"} <= set(FLAVORS["voip"].packages) and FLAVORS["voip"].provision is None
    # the Zabbix server and its agents share one base tree; only the server has a provisioned layer
    assert FLAVORS["zabbix"].packages == FLAVORS["zabbix-agent"].packages and "zabbix-agent" in FLAVORS["zabbix"].packages
    assert FLAVORS["zabbix"].provision is not None and FLAVORS["zabbix-agent"].provision is None
    assert FLAVORS["hypervisor"].provision is not None and "qemu-system-x86" in FLAVORS["hypervisor"].packages
    assert base.cache_key(FLAVORS["router"].packages) != base.cache_key(base.PACKAGES)
    assert base.cache_key(samba.PACKAGES) != base.cache_key(base.PACKAGES)
    assert FLAVORS["dc"].provision is not None and FLAVORS["linux"].provision is None
    assert base.layer_dir(samba.DC).name.startswith("dc-")
    # The Linux base keeps the key it always had: an existing cache is reused, not rebuilt.
    assert base.cache_key() == base.cache_key(base.PACKAGES)
    with pytest.raises(LabError, match="type d'hôte inconnu"):
        HostSpec("x", "10.77.9.9", flavor="windows")


def test_bench_specs():
    specs = demo.bench_specs(16)
    assert [s.name for s in specs[:2]] == ["bench-01", "bench-02"]
    assert specs[-1].ip == "10.77.200.26"
    assert len({s.ip for s in specs}) == 16
    with pytest.raises(LabError):
        demo.bench_specs(0)
    assert demo.bench_specs(100)[-1].name == "bench-100"  # a room at scale (issue #11 §5)
    with pytest.raises(LabError):
        demo.bench_specs(demo.MAX_BENCH_HOSTS + 1)


def test_hostspec_rejects_bad_names_and_addresses():
    for name, ip in (("Srv", "10.77.1.1"), ("a_b", "10.77.1.1"), ("ok", "10.78.0.5"), ("ok", "10.77.0.1"),
                     ("ok", "10.77.255.255"), ("ok", "nope")):
        with pytest.raises(LabError):
            HostSpec(name, ip)


def test_interface_names_fit_the_kernel_limit():
    for host in ("a", "bench-99", "c01-srv-lin", "x" * 32):
        assert len(network.veth_name(host)) <= 15
    assert network.veth_name("bench-01") != network.veth_name("bench-02")


def test_cache_key_ignores_order_and_follows_the_package_list():
    assert base.cache_key(["b", "a"]) == base.cache_key(["a", "b"])
    assert base.cache_key(["a"]) != base.cache_key(["a", "b"])


def test_host_mirror_reads_deb822_and_one_line_sources(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n")
    assert base.host_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert base.host_mirror(tmp_path) == "http://other.example/debian"


# --- real hosts -----------------------------------------------------------------------------

def _ssh(lab: Lab, ip: str) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts_path))  # the fresh host keys the lab recorded at up
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(ip, username="grader", key_filename=str(lab.key_path), look_for_keys=False,
                   allow_agent=False, timeout=10)
    return client


def _run(client: paramiko.SSHClient, command: str) -> tuple[str, str, int]:
    _, out, err = client.exec_command(command, timeout=20)
    return out.read().decode(), err.read().decode(), out.channel.recv_exit_status()


@pytest.mark.lab
@lab_only
def test_systemd_boots_and_sshd_is_active(room):
    lab, info = room
    for name in BOOTED.values():
        assert info[name]["state"] in ("running", "degraded")
        state = lab.nsenter(name, "/usr/bin/systemctl", "is-system-running").stdout.strip()
        assert state in ("running", "degraded"), state
        assert lab.nsenter(name, "/usr/bin/systemctl", "is-active", "ssh").stdout.strip() == "active"
        assert lab.nsenter(name, "/usr/bin/hostname").stdout.strip() == "srv-lin"
    states = {h["name"]: h["state"] for h in lab.status()}
    assert states == {"c01-srv-lin": "running", "c02-srv-lin": "running", "c03-srv-lin": "down",
                      "c01-dc": "running", "c02-dc": "running", "c03-dc": "down",
                      **{f"c{c}-{h}": "down" if c == "03" else "running" for c in ("01", "02", "03")
                         for h in ("routeur", "pc-lan", "srv-wan")},
                      demo.HYPERVISOR: "running",
                      **{f"c{c}-{h}": "down" if c == "03" else "running" for c in ("01", "02", "03")
                         for h in ("zabbix", "srv-fic", "ipbx", "accueil", "bureau", "srv-20", "rt-vlan", "pc-10")}}


@pytest.mark.lab
@lab_only
def test_sshd_answers_with_a_banner_from_the_root_namespace(room):
    _, info = room
    for name in BOOTED.values():
        with socket.create_connection((info[name]["ip"], 22), timeout=5) as sock:
            assert sock.recv(64).startswith(b"SSH-2.0-OpenSSH")


@pytest.mark.lab
@lab_only
def test_lab_key_logs_in_as_grader_with_sudo_and_fresh_host_keys(room):
    lab, info = room
    host_keys = set()
    for name in BOOTED.values():
        client = _ssh(lab, info[name]["ip"])
        try:
            out, err, code = _run(client, "sudo -n /usr/bin/id -u")
            host_keys.add(client.get_transport().get_remote_server_key().get_base64())
        finally:
            client.close()
        assert code == 0, err
        assert out.splitlines()[-1] == "0"  # candidate 02's .bashrc prints a banner first
    assert len(host_keys) == 2
    assert oct(lab.key_path.stat().st_mode & 0o777) == "0o600"


@pytest.mark.lab
@lab_only
def test_candidate_02_tricks_are_really_planted(room):
    lab, info = room
    client = _ssh(lab, info["c02-srv-lin"]["ip"])
    try:
        banner, _, _ = _run(client, "true")  # sshd's bash -c sources ~/.bashrc, interactive or not
        lie, _, _ = _run(client, "systemctl is-active apache2")
        fake_ss, _, _ = _run(client, "ss -Hlnt")
    finally:
        client.close()
    assert "Bienvenue sur srv-lin !" in banner
    assert "active" in lie
    assert ":80 " in fake_ss
    truth = lab.nsenter("c02-srv-lin", "/usr/bin/systemctl", "is-active", "apache2").stdout.strip()
    assert truth == "inactive"
    client = _ssh(lab, info["c01-srv-lin"]["ip"])
    try:
        assert _run(client, "true")[0] == ""
    finally:
        client.close()


@pytest.mark.lab
@lab_only
def test_a_down_host_does_not_answer(room):
    assert not network.netns_path("c03-srv-lin").exists()
    with pytest.raises(OSError):
        socket.create_connection((DOWN_IP, 22), timeout=2).close()


def _leftovers(lab: Lab) -> list[str]:
    left = [f"netns {n}" for n in network.list_netns()] + [f"veth {v}" for v in network.list_veths()]
    if Path("/sys/class/net", network.BRIDGE).exists():
        left.append(f"pont {network.BRIDGE}")
    left += [f"segment {b}" for b in network.list_segments()]
    left += [f"interface {p.name}" for p in Path("/sys/class/net").iterdir()
             if p.name.startswith(("gx-", "gy-", "grs-", "grd-", "gz-"))]
    state_dir = os.path.realpath(lab.state_dir)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4].startswith(state_dir + "/") or " - overlay " in line and "grader" in line:
            left.append(f"montage {fields[4]}")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"systemd-nspawn") and any(b"/run/netns/grlab-" in a for a in argv):
                left.append(f"processus {proc.name}")
    left += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PREFIX}*")]
    left += [f"service {pid}" for pid in lab_services()]  # the demo's GLPI stand-in
    left += [f"GLPI {c}" for c in glpi.SERVING if glpi.accepts(glpi.address(c), glpi.PORT)]
    left += [f"propagate {p}" for p in PROPAGATE_DIR.glob("*-srv-lin")] + [
        f"propagate {p}" for p in PROPAGATE_DIR.glob("c0*-dc")] + [
        f"propagate {p}" for pattern in ("c0*-routeur", "c0*-pc-lan", "c0*-srv-wan") for p in PROPAGATE_DIR.glob(pattern)]
    if lab.hosts_dir.exists() and any(lab.hosts_dir.iterdir()):
        left.append(f"répertoires {lab.hosts_dir}")
    return left


@pytest.mark.lab
@lab_only
def test_down_leaves_nothing_and_can_be_repeated(room):
    """Runs last: it takes the session's lab down."""
    lab, _ = room
    assert all(glpi.accepts(glpi.address(c), glpi.PORT) for c in glpi.SERVING)  # started with the room
    lab.down()
    assert _leftovers(lab) == []
    assert lab.status() == []
    lab.down()
    assert _leftovers(lab) == []
    assert lab.key_path.exists()
    assert any(base.DEFAULT_CACHE.glob("base-*/root"))
    assert any(base.DEFAULT_CACHE.glob("dc-*/layer"))  # the provisioned DC layer is kept too
    assert base.base_root(packages=FLAVORS["router"].packages).is_dir()  # and the router's base tree


def test_hosts_boot_in_waves_each_ready_before_the_next_starts(tmp_path: Path, monkeypatch) -> None:
    """No more than ``wave`` hosts boot at once (two cores cannot boot 64 within a fixed deadline),
    in the specs' order, and a host's readiness deadline starts with its own wave."""
    from grader.lab import hosts as lab_hosts

    lab = Lab(tmp_path / "state", cache_dir=tmp_path / "cache")
    specs = demo.bench_specs(40)
    booting: set[str] = set()
    most = 0
    launched: list[str] = []

    def launch(spec):
        nonlocal most
        launched.append(spec.name)
        booting.add(spec.name)
        most = max(most, len(booting))
        return 4242

    def ready(spec, pid, started, timeout, progress):
        booting.discard(spec.name)
        return 1, "running"

    monkeypatch.setattr(lab_hosts.os, "geteuid", lambda: 0)
    monkeypatch.setattr(lab_hosts, "ensure_flavor", lambda *a, **k: [tmp_path / "layer"])
    monkeypatch.setattr(lab_hosts, "_lab_nspawns", list)
    monkeypatch.setattr(lab_hosts, "network", type("N", (), {k: staticmethod(lambda *a, **kw: None) for k in
                                                             ("ensure_bridge", "setup_host", "setup_link", "add_route")}))
    monkeypatch.setattr(Lab, "down", lambda self: None)
    monkeypatch.setattr(Lab, "ensure_key", lambda self: _fake_key(tmp_path))
    monkeypatch.setattr(Lab, "_prepare", lambda self, *a: None)
    monkeypatch.setattr(Lab, "_launch", lambda self, spec: launch(spec))
    monkeypatch.setattr(Lab, "_wait_ready", lambda self, *a: ready(*a))
    monkeypatch.setattr(Lab, "_write_known_hosts", lambda self, booted: None)
    monkeypatch.setattr(lab_hosts, "raise_kernel_limits", lambda hosts: [])
    lab.up(specs, wave=16)
    assert launched == [s.name for s in specs] and most == 16


def _fake_key(tmp_path: Path) -> Path:
    key = tmp_path / "id"
    key.write_text("k")
    key.with_name("id.pub").write_text("ssh-ed25519 AAAA test\n")
    return key


def test_kernel_limits_are_raised_for_the_room_and_never_lowered(tmp_path: Path) -> None:
    from grader.lab.hosts import raise_kernel_limits

    (tmp_path / "max_user_instances").write_text("128\n")
    (tmp_path / "max_user_watches").write_text("1000000\n")
    changed = raise_kernel_limits(100, root=tmp_path)
    assert changed == ["fs.inotify.max_user_instances 128 → 1728"]
    assert (tmp_path / "max_user_instances").read_text() == "1728\n"
    assert (tmp_path / "max_user_watches").read_text() == "1000000\n"
    assert raise_kernel_limits(4, root=tmp_path) == []
