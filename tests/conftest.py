"""Shared fixtures: the demo room of the lab, booted once per test session.

The lab is a machine-wide singleton (one bridge, hosts named by candidate), so the fixture
holds ``/run/grader-lab.lock`` for the whole session: a benchmark or a demo started by hand
meanwhile waits instead of tearing our hosts down.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

LOCK = "/run/grader-lab.lock"


def lab_available() -> bool:
    return os.geteuid() == 0 and shutil.which("systemd-nspawn") is not None


@contextlib.contextmanager
def locked_lab() -> Iterator[Any]:
    """The lab (:class:`grader.lab.hosts.Lab`), ready to build hosts, with the machine-wide lock held.

    Skips when a lab is already running (a demo someone started by hand); the caller brings its
    hosts up and takes them down inside the block, before the lock is released.
    """
    from grader.lab import base
    from grader.lab.hosts import Lab

    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lab = Lab()
        if any(h["state"] == "running" for h in lab.status()):
            pytest.skip("un labo est déjà démarré sur cette machine : « grader lab down » avant les tests")
        base.ensure_host_tools()
        base.ensure_base()
        lab.ensure_key()
        yield lab


@pytest.fixture(scope="session")
def room():
    """(Lab, {name: host info}) with candidates 01 and 02 booted and 03 down, as in the demo."""
    if not lab_available():
        pytest.skip("le labo exige root et systemd-nspawn (apt-get install systemd-container)")
    from grader.lab import demo

    with locked_lab() as lab:
        os.environ["GRADER_LAB_LOCK_HELD"] = "1"  # a grader CLI this session starts must not wait for us
        info = lab.up(demo.demo_specs(), timeout=90)
        try:
            yield lab, {h["name"]: h for h in info}
        finally:
            lab.down()
            os.environ.pop("GRADER_LAB_LOCK_HELD", None)


def pytest_collection_modifyitems(items):
    """The test that takes the lab down runs after every other user of the room."""
    items.sort(key=lambda item: item.name == "test_down_leaves_nothing_and_can_be_repeated")
