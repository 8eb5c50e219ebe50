"""A recorded switch served by snmpsim on 127.0.0.1 (a random port), for the real ``snmp`` channel.

The walk is ``tests/fixtures/network/procurve.snmprec`` (an excerpt of LibreNMS's recording of
an HP/Aruba ProCurve stack; its origin is written at its top). snmpsim answers SNMPv2c to the
community named after the data file (``sw-ro``) and SNMPv3 to one USM user, the data file being
then chosen by the context name (``sw-ro`` too). A test module makes it a fixture with
``snmpsim_switch = pytest.fixture(scope="module")(snmpsim_agent.serve)``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "network" / "procurve.snmprec"
COMMUNITY = "sw-ro"
#: Further devices of the same agent, each answering to its own community (the data file's name).
CISCO_TRUNKS = Path(__file__).parent / "fixtures" / "network" / "cisco_trunks.snmprec"
CISCO_COMMUNITY = "cisco-ro"
V3_USER, V3_AUTH, V3_PRIV = "supervision", "authpass-tssr", "privpass-tssr"


@dataclass(frozen=True)
class SimAgent:
    port: int
    community: str = COMMUNITY
    user: str = V3_USER
    auth_key: str = V3_AUTH
    priv_key: str = V3_PRIV
    context: str = COMMUNITY


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    """A bare SNMPv2c GET of sysDescr.0, built by hand (no pysnmp needed to wait for the agent)."""
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import api

    proto = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = proto.GetRequestPDU()
    proto.apiPDU.set_defaults(pdu)
    proto.apiPDU.set_varbinds(pdu, [("1.3.6.1.2.1.1.1.0", proto.Null(""))])
    msg = proto.Message()
    proto.apiMessage.set_defaults(msg)
    proto.apiMessage.set_community(msg, COMMUNITY)
    proto.apiMessage.set_pdu(msg, pdu)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        s.sendto(encoder.encode(msg), ("127.0.0.1", port))
        try:
            s.recvfrom(65535)
        except OSError:
            return False
    return True


def serve(tmp_path_factory):
    """Generator for a fixture: start snmpsim, yield a SimAgent, stop it."""
    if shutil.which("snmpsim-command-responder") is None and not _importable("snmpsim"):
        pytest.skip("snmpsim absent (pip install -e '.[test]')")
    base = tmp_path_factory.mktemp("snmpsim")
    data, cache = base / "data", base / "cache"
    data.mkdir()
    cache.mkdir()
    shutil.copy(FIXTURE, data / f"{COMMUNITY}.snmprec")
    shutil.copy(CISCO_TRUNKS, data / f"{CISCO_COMMUNITY}.snmprec")
    port = _free_udp_port()
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}  # as root, snmpsim would otherwise insist on dropping to a user
    argv = [sys.executable, "-c", "import sys; from snmpsim.commands.responder import main; sys.exit(main())",
            f"--data-dir={data}", f"--cache-dir={cache}", f"--agent-udpv4-endpoint=127.0.0.1:{port}",
            f"--v3-user={V3_USER}", f"--v3-auth-key={V3_AUTH}", "--v3-auth-proto=SHA",
            f"--v3-priv-key={V3_PRIV}", "--v3-priv-proto=AES", "--logging-method=null"]
    log = (base / "snmpsim.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("snmpsim n'a pas démarré : " + (base / "snmpsim.log").read_text()[-2000:])
            time.sleep(0.2)
        yield SimAgent(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
