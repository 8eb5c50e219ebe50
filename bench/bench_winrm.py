#!/usr/bin/env python3
"""Benchmark: grader's WinRM batch (one shell, one PowerShell run per host) vs one ``run_ps`` per check.

    python bench/bench_winrm.py --hosts 16 --probes 30 --rounds 5

Everything runs on 127.0.0.1: the Windows hosts are the test stand-in (tests/winrm_standin),
one HTTP server per host, in a **separate process** so that client and servers do not share
a GIL; the client is the real pywinrm (NTLM with message encryption over http by default,
``--auth basic`` for Basic). Each probe is answered from a recording (no PowerShell runs, so
``--probe-delay`` adds a simulated execution time per probe and ``--startup`` the start time
of ``powershell.exe``, about half a second for Windows PowerShell 5.1). Measured, medians of
``--rounds`` rounds:

* **floor**: one host, one probe, through grader's channel: what one round trip per host costs
  (TCP, authentication, Create, Command, Send, Receive, Signal, Delete);
* **batch**: one host, N probes, through grader's channel (one shell, one command);
* **run_ps**: the same N probes as N ``winrm.Session.run_ps`` calls, pywinrm's usual way (each
  opens a shell, runs ``powershell -encodedcommand``, closes the shell and its session);
* **room**: H hosts × N probes through grader's channel, H threads (the runner's pool);
  the issue's target is room ≤ 1.5 × floor.

The probes are real ones from the Windows pack (services, DNS records, shares, tasks, features).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "Mot-de-passe-1"


def bench_probes(n: int):
    """N distinct probes of the Windows pack, each with the recording that answers it."""
    from checks.windows.dns import DnsRecord
    from checks.windows.features import FeatureInstalled
    from checks.windows.services import ServiceRunning
    from checks.windows.shares import SmbShare
    from checks.windows.tasks import ScheduledTask

    makers = [
        lambda i: (ServiceRunning().probes(ServiceRunning.Params(service=f"Service{i}"))["service"],
                   "get_service_spooler_running"),
        lambda i: (DnsRecord().probes(DnsRecord.Params(zone="tssr.lan", name=f"poste{i}"))["records"],
                   "get_dnsserverresourcerecord_intranet_a"),
        lambda i: (SmbShare().probes(SmbShare.Params(share=f"Partage{i}", group="Comptabilité", share_access="change",
                                                     ntfs_access="modify"))["access"], "get_smbshareaccess_commun"),
        lambda i: (ScheduledTask().probes(ScheduledTask.Params(task=f"Tâche {i}"))["task"],
                   "get_scheduledtask_sauvegarde_daily"),
        lambda i: (FeatureInstalled().probes(FeatureInstalled.Params(feature=f"Feature-{i}"))["feature"],
                   "get_windowsfeature_dhcp_installed"),
    ]
    return [makers[i % len(makers)](i) for i in range(n)]


def serve(hosts: int, n: int, auth: str, delay: float, startup: float, ports, stop) -> None:
    """Child process: H stand-in servers answering the N probes."""
    from dataclasses import replace

    from tests.winrm_standin import Standin, WindowsHost, load

    servers = []
    for h in range(hosts):
        host = WindowsHost(f"srv-{h:02d}", startup=startup)
        for probe, name in bench_probes(n):
            host.answer(probe.command, replace(load(name), delay=delay))
        servers.append(Standin(host, auth=(auth,), users={"grader": PASSWORD}).start())
    for s in servers:
        ports.put(s.port)
    stop.wait()
    for s in servers:
        s.stop()


def grade(port: int, probes, auth: str):
    from grader.credentials import PasswordSecret
    from grader.transports.winrm import WinrmTarget, run_batch

    answer = run_batch(WinrmTarget("127.0.0.1", port, auth=auth), PasswordSecret("grader", PASSWORD), probes)
    assert answer.parsed.complete and all(r.ok for r in answer.parsed.results.values()), answer.parsed.anomalies
    return answer


def run_ps_each(port: int, probes, auth: str) -> None:
    import winrm

    session = winrm.Session(f"http://127.0.0.1:{port}/wsman", auth=("grader", PASSWORD), transport=auth)
    for probe in probes:
        response = session.run_ps(probe.command)
        assert response.status_code == 0 and response.std_out, response


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def child_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the stand-in process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--auth", choices=("ntlm", "basic"), default="ntlm")
    parser.add_argument("--probe-delay", type=float, default=0.0, help="simulated PowerShell time per probe (s)")
    parser.add_argument("--startup", type=float, default=0.0, help="simulated powershell.exe start time (s)")
    args = parser.parse_args()

    ctx = multiprocessing.get_context("fork")
    ports, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=serve, args=(args.hosts, args.probes, args.auth, args.probe_delay, args.startup, ports, stop),
                        daemon=True)
    child.start()
    try:
        host_ports = [ports.get(timeout=60) for _ in range(args.hosts)]
        probes = [p for p, _ in bench_probes(args.probes)]
        for _ in range(3):  # warm-up: imports, first NTLM contexts, connection pools
            grade(host_ports[0], probes, args.auth)
            grade(host_ports[0], probes[:1], args.auth)
        actions = grade(host_ports[0], probes, args.auth).actions
        results: dict[str, list[float]] = {"floor": [], "batch": [], "run_ps": [], "room": []}
        cpu_client: list[float] = []
        cpu_server: list[float] = []
        with ThreadPoolExecutor(max_workers=args.hosts) as pool:
            for _ in range(args.rounds):
                results["floor"].append(timed(lambda: grade(host_ports[0], probes[:1], args.auth)))
                results["batch"].append(timed(lambda: grade(host_ports[0], probes, args.auth)))
                c0, s0 = time.process_time(), child_cpu(child.pid)
                results["room"].append(timed(lambda: list(pool.map(lambda p: grade(p, probes, args.auth),
                                                                   host_ports))))
                cpu_client.append(time.process_time() - c0)
                cpu_server.append(child_cpu(child.pid) - s0)
                results["run_ps"].append(timed(lambda: run_ps_each(host_ports[0], probes, args.auth)))
    finally:
        stop.set()
        child.join(timeout=10)
    med = {k: statistics.median(v) for k, v in results.items()}
    client = statistics.median(cpu_client) / args.hosts * 1000
    server = statistics.median(cpu_server) / args.hosts * 1000
    print(f"WinRM stand-in on 127.0.0.1 ({os.cpu_count()} CPUs), pywinrm, auth {args.auth}"
          + (" with message encryption" if args.auth == "ntlm" else "")
          + f", {args.probes} probes, simulated PowerShell: {args.startup * 1000:g} ms to start, "
          f"{args.probe_delay * 1000:g} ms per probe; medians of {args.rounds} rounds")
    print(f"  floor  1 host × 1 probe, 1 PowerShell run            {med['floor'] * 1000:8.1f} ms")
    print(f"  batch  1 host × {args.probes} probes, 1 PowerShell run          {med['batch'] * 1000:8.1f} ms"
          f"   ({actions} WS-Management requests)")
    print(f"  run_ps 1 host × {args.probes} run_ps, one shell per check     {med['run_ps'] * 1000:8.1f} ms"
          f"   ({med['run_ps'] / med['batch']:.1f}× batch, {med['run_ps'] / args.probes * 1000:.1f} ms per check)")
    print(f"  room   {args.hosts} hosts × {args.probes} probes, {args.hosts} threads          {med['room'] * 1000:8.1f} ms"
          f"   ({med['room'] / med['batch']:.2f}× batch, {med['room'] / med['floor']:.2f}× floor)")
    print(f"  CPU per host in the room: grader {client:.1f} ms, stand-in {server:.1f} ms "
          f"(both on this machine: the room cannot take less than {(client + server) * args.hosts / (os.cpu_count() or 1):.0f} ms here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
