"""Start-up costs of the commands a trainer runs often: ``checks list`` and ``rubric validate``.

Needs no lab. Each command runs in a fresh interpreter (median of ``--repeat`` runs, wall time),
and one more run reports which connection libraries the command imported: validating a rubric
or listing checks must load none (paramiko, ldap3, pysnmp, smbprotocol, scapy, pywinrm, requests).

``--against REV`` measures the same commands side by side on another revision of this
repository (a temporary ``git worktree``, put first on ``PYTHONPATH``; the same interpreter and
installed packages), and prints the ratios::

    python bench/bench_startup.py                    # this tree
    python bench/bench_startup.py --against fc6b896  # this tree and that revision, interleaved
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONNECTION_LIBRARIES = ("paramiko", "ldap3", "pysnmp", "smbprotocol", "smbclient", "scapy", "winrm", "requests",
                        "dns.resolver", "gssapi", "cryptography.x509")

#: What each measured command runs, as ``python -c`` code (the CLI's own entry point, argv set).
COMMANDS = {
    "python -c pass": "pass",
    "import grader.cli": "import grader.cli",
    "grader checks list": "import sys; sys.argv = ['grader', 'checks', 'list']; from grader.cli import main; main()",
    "grader rubric validate demo.yaml": (
        "import sys; sys.argv = ['grader', 'rubric', 'validate', 'rubrics/demo.yaml']; from grader.cli import main; main()"),
}
#: Appended to a measured command: at exit, print which of ``libs`` the command had imported.
_REPORT = """
def _report():
    import json, sys
    print("@@LOADED@@" + json.dumps(sorted(m for m in {libs!r} if m in sys.modules)), file=sys.stderr)
"""


def _run(code: str, tree: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = dict(os.environ, PYTHONPATH=str(tree), COLUMNS="200")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True,
                          check=False)
    return time.perf_counter() - t0, proc


def _loaded(code: str, tree: Path) -> list[str] | None:
    """The connection libraries imported by the end of ``code`` (None when it failed)."""
    wrapped = f"import atexit\n{_REPORT.format(libs=CONNECTION_LIBRARIES)}\natexit.register(_report)\n{code}"
    _, proc = _run(wrapped, tree)
    for line in proc.stderr.splitlines():
        if line.startswith("@@LOADED@@"):
            return list(json.loads(line[len("@@LOADED@@"):]))
    return None


def stub_missing_plugins(tree: Path) -> list[str]:
    """Empty modules for the ``grader`` entry points the installed metadata names but ``tree`` lacks.

    The interpreter's installed metadata is this tree's; an older revision may not have a module it
    names (e.g. ``grader.probes.builtin``), and pluggy would refuse to start. An empty plugin
    registers nothing, so the older revision runs as it did (its own built-ins register themselves).
    """
    from importlib.metadata import entry_points

    made = []
    for ep in entry_points(group="grader"):
        parts = ep.value.split(":")[0].split(".")
        path = tree.joinpath(*parts)
        if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
            continue
        for depth in range(1, len(parts)):
            package = tree.joinpath(*parts[:depth])
            package.mkdir(exist_ok=True)
            (package / "__init__.py").touch(exist_ok=True)
        path.with_suffix(".py").write_text('"""Stub made by bench_startup.py: absent in this revision."""\n')
        made.append(ep.value)
    return made


def measure(trees: dict[str, Path], repeat: int) -> dict[str, dict[str, dict[str, object]]]:
    """Every command on every tree, interleaved round by round (so load drifts hit both alike)."""
    times: dict[str, dict[str, list[float]]] = {t: {c: [] for c in COMMANDS} for t in trees}
    failures: dict[str, dict[str, str]] = {t: {} for t in trees}
    for _ in range(repeat):
        for name, code in COMMANDS.items():
            for label, tree in trees.items():
                elapsed, proc = _run(code, tree)
                if proc.returncode not in (0,):
                    failures[label][name] = (proc.stderr or proc.stdout).strip().splitlines()[-1:][0] if (
                        proc.stderr or proc.stdout).strip() else f"exit {proc.returncode}"
                times[label][name].append(elapsed)
    return {label: {name: {"median_s": statistics.median(values), "runs": len(values),
                           "loaded": _loaded(COMMANDS[name], trees[label]),
                           "failed": failures[label].get(name)}
                    for name, values in times[label].items()}
            for label in trees}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--against", help="another revision of this repository, measured side by side")
    ap.add_argument("--json", help="write the measurements to this file")
    args = ap.parse_args()
    trees = {"this tree": ROOT}
    with tempfile.TemporaryDirectory(prefix="grader-startup-") as tmp:
        if args.against:
            other = Path(tmp) / "rev"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(other), args.against],
                           check=True)
            trees[args.against] = other
            stubbed = stub_missing_plugins(other)
            if stubbed:
                print(f"{args.against}: empty stand-ins for entry points it lacks: {', '.join(stubbed)}")
        try:
            data = measure(trees, args.repeat)
        finally:
            if args.against:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(trees[args.against])],
                               check=False)
    labels = list(trees)
    print(f"start-up, median of {args.repeat} fresh interpreters (wall s); connection libraries loaded")
    header = f"{'command':36}" + "".join(f"{label:>16}" for label in labels)
    if len(labels) == 2:
        header += f"{'ratio':>10}"
    print(header)
    for name in COMMANDS:
        row = f"{name:36}" + "".join(f"{data[label][name]['median_s']:>16.3f}" for label in labels)
        if len(labels) == 2:
            row += f"{data[labels[1]][name]['median_s'] / data[labels[0]][name]['median_s']:>9.2f}x"
        print(row)
    for label in labels:
        for name in COMMANDS:
            entry = data[label][name]
            if entry["failed"]:
                print(f"  {label}: {name} FAILED: {entry['failed']}")
            elif name.startswith("grader "):
                print(f"  {label}: {name} loaded {', '.join(entry['loaded'] or []) or 'no connection library'}")
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
