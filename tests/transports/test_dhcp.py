"""The dhcp channel against real dnsmasq servers, on a segment of this test's own.

A bridge, one network namespace per DHCP server (dnsmasq, the router flavor's, bound to the
namespace's ``eth1``) and a grader leg made like the lab's (a veth without IPv4 address whose
inner end stays in the test's namespace). Names start with ``grt-``, out of reach of the
lab's own sweep (``lab down`` removes ``grlab-*``, ``gv-*``, ``gx-*``, ``grs-*``, ``grd-*``):
this test does not need the lab lock. dnsmasq runs in debug mode (no fork, no pid file, log
on stderr) with its lease file disabled, so the router's base tree it is chrooted into is
only read. dnsmasq's own log proves the exchange was a DISCOVER and an OFFER, no REQUEST.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.network.dhcp import DhcpOffer
from grader.check import evaluate
from grader.model import Status
from grader.probes.dhcp import discover
from grader.transports.base import HostContext
from grader.transports.dhcp import DhcpChannel, interface_problem, random_mac, run, transaction

BRIDGE, LEG, LEG_PORT = "grt-dhcpbr", "grt-leg", "grt-legp"
LAN = "10.77.250.64/27"
SERVERS = {"a": "10.77.250.65", "b": "10.77.250.66"}  # b: a second (rogue) server on the same LAN

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and raw sockets need root")


def dnsmasq_argv() -> list[str] | None:
    """dnsmasq from PATH, or the router lab flavor's base tree (run in a chroot)."""
    found = shutil.which("dnsmasq")
    if found:
        return [found]
    from grader.lab.base import DEFAULT_CACHE, base_root
    from grader.lab.router import ROUTER

    roots = [base_root(packages=ROUTER.packages)] + sorted(DEFAULT_CACHE.glob("base-*/root"))
    for root in roots:
        if (root / "usr/sbin/dnsmasq").is_file():
            return ["chroot", str(root), "/usr/sbin/dnsmasq"]
    return None


def ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


def _clean() -> None:
    for name in (LEG, "grt-da", "grt-db", BRIDGE):
        subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)
    for server in SERVERS:
        subprocess.run(["ip", "netns", "del", f"grt-dhcp-{server}"], check=False, capture_output=True)


class Segment:
    """The test's LAN: a bridge, the grader's leg, DHCP servers started on demand."""

    def __init__(self, argv: list[str]):
        self.argv = argv
        self.servers: dict[str, tuple[subprocess.Popen[str], Path]] = {}

    def start(self, server: str, router: str, log_dir: Path) -> None:
        ns, outer = f"grt-dhcp-{server}", f"grt-d{server}"
        ip("netns", "add", ns)
        ip("link", "add", outer, "type", "veth", "peer", "name", outer + "i")
        ip("link", "set", outer + "i", "netns", ns)
        ip("-n", ns, "link", "set", outer + "i", "name", "eth1")
        ip("-n", ns, "addr", "add", f"{SERVERS[server]}/27", "dev", "eth1")
        ip("-n", ns, "link", "set", "eth1", "up")
        ip("link", "set", outer, "master", BRIDGE, "up")
        first, last = (".80", ".90") if server == "a" else (".91", ".94")
        net = "10.77.250"
        log = log_dir / f"dnsmasq-{server}.log"
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *self.argv, "--no-daemon", "--conf-file=/dev/null", "--port=0",
             "--interface=eth1", "--bind-interfaces", f"--dhcp-range={net}{first},{net}{last},255.255.255.224,600",
             f"--dhcp-option=option:router,{router}", f"--dhcp-option=option:dns-server,{SERVERS[server]}",
             "--dhcp-option=option:domain-name,tssr.lan", "--no-ping", "--leasefile-ro", "--dhcp-authoritative",
             "--log-facility=-"], stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
        self.servers[server] = (proc, log)
        for _ in range(50):  # ready when it says its sockets are bound
            if "sockets bound" in log.read_text() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, log.read_text()

    def log(self, server: str) -> str:
        return self.servers[server][1].read_text()

    def stop(self) -> None:
        for proc, _ in self.servers.values():
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def segment(tmp_path: Path) -> Iterator[Segment]:
    argv = dnsmasq_argv()
    if argv is None:
        pytest.skip("no dnsmasq on PATH nor in a lab base tree (build the router flavor: grader lab up)")
    _clean()
    seg = Segment(argv)
    try:
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("link", "set", BRIDGE, "up")
        ip("link", "add", LEG, "type", "veth", "peer", "name", LEG_PORT)
        Path(f"/proc/sys/net/ipv6/conf/{LEG}/disable_ipv6").write_text("1")
        ip("link", "set", LEG_PORT, "master", BRIDGE, "up")
        ip("link", "set", LEG, "up")
        yield seg
    finally:
        seg.stop()
        _clean()


def _judge(**params) -> tuple:
    p = DhcpOffer.Params(**{"interface": LEG, "range_start": "10.77.250.80", "range_end": "10.77.250.90",
                            "router": SERVERS["a"], "dns": [SERVERS["a"]], "domain": "tssr.lan",
                            "lease_time": 600, "wait": 1, **params})
    probe = DhcpOffer().probes(p)["offre"]
    result = run(probe)
    assert result.error is None, result.error
    return evaluate(DhcpOffer(), p, {"offre": result}), result


def test_one_discover_one_offer_and_no_lease_taken(segment: Segment, tmp_path: Path):
    segment.start("a", SERVERS["a"], tmp_path)
    record = transaction(LEG, 1.0)
    assert record["request_sent"] is False
    [offer] = record["offers"]
    assert offer["server_id"] == SERVERS["a"] and offer["yiaddr"].startswith("10.77.250.")
    assert offer["options"]["router"] == [SERVERS["a"]] and offer["options"]["name_server"] == [SERVERS["a"]]
    assert offer["options"]["domain"] == "tssr.lan" and offer["options"]["lease_time"] == 600
    log = segment.log("a")
    assert f"DHCPDISCOVER(eth1) {record['client_mac']}" in log and "DHCPOFFER(eth1)" in log
    assert "DHCPREQUEST" not in log and "DHCPACK" not in log  # read-only: no lease was asked for
    again = transaction(LEG, 0.5)
    assert (again["client_mac"], again["xid"]) != (record["client_mac"], record["xid"])  # fresh per run


def test_the_check_through_the_channel(segment: Segment, tmp_path: Path):
    segment.start("a", SERVERS["a"], tmp_path)
    verdict, result = _judge()
    assert verdict.status is Status.CONFORME, verdict
    assert result.exit_code == 0 and json.loads(result.stdout)["offers"]
    verdict, _ = _judge(router="10.77.250.1")
    assert verdict.status is Status.NON_CONFORME and "passerelle 10.77.250.65 au lieu de 10.77.250.1" in verdict.message
    host = HostContext(name="routeur", address=SERVERS["a"], platform="linux", port=None, credential=None,
                       credentials={}, options=None)
    probe = discover(LEG, 0.5)
    collected = DhcpChannel().collect(host, [probe])
    assert collected.results[probe.key].exit_code == 0 and collected.execs == 1


def test_a_second_server_on_the_lan_is_seen(segment: Segment, tmp_path: Path):
    segment.start("a", SERVERS["a"], tmp_path)
    segment.start("b", "10.77.250.1", tmp_path)
    verdict, result = _judge(server=SERVERS["a"], wait=1.5)
    servers = {o["server_id"] for o in json.loads(result.stdout)["offers"]}
    assert servers == {SERVERS["a"], SERVERS["b"]}
    assert verdict.status is Status.NON_CONFORME and SERVERS["b"] in verdict.message
    verdict, _ = _judge(server=SERVERS["a"], exclusive=False, wait=1.5)
    assert verdict.status is Status.CONFORME and f"autre serveur présent : {SERVERS['b']}" in verdict.message


def test_silence_on_a_working_leg_is_no_offer(segment: Segment):
    verdict, result = _judge(wait=0.5)
    assert result.exit_code == 1
    assert verdict.status is Status.NON_CONFORME and "aucune offre DHCP en 0.5 s" in verdict.observed


def test_a_missing_or_unplugged_leg_is_an_error_not_a_silence(segment: Segment):
    assert "absente" in run(discover("grt-nope", 0.2)).error
    ip("link", "set", LEG_PORT, "down")
    try:
        result = run(discover(LEG, 0.2))
    finally:
        ip("link", "set", LEG_PORT, "up")
    assert result.error and "sans lien" in result.error
    assert interface_problem("a/b") is not None


def test_without_cap_net_raw_the_probe_says_why(segment: Segment):
    code = ("import json; from grader.probes.dhcp import discover; from grader.transports.dhcp import run; "
            f"print(json.dumps(run(discover({LEG!r}, 0.2)).error))")
    proc = subprocess.run(["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", sys.executable, "-c", code],
                          check=False, capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert "CAP_NET_RAW" in json.loads(proc.stdout.strip().splitlines()[-1])


def test_random_macs_are_locally_administered_unicast():
    for _ in range(50):
        first = int(random_mac().split(":")[0], 16)
        assert first & 0x02 and not first & 0x01
