#!/usr/bin/env python3
"""Benchmark: the hypervisor checks of a cluster of four candidates, on a real libvirt, vs. the floor.

    flock /run/grader-lab.lock python bench/bench_hypervisor.py --rounds 5

The exam gives each cluster of (at most) four candidates one hypervisor; each candidate has their
own VM on it (``cNN-web``). This boots one lab host of the ``hypervisor`` flavor (libvirt, QEMU
TCG, tiny guests) at 10.77.211.10 with the four candidates' VMs running, then, ``--rounds`` times,
interleaved:

* **shared**: the rubric's hypervisor host marked ``shared`` (``own: "c{{ candidat }}-*"``), the
  roster giving the four candidates the same address: ``grader.runner.plan`` + ``run_jobs``, the
  real code path. Round trips per hypervisor host = the SSH execs of the four reports, summed;
  the contract is 1;
* **per candidate**: the same rubric without ``shared``: each candidate's job reads the host
  itself (4 round trips), as before shared hosts;
* **floor**: one paramiko connection (TCP_NODELAY, same key) and ONE unframed exec
  (``sudo -n /bin/sh -s``) of the same virsh commands (the inventory once, the four agents'
  ``qemu-agent-command``): what the facts cost without grader.

Each candidate has five checks (``hypervisor.vm``, ``.snapshot``, ``.guest_agent``, ``.storage``,
``.network``). Medians are printed side by side; nothing here is asserted (speed never is, in tests).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ADDRESS = "10.77.211.10"
CANDIDATES = ("01", "02", "03", "04")

RUBRIC = """\
rubric: grappe-banc
title: "Banc : hyperviseur d'une grappe de quatre candidats"
variables:
  hyperviseur: {{description: "Adresse de l'hyperviseur de la grappe"}}
credentials:
  correcteur: {{username: grader, key_file: {key}}}
hosts:
  - name: hyperviseur
    role: hyperviseur
    platform: linux
    address: "{{{{ hyperviseur }}}}"
    credential: correcteur
    sudo: true
    connect_timeout: 5
{shared}checks:
  - id: vm-web
    check: hypervisor.vm
    role: hyperviseur
    params:
      vm: "c{{{{ candidat }}}}-web"
      state: running
      vcpus: 1
      memory: 96M
      disks: [{{target: vda, size: 64M, bus: virtio, format: qcow2}}]
      nics: [{{bridge: br0, model: virtio}}]
      autostart: true
    criterion: CP7.2
  - {{id: snap-web, check: hypervisor.snapshot, role: hyperviseur, criterion: CP7.1,
     params: {{vm: "c{{{{ candidat }}}}-web", name: avant-maj}}}}
  - {{id: agent-web, check: hypervisor.guest_agent, role: hyperviseur, criterion: CP7.1,
     params: {{vm: "c{{{{ candidat }}}}-web"}}}}
  - {{id: pool, check: hypervisor.storage, role: hyperviseur, criterion: CP7.2, params: {{pool: vms, type: dir}}}}
  - {{id: bridge, check: hypervisor.network, role: hyperviseur, criterion: CP7.1, params: {{name: br0, ports: [lan0]}}}}
"""
SHARED = "    shared:\n      own: \"c{{ candidat }}-*\"\n"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def boot(lab, agent_timeout: float) -> dict[str, float | None]:
    from grader.lab import hypervisor as hv
    from grader.lab.hosts import HostSpec

    waited: dict[str, float | None] = {}

    def setup(shell) -> None:
        hv.prepare_host(shell)
        guests = [hv.Guest(f"c{c}-web", bridge=hv.BRIDGE, autostart=True, snapshot="avant-maj") for c in CANDIDATES]
        waited.update(hv.define_guests(shell, guests, agent_timeout=agent_timeout))

    lab.up([HostSpec(name="hv-banc", ip=ADDRESS, flavor=hv.HYPERVISOR.name, hostname="hyperviseur", tun=True,
                     setup=setup)], progress=say, timeout=120)
    return waited


def grade(workdir: Path, key: Path, known_hosts: Path, shared: bool) -> dict:
    """One grading of the four candidates: wall time, round trips per hypervisor host, statuses."""
    import checks.hypervisor
    from grader.plugins import default_catalogue
    from grader.roster import load_roster
    from grader.rubric import load_rubric
    from grader.runner import plan, run_jobs

    rubric_path = workdir / ("shared.yaml" if shared else "apart.yaml")
    rubric_path.write_text(RUBRIC.format(key=key, shared=SHARED if shared else ""), encoding="utf-8")
    roster = workdir / "liste.csv"
    roster.write_text("candidat;nom;hyperviseur\n" + "".join(f"{c};C{c};{ADDRESS}\n" for c in CANDIDATES),
                      encoding="utf-8")
    catalogue = {**default_catalogue(), **{c.id: c for c in checks.hypervisor.CHECKS}}
    rubric = load_rubric(rubric_path, catalogue)
    jobs = plan(rubric, load_roster(roster, rubric), catalogue)
    t0 = time.perf_counter()
    reports = run_jobs(jobs, known_hosts_path=known_hosts, workers=8)
    wall = time.perf_counter() - t0
    per_host: dict[str, int] = {}
    for r in reports:
        per_host[r.address] = per_host.get(r.address, 0) + r.outcome.execs
    statuses = {(r.candidate, c.check_id): c.status.value for r in reports for c in r.results}
    return {"wall": wall, "round_trips": per_host, "statuses": statuses}


def floor(key: Path) -> float:
    """One connection, one exec of the same virsh commands (unframed): the facts' own cost plus one round trip."""
    import paramiko

    from checks.hypervisor import _libvirt

    commands = [_libvirt.inventory_command()] + [_libvirt.agent_command(f"c{c}-web") for c in CANDIDATES]
    script = ("\n".join(f"( {cmd}\n) </dev/null" for cmd in commands) + "\n").encode()
    pkey = paramiko.PKey.from_path(str(key))
    t0 = time.perf_counter()
    sock = socket.create_connection((ADDRESS, 22), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10)
        transport.auth_publickey("grader", pkey)
        chan = transport.open_session()
        chan.set_combine_stderr(True)
        chan.exec_command("/usr/bin/sudo -n /bin/sh -s")
        chan.sendall(script)
        chan.shutdown_write()
        while chan.recv(65536):
            pass
        if chan.recv_exit_status() != 0:
            say("plancher : le lot a échoué")
    finally:
        transport.close()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-lab", action="store_true", help="the host hv-banc is already up")
    ap.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    ap.add_argument("--agent-timeout", type=float, default=180)
    args = ap.parse_args()

    import paramiko  # noqa: F401 - imports out of the timed part

    import checks.hypervisor  # noqa: F401
    from grader.lab.hosts import Lab
    from grader.lab.lock import lab_lock

    lab = Lab()
    with lab_lock():
        try:
            if not args.no_lab:
                t0 = time.perf_counter()
                waited = boot(lab, args.agent_timeout)
                say(f"hôte prêt en {time.perf_counter() - t0:.1f} s ; agents : "
                    + ", ".join(f"{n} {s:.1f} s" if s is not None else f"{n} muet" for n, s in waited.items()))
            key, known = lab.key_path, lab.known_hosts_path
            runs: dict[str, list[float]] = {"shared": [], "apart": [], "floor": []}
            trips: dict[str, list[int]] = {"shared": [], "apart": []}
            statuses: dict[str, dict] = {}
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                grade(work, key, known, True)  # warm-up: imports, first connection, page cache
                for _ in range(args.rounds):
                    for name, shared in (("shared", True), ("apart", False)):
                        got = grade(work, key, known, shared)
                        runs[name].append(got["wall"])
                        trips[name].append(got["round_trips"][ADDRESS])
                        statuses[name] = got["statuses"]
                    runs["floor"].append(floor(key))
        finally:
            if not args.keep and not args.no_lab:
                lab.down(say)
    same = statuses["shared"] == statuses["apart"]
    wrong = sorted(k for k, v in statuses["shared"].items() if v != "conforme")
    print(f"\nHyperviseur partagé par {len(CANDIDATES)} candidats, 5 vérifications chacun, "
          f"{args.rounds} tours (médianes)\n")
    print("| contender | round trips per hypervisor host | wall time | vs floor |")
    print("|---|---|---|---|")
    fl = statistics.median(runs["floor"])
    for name, label in (("shared", "grader, host `shared`"), ("apart", "grader, one job per candidate"),
                        ("floor", "floor: one ssh exec of the same virsh commands")):
        wall = statistics.median(runs[name])
        rt = "1" if name == "floor" else "/".join(str(t) for t in sorted(set(trips[name])))
        print(f"| {label} | {rt} | {wall:.3f} s | {wall / fl:.2f}x |")
    print(f"\nverdicts identiques avec et sans partage : {'oui' if same else 'NON'} ; "
          f"non conformes : {', '.join(f'{c}/{k}' for c, k in wrong) or 'aucun'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
