#!/usr/bin/env python3
"""Benchmark: grader vs. the floor vs. pytest-testinfra + pytest-xdist, on real lab hosts.

    flock /run/grader-lab.lock python bench/bench_grading.py --hosts 16 --checks 40

Three contenders collect the same facts from the same H lab hosts (``bench-01``..):

* **grader**: an in-memory rubric of C Linux checks per host and a roster of H candidates,
  graded with ``grader.runner.plan`` + ``grader.runner.run_jobs`` (the real code path: one
  SSH connection and one enveloped exec per host). Timed in-process, in a fresh worker
  process whose imports are done (and timed) before the clock starts;
* **floor**: the same distinct SSH probe commands concatenated into ONE unframed exec per
  host (``sudo -n /bin/sh -s``, commands on stdin, no envelope), plus the same HTTP
  requests, all hosts in parallel (threads), paramiko ``Transport`` on a socket with
  TCP_NODELAY, same key — the commands' own run time plus one round trip;
* **testinfra**: a generated test file with equivalent assertions (package installed,
  service active/enabled, file mode/owner, content...), run by
  ``pytest -n H --hosts=paramiko://grader@IP,... --ssh-identity-file=KEY --sudo``. The whole
  subprocess is timed; pytest's own "in X s" is reported too. A generated conftest counts
  every ``paramiko.Channel.exec_command`` and every SSH connection per host.

Every contender runs ``--rounds`` times (default 3), interleaved; medians are printed.
The lab is a machine-wide singleton: run this whole script under ``flock /run/grader-lab.lock``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
PY = sys.executable
CRITERION = "CP9.1"
HOST_NAME = "srv"  # the rubric's one host; each candidate's address is its bench host

# --------------------------------------------------------------------------------------------
# The check mix: 12 linux.* types, parameters drawn from pools of facts true on a bench host
# (a clone of the demo's candidate 01: apache2 + index page, alice in webadmins, sshd
# hardened, backup cron, rsyslog forward, SNMP community tssr-ro). snmpd_v3_user has nothing
# planted: it is non_conforme for grader and an xfail(strict) test for testinfra.
# --------------------------------------------------------------------------------------------

PACKAGES = [
    "apache2", "openssh-server", "cron", "rsyslog", "snmpd", "sudo", "systemd", "dbus", "iproute2", "procps",
    "iputils-ping", "bash", "coreutils", "tar", "sed", "grep", "gzip", "passwd", "login", "util-linux", "tzdata",
    "openssh-client", "mawk", "findutils", "hostname", "adduser", "libc6", "dpkg", "apt", "debianutils",
    "diffutils", "e2fsprogs", "ncurses-bin", "base-files", "perl-base", "dash", "mount", "libssl3", "apache2-utils",
    "libsnmp40",
]
# (unit, enabled): the enabled ones are wanted by multi-user.target, the others are static.
SERVICES = [
    ("ssh", True), ("cron", True), ("rsyslog", True), ("snmpd", True), ("apache2", True), ("dbus", False),
    ("systemd-journald", False), ("systemd-logind", False), ("systemd-tmpfiles-setup", False),
    ("systemd-journal-flush", False), ("systemd-user-sessions", False), ("systemd-update-utmp", False),
    ("systemd-tmpfiles-setup-dev", False), ("systemd-sysctl", False), ("systemd-random-seed", False),
    ("systemd-remount-fs", False), ("systemd-sysusers", False), ("systemd-journald.socket", False),
    ("dbus.socket", False), ("systemd-journald-dev-log.socket", False),
]
PORTS = [(80, "tcp", "apache2"), (22, "tcp", "sshd"), (161, "udp", "snmpd")]
# (user, groups it must be in)
USERS = [
    ("alice", ["webadmins"]), ("root", ["root"]), ("grader", ["grader"]), ("www-data", ["www-data"]),
    ("daemon", ["daemon"]), ("nobody", ["nogroup"]), ("sshd", ["nogroup"]), ("messagebus", ["messagebus"]),
    ("Debian-snmp", ["Debian-snmp"]), ("backup", ["backup"]), ("list", ["list"]), ("irc", ["irc"]),
    ("_apt", ["nogroup"]), ("man", ["man"]), ("mail", ["mail"]), ("news", ["news"]), ("uucp", ["uucp"]),
    ("proxy", ["proxy"]), ("lp", ["lp"]), ("sys", ["sys"]), ("bin", ["bin"]), ("systemd-network", ["systemd-network"]),
]
# (path, kind, owner, group, mode)
FILES = [
    ("/var/www/html/index.html", "file", "root", "root", "0644"),
    ("/etc/passwd", "file", "root", "root", "0644"),
    ("/etc/shadow", "file", "root", "shadow", "0640"),
    ("/etc/group", "file", "root", "root", "0644"),
    ("/etc/gshadow", "file", "root", "shadow", "0640"),
    ("/usr/local/sbin/backup.sh", "file", "root", "root", "0755"),
    ("/etc/cron.d/backup", "file", "root", "root", "0644"),
    ("/etc/ssh/sshd_config", "file", "root", "root", "0644"),
    ("/etc/snmp/snmpd.conf", "file", "root", "Debian-snmp", "0640"),
    ("/etc/sudoers", "file", "root", "root", "0440"),
    ("/tmp", "directory", "root", "root", "1777"),
    ("/root", "directory", "root", "root", "0700"),
    ("/etc", "directory", "root", "root", "0755"),
    ("/var/log", "directory", "root", "root", "0755"),
    ("/usr/bin/sudo", "file", "root", "root", "4755"),
    ("/usr/bin/passwd", "file", "root", "root", "4755"),
    ("/etc/crontab", "file", "root", "root", "0644"),
    ("/etc/rsyslog.conf", "file", "root", "root", "0644"),
    ("/etc/apache2/apache2.conf", "file", "root", "root", "0644"),
    ("/etc/login.defs", "file", "root", "root", "0644"),
    ("/var/www/html", "directory", "root", "root", "0755"),
    ("/usr/sbin/sshd", "file", "root", "root", "0755"),
]
# (path, Python regex searched in active lines)
CONTAINS = [
    ("/etc/ssh/sshd_config.d/50-tssr.conf", r"^PermitRootLogin\s+no"),
    ("/etc/passwd", r"^alice:"),
    ("/etc/group", r"^webadmins:.*alice"),
    ("/var/www/html/index.html", r"Intranet TSSR"),
    ("/etc/rsyslog.d/50-remote.conf", r"@10\.77\.0\.1:514"),
    ("/etc/snmp/snmpd.conf", r"^rocommunity\s+tssr-ro"),
    ("/etc/cron.d/backup", r"backup\.sh"),
    ("/etc/debian_version", r"^12\."),
    ("/etc/apache2/ports.conf", r"^Listen 80"),
    ("/etc/shells", r"^/bin/bash$"),
    ("/etc/sudoers.d/grader", r"NOPASSWD"),
    ("/etc/login.defs", r"^UMASK"),
    ("/etc/crontab", r"run-parts"),
    ("/etc/ssh/sshd_config", r"^Subsystem\s+sftp"),
    ("/etc/hostname", r"^bench-"),
    ("/usr/lib/os-release", r"bookworm"),
    ("/etc/default/snmpd", r"SNMPDOPTS"),
    ("/etc/apache2/apache2.conf", r"^IncludeOptional"),
    ("/etc/shadow", r"^grader:"),
    ("/etc/rsyslog.conf", r"imuxsock"),
]
CRONS = [r"backup\.sh", r"run-parts"]
SSHD = [("PermitRootLogin", "no"), ("PasswordAuthentication", "no"), ("Port", "22"), ("UsePAM", "yes"),
        ("X11Forwarding", "yes"), ("PubkeyAuthentication", "yes")]
RSYSLOG = [("10.77.0.1", 514, "udp")]
SNMP_COMMUNITIES = [("tssr-ro", "ro"), ("tssr-ro", "any")]
SNMP_V3 = [("bench", "priv")]  # nothing planted: non_conforme / xfail
HTTP = [("/", 200, "Intranet"), ("/index.html", 200, "Intranet TSSR"), ("/nope.html", 404, None)]

TYPES = [
    "linux.package_installed", "linux.service_active", "linux.port_listening", "linux.user_in_groups",
    "linux.file_exists", "linux.file_contains", "linux.cron_entry", "linux.sshd_setting", "linux.rsyslog_forward",
    "linux.snmpd_community", "linux.snmpd_v3_user", "linux.http_answers",
]
# Types whose probe changes with the parameters (the others read one fixed set of files, or
# one `sshd -T`, or one `ss` per protocol, whatever the parameters).
VARYING = ["linux.package_installed", "linux.service_active", "linux.user_in_groups", "linux.file_exists",
           "linux.file_contains"]
POOLS = {
    "linux.package_installed": PACKAGES, "linux.service_active": SERVICES, "linux.port_listening": PORTS,
    "linux.user_in_groups": USERS, "linux.file_exists": FILES, "linux.file_contains": CONTAINS,
    "linux.cron_entry": CRONS, "linux.sshd_setting": SSHD, "linux.rsyslog_forward": RSYSLOG,
    "linux.snmpd_community": SNMP_COMMUNITIES, "linux.snmpd_v3_user": SNMP_V3, "linux.http_answers": HTTP,
}


def check_mix(count: int, mix: str) -> list[dict]:
    """``count`` check specs: {id, type, params, ti (test body lines), xfail}.

    ``cycle``: round-robin over the 12 types (5 of them share fixed probes, so distinct
    probes < count). ``distinct`` (default): the 12 types once, then round-robin over the types
    whose probe depends on the parameters, so C checks give about C distinct SSH probes.
    """
    order: list[str] = []
    if mix == "cycle":
        order = [TYPES[i % len(TYPES)] for i in range(count)]
    else:
        order = TYPES[:count] + [VARYING[i % len(VARYING)] for i in range(max(0, count - len(TYPES)))]
    used: dict[str, int] = {}
    specs = []
    for n, ctype in enumerate(order, 1):
        pool = POOLS[ctype]
        k = used.get(ctype, 0)
        used[ctype] = k + 1
        item = pool[k % len(pool)]
        params, ti, xfail = _render(ctype, item)
        specs.append({"id": f"c{n:03d}-{ctype.split('.')[1].replace('_', '-')}", "type": ctype, "params": params,
                      "ti": ti, "xfail": xfail})
    return specs


def _render(ctype: str, item) -> tuple[dict, list[str], bool]:
    """Grader params and the equivalent testinfra test body for one pool item."""
    if ctype == "linux.package_installed":
        return {"package": item}, [f"assert host.package({item!r}).is_installed"], False
    if ctype == "linux.service_active":
        unit, enabled = item
        ti = [f"svc = host.service({unit!r})", "assert svc.is_running"] + (["assert svc.is_enabled"] if enabled else [])
        return {"service": unit, "enabled": enabled}, ti, False
    if ctype == "linux.port_listening":
        port, proto, proc = item
        flag = "t" if proto == "tcp" else "u"
        ti = ["listening = host.socket.get_listening_sockets()",
              f"assert any(s.startswith({proto + '://'!r}) and s.endswith({':' + str(port)!r}) for s in listening)",
              f"out = host.check_output({'ss -Hlnp' + flag!r})",
              (f"assert any({':' + str(port) + ' '!r} in l and {'((' + chr(34) + proc + chr(34)!r} in l "
               f"for l in out.splitlines())")]
        return {"port": port, "protocol": proto, "process": proc}, ti, False
    if ctype == "linux.user_in_groups":
        user, groups = item
        ti = [f"u = host.user({user!r})", "assert u.exists"] + [f"assert {g!r} in u.groups" for g in groups]
        return {"user": user, "groups": groups}, ti, False
    if ctype == "linux.file_exists":
        path, kind, owner, group, mode = item
        ti = [f"f = host.file({path!r})", f"assert f.{'is_file' if kind == 'file' else 'is_directory'}",
              f"assert f.user == {owner!r}", f"assert f.group == {group!r}", f"assert f.mode == {int(mode, 8):#o}"]
        return {"path": path, "kind": kind, "owner": owner, "group": group, "mode": mode}, ti, False
    if ctype == "linux.file_contains":
        path, pattern = item
        return {"path": path, "pattern": pattern}, [f"assert active(host.file({path!r}).content_string, {pattern!r})"], False
    if ctype == "linux.cron_entry":
        ti = ["out = host.check_output('cat /etc/crontab /etc/cron.d/* /var/spool/cron/crontabs/* 2>/dev/null; true')",
              f"assert active(out, {item!r})"]
        return {"pattern": item}, ti, False
    if ctype == "linux.sshd_setting":
        key, value = item
        ti = ["out = host.check_output('sshd -T')", f"assert {key.lower() + ' ' + value!r} in out.splitlines()"]
        return {"setting": key, "expected": value}, ti, False
    if ctype == "linux.rsyslog_forward":
        target, port, proto = item
        at = "@" if proto == "udp" else "@@"
        ti = ["out = host.check_output('cat /etc/rsyslog.conf /etc/rsyslog.d/*.conf')",
              f"assert active(out, {re.escape(at + target + ':' + str(port))!r})"]
        return {"target": target, "port": port, "protocol": proto}, ti, False
    if ctype == "linux.snmpd_community":
        name, access = item
        regex = ("^rocommunity" if access == "ro" else "^r[ow]community") + r"\s+" + re.escape(name)
        ti = ["conf = host.file('/etc/snmp/snmpd.conf').content_string", f"assert active(conf, {regex!r})"]
        return {"community": name, "access": access}, ti, False
    if ctype == "linux.snmpd_v3_user":
        user, level = item
        access_rx, keys_rx = r"^r[ow]user\s+" + re.escape(user), r"^createUser\s+" + re.escape(user)
        ti = ["conf = host.file('/etc/snmp/snmpd.conf').content_string",
              f"assert active(conf, {access_rx!r})", f"assert active(conf, {keys_rx!r})"]
        return {"user": user, "level": level}, ti, True
    if ctype == "linux.http_answers":
        path, status, contains = item
        params = {"url": "http://{{ addr['" + HOST_NAME + "'] }}" + path, "status": status}
        if contains:
            params["contains"] = contains
        ti = [f"status, body = http_get('http://' + host.backend.host.name + {path!r})", f"assert status == {status}"]
        if contains:
            ti.append(f"assert {contains!r} in body")
        return params, ti, False
    raise ValueError(ctype)


def rubric_dict(specs: list[dict], key_path: str) -> dict:
    return {
        "rubric": "bench", "title": "Banc d'essai", "version": "1",
        "variables": {"ip": {"description": "adresse de l'hôte du candidat"}},
        "credentials": {"lab": {"username": "grader", "key_file": key_path}},
        "hosts": [{"name": HOST_NAME, "role": "bench", "platform": "linux", "address": "{{ ip }}",
                   "credential": "lab", "sudo": True, "connect_timeout": 5}],
        "checks": [{"id": s["id"], "check": s["type"], "role": "bench", "params": s["params"],
                    "criterion": CRITERION, "points": 1} for s in specs],
    }


def bench_ips(hosts: int) -> list[str]:
    return [f"10.77.200.{10 + i}" for i in range(1, hosts + 1)]


# --------------------------------------------------------------------------------------------
# Workers (fresh processes: imports timed apart from the run, clean peak memory)
# --------------------------------------------------------------------------------------------

def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _count_execs(counter: dict[str, int]) -> None:
    """Count every SSH exec request and every SSH connection (handshake) this process makes."""
    import paramiko

    orig_exec, orig_start = paramiko.Channel.exec_command, paramiko.Transport.start_client
    orig_feed = paramiko.Channel._feed
    lock = threading.Lock()

    def feed(self, m):  # one call per SSH_MSG_CHANNEL_DATA received (stdout packets)
        with lock:
            counter["data_packets"] = counter.get("data_packets", 0) + 1
        return orig_feed(self, m)

    def exec_command(self, command):
        with lock:
            counter["execs"] = counter.get("execs", 0) + 1
        return orig_exec(self, command)

    def start_client(self, *a, **k):
        with lock:
            counter["connections"] = counter.get("connections", 0) + 1
        return orig_start(self, *a, **k)

    paramiko.Channel.exec_command = exec_command
    paramiko.Transport.start_client = start_client
    # The transport dispatches through a table filled at class creation: patch the table.
    paramiko.Transport._channel_handler_table[paramiko.common.MSG_CHANNEL_DATA] = feed


def worker_grader(spec: dict, t_proc: float) -> dict:
    t0 = time.perf_counter()
    from grader import runner
    from grader.plugins import default_catalogue
    from grader.roster import Candidate
    from grader.rubric import Rubric
    from grader.transports import envelope
    from grader.transports import ssh as ssh_transport

    catalogue = default_catalogue()
    t_imports = time.perf_counter() - t0
    rss_imports = _rss_kib()
    counter: dict[str, int] = {}
    _count_execs(counter)
    phases: dict[str, list[float]] = {}
    if spec.get("breakdown"):
        _instrument(phases, runner, ssh_transport, envelope)
    profiles = []
    if spec.get("profile"):
        _profile_threads(runner, profiles)
    rubric = Rubric.model_validate(spec["rubric"])
    candidates = [Candidate(f"{i:02d}", f"bench-{i:02d}", {"ip": ip}) for i, ip in enumerate(spec["ips"], 1)]
    known = Path(spec["known_hosts"]) if spec.get("known_hosts") else None
    rounds = []
    for r in range(spec["rounds"]):
        for v in phases.values():
            v.clear()
        counter.clear()
        c1, t1 = time.process_time(), time.perf_counter()
        jobs = runner.plan(rubric, candidates, catalogue)
        t2 = time.perf_counter()
        reports = runner.run_jobs(jobs, known_hosts_path=known, workers=spec.get("workers", 32))
        t3, c3 = time.perf_counter(), time.process_time()
        statuses: dict[str, int] = {}
        for rep in reports:
            for res in rep.results:
                statuses[res.status.value] = statuses.get(res.status.value, 0) + 1
        bad = sorted({(res.check_id, res.status.value, res.message[:140]) for rep in reports for res in rep.results
                      if res.status.value != "conforme"})
        rounds.append({
            "wall": t3 - t1, "plan": t2 - t1, "run": t3 - t2, "cpu": c3 - c1,
            "data_packets": counter.get("data_packets", 0),
            "execs_reported": [rep.outcome.execs for rep in reports],
            "execs_counted": counter.get("execs", 0), "connections": counter.get("connections", 0),
            "hosts_reached": sum(rep.outcome.reached for rep in reports),
            "host_durations": sorted(rep.duration for rep in reports),
            "remote_probe_time": sorted(sum(p.duration for p in rep.probes if p.transport == "ssh") for rep in reports),
            "anomalies": sorted({a for rep in reports for a in rep.outcome.anomalies})[:5],
            "reasons": sorted({rep.outcome.reason for rep in reports if rep.outcome.reason})[:5],
            "statuses": statuses, "not_conforme": [list(b) for b in bad],
            "ssh_probes": len([p for p in jobs[0].unique_probes() if p.transport == "ssh"]) if jobs else 0,
            "http_probes": len([p for p in jobs[0].unique_probes() if p.transport == "http"]) if jobs else 0,
            "phases": {k: sorted(v) for k, v in phases.items()},
        })
    out = {"imports": t_imports, "since_exec": t0 - t_proc, "rss_after_imports_kib": rss_imports,
           "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "rounds": rounds}
    if profiles:
        out["profile"] = _merge_profiles(profiles, spec.get("profile_top", 35))
    return out


def _instrument(phases: dict[str, list[float]], runner, ssh_transport, envelope) -> None:
    """Time grader's phases per host by wrapping module functions (this process only)."""
    import paramiko

    lock = threading.Lock()

    def wrap(owner, name, label):  # the code under test moves: wrap what exists, skip the rest
        orig = getattr(owner, name, None)
        if orig is None:
            return

        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return orig(*a, **k)
            finally:
                with lock:
                    phases.setdefault(label, []).append(time.perf_counter() - t)

        setattr(owner, name, timed)

    wrap(runner, "grade_host", "grade_host (total per host)")
    wrap(runner, "resolve_ssh", "resolve_ssh (load key)")
    wrap(ssh_transport, "resolve_ssh", "resolve_ssh (load key)")
    wrap(ssh_transport, "run_batch", "run_batch")
    wrap(ssh_transport, "_connect", "  tcp connect")
    wrap(paramiko.Transport, "start_client", "  ssh handshake (start_client)")
    wrap(ssh_transport.KnownHosts, "check", "  known_hosts check")
    wrap(ssh_transport, "_authenticate", "  auth")
    wrap(envelope, "build", "  envelope build")
    wrap(ssh_transport, "_exec", "  exec (open, send, read, exit status)")
    wrap(envelope, "parse", "  envelope parse")
    wrap(paramiko.Transport, "close", "  transport close")
    wrap(runner, "_judge", "judge (per check)")


def _profile_threads(runner, profiles: list) -> None:
    import cProfile

    orig = runner.grade_host

    def profiled(*a, **k):
        prof = cProfile.Profile()
        try:
            return prof.runcall(orig, *a, **k)
        finally:
            profiles.append(prof)

    runner.grade_host = profiled


def _merge_profiles(profiles: list, top: int) -> str:
    import io
    import pstats

    buf = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=buf)
    for p in profiles[1:]:
        stats.add(p)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def worker_floor(spec: dict, t_proc: float) -> dict:
    t0 = time.perf_counter()
    import socket
    import urllib.error
    import urllib.request

    import paramiko

    t_imports = time.perf_counter() - t0
    rss_imports = _rss_kib()
    counter: dict[str, int] = {}
    _count_execs(counter)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def one(ip: str, script: bytes, urls: list[str], pkey, out: dict) -> None:
        t = time.perf_counter()
        sock = socket.create_connection((ip, 22), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=10)
            transport.auth_publickey("grader", pkey)
            t_auth = time.perf_counter()
            chan = transport.open_session()
            chan.set_combine_stderr(True)
            chan.exec_command("/usr/bin/sudo -n /bin/sh -s")
            chan.sendall(script)
            chan.shutdown_write()
            size = 0
            while True:
                data = chan.recv(65536)
                if not data:
                    break
                size += len(data)
            rc = chan.recv_exit_status()
            t_exec = time.perf_counter()
            for url in urls:  # any HTTP answer (404 included) is a collected fact
                try:
                    with opener.open(url, timeout=5) as resp:
                        resp.read()
                except urllib.error.HTTPError as exc:
                    exc.read()
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            out[ip] = {"error": repr(exc)}
            return
        finally:
            transport.close()
        out[ip] = {"connect_auth": t_auth - t, "exec": t_exec - t_auth, "total": time.perf_counter() - t,
                   "bytes": size, "rc": rc}

    rounds = []
    for r in range(spec["rounds"]):
        counter.clear()
        c1, t1 = time.process_time(), time.perf_counter()
        pkey = paramiko.PKey.from_path(spec["key"])
        script = ("\n".join(f"( {cmd}\n) </dev/null" for cmd in spec["commands"]) + "\n").encode()
        results: dict[str, dict] = {}
        threads = []
        for ip in spec["ips"]:
            urls = [u.replace("@IP@", ip) for u in spec["urls"]]
            th = threading.Thread(target=one, args=(ip, script, urls, pkey, results))
            th.start()
            threads.append(th)
        for th in threads:
            th.join()
        wall, cpu = time.perf_counter() - t1, time.process_time() - c1
        rounds.append({"wall": wall, "cpu": cpu, "data_packets": counter.get("data_packets", 0),
                       "execs_counted": counter.get("execs", 0),
                       "connections": counter.get("connections", 0), "hosts": results})
    return {"imports": t_imports, "since_exec": t0 - t_proc, "rss_after_imports_kib": rss_imports,
            "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "rounds": rounds}


def run_worker(kind: str, spec_path: str) -> None:
    t_proc = time.perf_counter()
    spec = json.loads(Path(spec_path).read_text())
    result = worker_grader(spec, t_proc) if kind == "grader" else worker_floor(spec, t_proc)
    Path(spec["out"]).write_text(json.dumps(result))


# --------------------------------------------------------------------------------------------
# testinfra
# --------------------------------------------------------------------------------------------

CONFTEST = '''
"""Generated by bench_grading.py: count SSH execs and connections per host, in every xdist worker."""
import json, os, threading
import paramiko

_COUNTS = {}
_LOCK = threading.Lock()
_exec, _start = paramiko.Channel.exec_command, paramiko.Transport.start_client


def _peer(transport):
    try:
        return transport.getpeername()[0]
    except Exception:
        return "?"


def _count(host, what):
    with _LOCK:
        entry = _COUNTS.setdefault(host, {"execs": 0, "connections": 0})
        entry[what] += 1


def exec_command(self, command):
    _count(_peer(self.get_transport()), "execs")
    return _exec(self, command)


def start_client(self, *a, **k):
    _count(_peer(self), "connections")
    return _start(self, *a, **k)


paramiko.Channel.exec_command = exec_command
paramiko.Transport.start_client = start_client


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("BENCH_COUNTS_DIR")
    if out and _COUNTS:
        with open(os.path.join(out, "counts-%d.json" % os.getpid()), "w") as f:
            json.dump(_COUNTS, f)
'''

TEST_HEADER = '''
"""Generated by bench_grading.py: the same facts as the grader rubric, as testinfra assertions."""
import re
import urllib.error
import urllib.request

import pytest

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def active(text, pattern, prefixes=("#",)):
    """Lines matching the regex that are not full-line comments (as grader's judges read them)."""
    rx = re.compile(pattern)
    return [l for l in text.split("\\n") if rx.search(l) and not l.lstrip().startswith(prefixes)]


def http_get(url):
    try:
        with _OPENER.open(url, timeout=5) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")

'''


def write_testinfra(directory: Path, specs: list[dict]) -> Path:
    (directory / "pytest.ini").write_text("[pytest]\naddopts =\n")
    (directory / "conftest.py").write_text(CONFTEST.lstrip())
    parts = [TEST_HEADER.lstrip()]
    for s in specs:
        name = "test_" + re.sub(r"[^A-Za-z0-9_]", "_", s["id"])
        deco = '@pytest.mark.xfail(strict=True, reason="not planted on bench hosts")\n' if s["xfail"] else ""
        body = "\n".join("    " + line for line in s["ti"])
        parts.append(f"\n{deco}def {name}(host):\n    # {s['type']} {json.dumps(s['params'])}\n{body}\n")
    test = directory / "test_bench.py"
    test.write_text("".join(parts))
    compile(test.read_text(), str(test), "exec")  # a generator bug shows here, not as 640 errors
    return test


class TreeSampler(threading.Thread):
    """Peak RSS of a process tree (sum over the tree, and the largest single process)."""

    def __init__(self, pid: int, period: float = 0.05):
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(pid)
        self.period = period
        self.peak_sum = 0
        self.peak_one = 0
        self.peak_procs = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stopped.is_set():
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.Error:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                self.peak_one = max(self.peak_one, rss)
            self.peak_sum = max(self.peak_sum, total)
            self.peak_procs = max(self.peak_procs, len(procs))
            self.stopped.wait(self.period)


def run_testinfra(directory: Path, ips: list[str], key: str, workers: str, hosts: int) -> dict:
    counts_dir = Path(tempfile.mkdtemp(prefix="counts-", dir=directory))
    argv = [PY, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-c", str(directory / "pytest.ini"),
            "--rootdir", str(directory), "-n", workers,
            "--hosts=" + ",".join(f"paramiko://grader@{ip}" for ip in ips),
            f"--ssh-identity-file={key}", "--sudo", str(directory / "test_bench.py")]
    env = {**os.environ, "BENCH_COUNTS_DIR": str(counts_dir)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.stopped.set()
    sampler.join()
    tail = output.strip().splitlines()[-1] if output.strip() else ""
    m = re.search(r" in ([\d.]+)s", tail)
    per_host: dict[str, dict[str, int]] = {}
    for f in counts_dir.glob("counts-*.json"):
        for host, c in json.loads(f.read_text()).items():
            entry = per_host.setdefault(host, {"execs": 0, "connections": 0})
            entry["execs"] += c["execs"]
            entry["connections"] += c["connections"]
    shutil.rmtree(counts_dir, ignore_errors=True)
    outcome = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|xfailed|xpassed|errors?|skipped)", tail)}
    return {"wall": wall, "pytest_reported": float(m.group(1)) if m else None, "rc": proc.returncode,
            "tail": tail, "outcome": outcome, "per_host": per_host,
            "peak_rss_sum": sampler.peak_sum, "peak_rss_one": sampler.peak_one, "procs": sampler.peak_procs,
            "children_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            "output": output if proc.returncode not in (0,) else output[-6000:]}


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------

def spawn_worker(kind: str, spec: dict, workdir: Path) -> tuple[dict, float]:
    spec = dict(spec, out=str(workdir / f"{kind}-out.json"))
    spec_path = workdir / f"{kind}-spec.json"
    spec_path.write_text(json.dumps(spec))
    t0 = time.perf_counter()
    proc = subprocess.run([PY, str(HERE), "--worker", kind, "--spec", str(spec_path)], capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"worker {kind} failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(Path(spec["out"]).read_text()), wall


def time_startup(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            return float("nan")
    return statistics.median(times)


def idle_fraction(seconds: float = 0.5) -> float:
    """Share of CPU time the whole machine spent idle over ``seconds`` (from /proc/stat)."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait, total (without guest)

    i0, t0 = sample()
    time.sleep(seconds)
    i1, t1 = sample()
    return (i1 - i0) / max(1, t1 - t0)


def wait_idle(threshold: float, limit: float) -> float:
    """Wait (up to ``limit`` s) until the machine is at least ``threshold`` idle; the last measure."""
    deadline = time.monotonic() + limit
    idle = idle_fraction()
    while idle < threshold and time.monotonic() < deadline:
        idle = idle_fraction(1.0)
    return idle


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_s(v: float | None) -> str:
    return "-" if v is None or math.isnan(v) else (f"{v:.3f}" if v < 10 else f"{v:.2f}")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=16)
    ap.add_argument("--checks", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mix", choices=("distinct", "cycle"), default="distinct")
    ap.add_argument("--no-lab", action="store_true", help="hosts bench-01.. are already up")
    ap.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    ap.add_argument("--xdist", default=None, help="pytest -n value (default: H)")
    ap.add_argument("--skip", default="", help="comma-separated contenders to skip: grader,floor,testinfra")
    ap.add_argument("--breakdown", action="store_true", help="time grader's phases per host (wrappers)")
    ap.add_argument("--profile", action="store_true", help="cProfile every grader host thread (one extra round)")
    ap.add_argument("--show", action="store_true", help="print non-conforme checks and failed tests")
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--idle", type=float, default=0.85,
                    help="before each measured run, wait until the machine is this idle (0-1; 0: do not wait)")
    ap.add_argument("--idle-wait", type=float, default=90, help="longest wait for --idle, in seconds")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        run_worker(args.worker, args.spec)
        return 0

    from grader.lab.demo import bench_specs
    from grader.lab.hosts import Lab

    lab = Lab()
    skip = {s for s in args.skip.split(",") if s}
    ips = bench_ips(args.hosts)
    specs = check_mix(args.checks, args.mix)
    booted = False
    workdir = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    data: dict = {"args": vars(args)}
    try:
        if not args.no_lab:
            say(f"Lab: booting {args.hosts} host(s)…")
            t0 = time.perf_counter()
            lab.up(bench_specs(args.hosts), progress=lambda m: say("  " + m))
            booted = True
            data["lab_up"] = time.perf_counter() - t0
            say(f"Lab up in {data['lab_up']:.1f} s")
        key = str(lab.key_path)
        spec_common = {"ips": ips, "key": key, "rounds": 1}

        # The floor's commands: exactly the grader's distinct SSH probes (one host's plan).
        from grader import runner
        from grader.plugins import default_catalogue
        from grader.roster import Candidate
        from grader.rubric import Rubric

        rubric = rubric_dict(specs, key)
        one = runner.plan(Rubric.model_validate(rubric), [Candidate("01", "", {"ip": "@IP@"})], default_catalogue())
        probes = one[0].unique_probes()
        commands = [p.command for p in probes if p.transport == "ssh"]
        urls = [p.command for p in probes if p.transport == "http"]
        data["probes"] = {"checks": len(specs), "ssh": len(commands), "http": len(urls)}
        (workdir / "ti").mkdir()
        write_testinfra(workdir / "ti", specs)
        say(f"{len(specs)} checks/host -> {len(commands)} distinct SSH probes + {len(urls)} HTTP probe(s); "
            f"testinfra files in {workdir / 'ti'}")

        say("Start-up times (python -c …)…")
        data["startup"] = {
            "python -c pass": time_startup("pass", 5),
            "import grader.runner + catalogue": time_startup(
                "import grader.runner; from grader.plugins import default_catalogue; default_catalogue()", 5),
            "import grader.cli": time_startup("import grader.cli", 5),
            "import paramiko": time_startup("import paramiko", 5),
            "import pytest, testinfra": time_startup("import pytest, testinfra", 5),
        }
        grader_spec = dict(spec_common, rubric=rubric, known_hosts=str(lab.known_hosts_path), rounds=2,
                           breakdown=args.breakdown)
        floor_spec = dict(spec_common, commands=commands, urls=urls, rounds=2)
        runs: dict[str, list] = {"grader": [], "floor": [], "testinfra": []}
        data["load_before"] = os.getloadavg()
        for r in range(1, args.rounds + 1):
            if "grader" not in skip:
                idle = wait_idle(args.idle, args.idle_wait) if args.idle else idle_fraction()
                res, wall = spawn_worker("grader", grader_spec, workdir)
                res["idle_before"] = idle
                res["process_wall"] = wall
                runs["grader"].append(res)
                say(f"round {r}: grader {res['rounds'][0]['wall']:.3f} s (warm {res['rounds'][1]['wall']:.3f} s)")
            if "floor" not in skip:
                idle = wait_idle(args.idle, args.idle_wait) if args.idle else idle_fraction()
                res, wall = spawn_worker("floor", floor_spec, workdir)
                res["idle_before"] = idle
                res["process_wall"] = wall
                runs["floor"].append(res)
                say(f"round {r}: floor  {res['rounds'][0]['wall']:.3f} s (warm {res['rounds'][1]['wall']:.3f} s)")
            if "testinfra" not in skip:
                idle = wait_idle(args.idle, args.idle_wait) if args.idle else idle_fraction()
                res = run_testinfra(workdir / "ti", ips, key, args.xdist or str(args.hosts), args.hosts)
                res["idle_before"] = idle
                runs["testinfra"].append(res)
                say(f"round {r}: testinfra {res['wall']:.2f} s (pytest says {res['pytest_reported']}) — {res['tail']}")
                if res["rc"] not in (0,):
                    say(res["output"][-4000:])
        if args.profile and "grader" not in skip:
            res, _ = spawn_worker("grader", dict(grader_spec, rounds=1, profile=True), workdir)
            data["profile"] = res.get("profile", "")
        data["runs"] = runs
        print_table(args, data, runs)
        if args.show:
            show_details(runs)
        if args.breakdown and runs["grader"]:
            print_breakdown(runs)
        if data.get("profile"):
            print("\n--- cProfile of grader's host threads (merged, one cold round) ---")
            print(data["profile"])
        if args.json:
            Path(args.json).write_text(json.dumps(data, indent=1, default=str))
    finally:
        if booted and not args.keep:
            say("Lab: tearing down…")
            lab.down(progress=lambda m: say("  " + m))
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def print_table(args, data: dict, runs: dict) -> None:
    g, f, t = runs["grader"], runs["floor"], runs["testinfra"]
    H = args.hosts
    g_wall = med([r["rounds"][0]["wall"] for r in g])
    g_warm = med([r["rounds"][1]["wall"] for r in g])
    f_wall = med([r["rounds"][0]["wall"] for r in f])
    f_warm = med([r["rounds"][1]["wall"] for r in f])
    t_wall = med([r["wall"] for r in t])
    t_rep = med([r["pytest_reported"] for r in t if r["pytest_reported"] is not None])
    p = data["probes"]
    print()
    print(f"H={H} hosts, C={args.checks} checks/host (mix={args.mix}) -> {p['ssh']} distinct SSH probes + "
          f"{p['http']} HTTP probe(s) per host; {args.rounds} rounds, medians"
          + (f"; lab up in {data['lab_up']:.1f} s" if "lab_up" in data else "")
          + f"; {os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in data['load_before'])} before "
            f"the rounds, {' '.join(f'{x:.1f}' for x in os.getloadavg())} after")
    rows: list[tuple[str, str, str, str]] = []

    def row(name, a, b, c):
        rows.append((name, a, b, c))

    row("", "grader", "floor", f"testinfra+xdist (-n {args.xdist or H})")
    row("wall time, cold process (s)", fmt_s(g_wall), fmt_s(f_wall), fmt_s(t_wall) + " (whole pytest process)")
    row("  all rounds (s)", " ".join(fmt_s(r["rounds"][0]["wall"]) for r in g),
        " ".join(fmt_s(r["rounds"][0]["wall"]) for r in f), " ".join(fmt_s(r["wall"]) for r in t))
    row("wall time, 2nd run same process (s)", fmt_s(g_warm), fmt_s(f_warm), "-")
    row("pytest's own duration (s)", "-", "-", fmt_s(t_rep))
    g_imports = med([r["imports"] for r in g])
    f_imports = med([r["imports"] for r in f])
    row("imports in worker (s, not in wall)", fmt_s(g_imports), fmt_s(f_imports), "(inside wall)")
    row("process wall incl. start-up (s)", fmt_s(med([r["process_wall"] for r in g])),
        fmt_s(med([r["process_wall"] for r in f])), fmt_s(t_wall))
    row("machine idle just before each run", f"{min(r['idle_before'] for r in g):.0%} min" if g else "-",
        f"{min(r['idle_before'] for r in f):.0%} min" if f else "-",
        f"{min(r['idle_before'] for r in t):.0%} min" if t else "-")
    row("ratio grader / floor", f"{g_wall / f_wall:.2f}x" if f and g else "-", "1", "")
    row("ratio testinfra / grader", "1", "", f"{t_wall / g_wall:.1f}x (pytest-reported: {t_rep / g_wall:.1f}x)"
        if t and g else "")
    if g:
        execs = sorted({e for r in g for e in r["rounds"][0]["execs_reported"]})
        counted = med([r["rounds"][0]["execs_counted"] / H for r in g])
        conns = med([r["rounds"][0]["connections"] / H for r in g])
    if t:
        t_execs = [sum(h["execs"] for h in r["per_host"].values()) / H for r in t]
        t_conns = [sum(h["connections"] for h in r["per_host"].values()) / H for r in t]
    f_execs = med([r["rounds"][0]["execs_counted"] / H for r in f]) if f else float("nan")
    row("SSH execs / host / run",
        (f"{'/'.join(map(str, execs))} (HostReport.outcome.execs; counted {counted:g})") if g else "-",
        f"{f_execs:g} (counted)", (f"{med(t_execs):.1f} (counted: Channel.exec_command)") if t else "-")
    row("SSH connections / host / run", f"{conns:g}" if g else "-",
        f"{med([r['rounds'][0]['connections'] / H for r in f]):g}" if f else "-",
        f"{med(t_conns):.1f} (counted: Transport.start_client)" if t else "-")
    row("local CPU of the run, all threads (s)", fmt_s(med([r["rounds"][0]["cpu"] for r in g])) if g else "-",
        fmt_s(med([r["rounds"][0]["cpu"] for r in f])) if f else "-", "-")
    row("SSH data packets received / host", f"{med([r['rounds'][0]['data_packets'] / H for r in g]):.0f}" if g else "-",
        f"{med([r['rounds'][0]['data_packets'] / H for r in f]):.0f}" if f else "-", "-")
    mib = 1 / 1024
    row("peak RSS (MiB)",
        f"{med([r['maxrss_kib'] for r in g]) * mib:.0f} (worker maxrss; {med([r['rss_after_imports_kib'] for r in g]) * mib:.0f} after imports)"
        if g else "-",
        f"{med([r['maxrss_kib'] for r in f]) * mib:.0f} (worker maxrss)" if f else "-",
        f"{med([r['peak_rss_sum'] for r in t]) / 2**20:.0f} summed over {max(r['procs'] for r in t)} procs; "
        f"largest one {med([r['peak_rss_one'] for r in t]) / 2**20:.0f}" if t else "-")
    if g:
        st = g[0]["rounds"][0]["statuses"]
        row("outcome", ", ".join(f"{v} {k}" for k, v in sorted(st.items())), "-",
            ", ".join(f"{v} {k}" for k, v in t[0]["outcome"].items()) if t else "-")
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}")
    print()
    print("start-up (median of 5, python -c): " + "; ".join(f"{k} {v:.3f} s" for k, v in data["startup"].items()))
    if g:
        hd = [d for r in g for d in r["rounds"][0]["host_durations"]]
        rp = [d for r in g for d in r["rounds"][0]["remote_probe_time"]]
        print(f"grader per host (cold rounds): grade_host median {med(hd):.3f} s, max {max(hd):.3f} s; "
              f"sum of probe run times inside the envelope median {med(rp):.3f} s, max {max(rp):.3f} s; "
              f"plan {med([r['rounds'][0]['plan'] for r in g]) * 1000:.1f} ms")
    if f:
        fh = [h for r in f for h in r["rounds"][0]["hosts"].values() if "total" in h]
        errs = [h["error"] for r in f for h in r["rounds"][0]["hosts"].values() if "error" in h]
        if fh:
            print(f"floor per host (cold rounds): connect+auth median {med([h['connect_auth'] for h in fh]):.3f} s, "
                  f"exec median {med([h['exec'] for h in fh]):.3f} s, max {max(h['exec'] for h in fh):.3f} s")
        if errs:
            print(f"floor errors: {errs[:3]}")


def show_details(runs: dict) -> None:
    for r in runs["grader"][:1]:
        rd = r["rounds"][0]
        print(f"\ngrader: hosts reached {rd['hosts_reached']}; reasons {rd['reasons']}; anomalies {rd['anomalies']}")
        for cid, status, msg in rd["not_conforme"]:
            print(f"  {cid}: {status} — {msg}")
    for r in runs["testinfra"][:1]:
        if r["rc"] != 0:
            print("\ntestinfra output (tail):")
            print(r["output"][-5000:])


def print_breakdown(runs: dict) -> None:
    print("\n--- grader phases per host (cold rounds; median / max over hosts, s; judge: per check) ---")
    merged: dict[str, list[float]] = {}
    for r in runs["grader"]:
        for k, v in r["rounds"][0]["phases"].items():
            merged.setdefault(k, []).extend(v)
    for k, v in merged.items():
        print(f"  {k:<42} median {med(v):.4f}  max {max(v):.4f}  n={len(v)}")


if __name__ == "__main__":
    sys.exit(main())
