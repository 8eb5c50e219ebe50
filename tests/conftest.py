"""Shared fixtures: the demo room of the lab, booted once per test session; and the record of judged checks.

The lab is a machine-wide singleton (one bridge, hosts named by candidate), so the fixture
holds ``/run/grader-lab.lock`` for the whole session: a benchmark or a demo started by hand
meanwhile waits instead of tearing our hosts down.

A session that runs all of ``tests/checks`` also fails when a built-in check's judge never said
« conforme » (see :func:`pytest_sessionfinish`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LOCK = "/run/grader-lab.lock"
CHECK_TESTS = Path(__file__).parent / "checks"


def lab_available() -> bool:
    return os.geteuid() == 0 and shutil.which("systemd-nspawn") is not None


#: Whether this session's demo room (the ``room`` fixture) is up: a test that boots a lab of its own
#: takes it down (instead of being skipped) once every user of the room has run.
_ROOM = {"up": False}


#: How many locked_lab blocks this process is inside (the lock is taken by the outermost one only).
_HOLDING = {"depth": 0}


@contextlib.contextmanager
def locked_lab() -> Iterator[Any]:
    """The lab (:class:`grader.lab.hosts.Lab`), ready to build hosts, with the machine-wide lock held.

    Skips when a lab is already running (a demo someone started by hand); this session's own demo
    room is taken down instead (see :data:`_ROOM`). The caller brings its hosts up and takes them
    down inside the block, before the lock is released.
    """
    from grader.lab import base
    from grader.lab.hosts import Lab
    from grader.lab.lock import HELD_ENV

    with open(LOCK, "w") as lock:
        # A session started under the lock (``flock /run/grader-lab.lock env GRADER_LAB_LOCK_HELD=1 pytest ...``)
        # must not wait for its own parent, as the CLI does not (grader.lab.lock); nor may a test wait for
        # the lock this very process already holds (the room, an outer block): flock would never return.
        if os.environ.get(HELD_ENV) != "1" and not _HOLDING["depth"]:
            fcntl.flock(lock, fcntl.LOCK_EX)
        _HOLDING["depth"] += 1
        try:
            lab = Lab()
            if any(h["state"] == "running" for h in lab.status()):
                if not _ROOM["up"]:
                    pytest.skip("un labo est déjà démarré sur cette machine : « grader lab down » avant les tests")
                # This session's demo room: every test that uses it has run (own_lab tests are sorted after
                # them, see pytest_collection_modifyitems), so it comes down for this test's own hosts.
                lab.down()
                _ROOM["up"] = False
            base.ensure_host_tools()
            base.ensure_base()
            lab.ensure_key()
            yield lab
        finally:
            _HOLDING["depth"] -= 1


@contextlib.contextmanager
def own_hosts(specs: Any, monkeypatch: pytest.MonkeyPatch, *, timeout: float = 120) -> Iterator[Any]:
    """The lab with a test's own hosts booted (``specs``), taken down on the way out, the lock held meanwhile.

    Skips where no lab can run. The grader CLI the test may start must not wait for the lock it holds.
    """
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    with locked_lab() as lab:
        monkeypatch.setenv("GRADER_LAB_LOCK_HELD", "1")  # restored after the test: the room may still hold the lock
        try:
            lab.up(specs, timeout=timeout)
            yield lab
        finally:
            lab.down()


@pytest.fixture(scope="session")
def room():
    """(Lab, {name: host info}) with candidates 01 and 02 booted and 03 down, as in the demo."""
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    from grader.lab import demo

    with locked_lab() as lab:
        os.environ["GRADER_LAB_LOCK_HELD"] = "1"  # a grader CLI this session starts must not wait for us
        info = lab.up(demo.demo_specs(), timeout=90)
        _ROOM["up"] = True
        try:
            yield lab, {h["name"]: h for h in info}
        finally:
            lab.down()
            _ROOM["up"] = False
            os.environ.pop("GRADER_LAB_LOCK_HELD", None)


def pytest_collection_modifyitems(items):
    """The test that takes the lab down runs after every other user of the room; the tests that boot labs
    of their own (marked ``own_lab``: the exam packs' self-tests, the backup, jobs and hypervisor hosts)
    after it, so that they never meet the room (they would be skipped: one lab at a time)."""
    items.sort(key=lambda item: (item.get_closest_marker("own_lab") is not None,
                                 item.name == "test_down_leaves_nothing_and_can_be_repeated"))


# --- every built-in check's judge said « conforme » somewhere in the suite ----------------------------

#: Whether this session runs the whole of tests/checks, and so is held to the record (set at collection).
_ARMED = pytest.StashKey[bool]()
#: Check id -> the statuses its judge returned in this session.
_JUDGED = pytest.StashKey[dict[str, set[str]]]()
#: Whether a -k/-m/--lf selection left out a test of tests/checks.
_CHECK_TESTS_LEFT_OUT = pytest.StashKey[bool]()


def _builtin_checks() -> dict[str, Any]:
    """The checks of this repository's packs (the ``checks`` package), as the entry points register them."""
    from grader.plugins import collect_checks, get_plugin_manager

    return {check_id: cls for check_id, cls in collect_checks(get_plugin_manager()).items()
            if cls.__module__.split(".")[0] == "checks"}


def _record_judges(judged: dict[str, set[str]]) -> None:
    """Wrap the judge of every built-in check so that each call notes the check's id and the status it returned.

    The wrapper sits on the class that defines the judge (a base class shared by several checks
    is wrapped once) and names the check by the instance's class; it returns the judge's verdict
    and lets its exceptions through untouched, so no test sees a difference.
    """
    from grader.check import Check

    wrapped: set[type] = set()
    for cls in _builtin_checks().values():
        owner = next(k for k in cls.__mro__ if "judge" in vars(k))
        if owner is Check or owner in wrapped:
            continue
        wrapped.add(owner)
        original = vars(owner)["judge"]

        @functools.wraps(original)
        def judge(self: Any, params: Any, results: Any, _original: Any = original) -> Any:
            verdict = _original(self, params, results)
            status = getattr(getattr(verdict, "status", None), "value", None)
            judged.setdefault(type(self).id, set()).add(str(status))
            return verdict

        owner.judge = judge


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items and any(CHECK_TESTS in item.path.parents for item in items):
        items[0].config.stash[_CHECK_TESTS_LEFT_OUT] = True


def pytest_collection_finish(session: pytest.Session) -> None:
    """Arm the record when this session runs every test of tests/checks (see :func:`pytest_sessionfinish`)."""
    config = session.config
    selected = {item.path for item in session.items}
    armed = (all(path in selected for path in CHECK_TESTS.glob("test_*.py"))
             and not config.stash.get(_CHECK_TESTS_LEFT_OUT, False)
             and not any("::" in str(arg) for arg in config.args)
             and not any(getattr(config.option, name, False) for name in ("collectonly", "setuponly", "setupplan"))
             and not hasattr(config, "workerinput"))  # an xdist worker runs a share of the tests
    config.stash[_ARMED] = armed
    if armed:
        config.stash[_JUDGED] = {}
        _record_judges(config.stash[_JUDGED])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a green session that ran all of tests/checks when a built-in check's judge never said « conforme ».

    How it works: when collection ends, :func:`pytest_collection_finish` decides whether the
    session runs every test module of ``tests/checks`` with nothing left out (no ``-k``, ``-m``,
    ``--lf`` deselection there, no ``file::test`` argument, not ``--collect-only``, not an xdist
    worker); only then does it wrap each built-in check's ``judge`` (:func:`_record_judges`) to
    note which checks were judged and what they said. Here, if every test passed, a check whose
    judge never returned « conforme » is named and the session's exit status becomes a failure.
    A subset of the tests (one module, ``-k``, ``-x`` stopping early, failures already) is left
    alone: it was never meant to cover every check.

    Why « conforme » and not merely "ran": the pack meta-tests (``test_*_pack.py``) run every
    judge on garbage output, which must never be conforme; a check is exercised only when some
    test shows it accepting a correct host. This replaces a meta-test that only looked for the
    check's id in the text of a test module.
    """
    config = session.config
    if not config.stash.get(_ARMED, False) or exitstatus != pytest.ExitCode.OK:
        return
    judged = config.stash[_JUDGED]
    missing = sorted(check_id for check_id in _builtin_checks() if "conforme" not in judged.get(check_id, ()))
    if not missing:
        return
    lines = [f"{check_id}: " + (", ".join(sorted(judged[check_id])) if check_id in judged else "never judged")
             for check_id in missing]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")  # the progress line may still be open
        reporter.write_sep("=", "built-in checks whose judge never said conforme in this session", red=True)
        for line in lines:
            reporter.write_line(line)
    else:
        print("built-in checks whose judge never said conforme:", *lines, sep="\n", file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh RSA key (mode 0600) for the loopback SSH servers the tests start (tests/hostile/ssh.py)."""
    import paramiko

    path = tmp_path_factory.mktemp("key") / "id_rsa"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(path))
    path.chmod(0o600)
    return path
