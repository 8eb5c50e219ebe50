"""The demo room's GLPI: the API stand-in (:mod:`grader.lab.glpi_standin`) served per candidate on loopback.

GLPI is not packaged in Debian, so no lab host can run it; the stand-in answers GLPI's ``apirest.php``
from a seed written after GLPI's documentation. The grader's ``glpi`` channel accepts plain ``http``
towards loopback only (a token never crosses a network in clear), so each candidate's GLPI listens on
its own loopback address (127.77.N.1, port :data:`PORT`) of the machine that runs the lab.

It runs as a detached process (``python -m grader.lab.glpi``, marked :data:`SERVICE_FLAG`) started by a
demo host's setup, so that it lives as long as the room whoever brought it up (``grader demo``,
``grader lab up``, the tests' room); ``Lab.down`` stops every process so marked, and the process ends by
itself after :data:`LIFETIME` seconds whatever happens (nothing is left listening for days).

The seeds, per candidate, from the same documented seed: 01 created the ticket during the exam and
solved it (documented solution accepted by the requester, asset recorded); 02's ticket has an opening
date typed to look recent, but GLPI recorded it the day before the exam (``date_creation``): a reader
of the form would believe it. 03's GLPI is down (nothing listens: injoignable). The tokens are drawn
at each start and written 0600 where the demo rubric's credentials read them.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from grader.errors import LabError
from grader.lab.hosts import SERVICE_FLAG

PORT = 8880
SERVING = ("01", "02")  # 03's GLPI is down
LIFETIME = 6 * 3600.0  # seconds: the service stops by itself past it, even if nobody takes the room down
START_DEADLINE = 15.0  # seconds for the service's sockets to accept connections
STATE = Path("/var/lib/grader/lab")
USER_TOKEN_FILE, APP_TOKEN_FILE = STATE / "glpi-user-token", STATE / "glpi-app-token"
LOG_FILE = STATE / "glpi-standin.log"
#: The exam's start in the demo rubric (``after``): a ticket GLPI recorded before it was not made at the exam.
EXAM_START = "2026-06-15T08:30:00+02:00"
RECORDED_THE_DAY_BEFORE = "2026-06-14 17:40:00"


def address(candidate: str) -> str:
    return f"127.77.{int(candidate)}.1"


def demo_seed(candidate: str, user_token: str, app_token: str) -> dict[str, Any]:
    """The candidate's GLPI: the documented seed (made for « C07 ») renamed for this candidate."""
    from grader.lab.glpi_standin.server import SEED

    text = json.dumps(SEED, ensure_ascii=False).replace("C07-", f"C{candidate}-").replace("c07.", f"c{candidate}.")
    data: dict[str, Any] = json.loads(text)
    data["_user_token"], data["_app_token"] = user_token, app_token
    if candidate == "02":  # typed as opened at 10:05 on the exam's day, recorded by GLPI the evening before
        data["Ticket"]["12"]["date_creation"] = RECORDED_THE_DAY_BEFORE
    return data


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_service(_shell: object = None) -> None:
    """Draw the tokens, start the service, wait (bounded) until every candidate's GLPI accepts connections.

    Signature of a host ``setup`` hook: the demo runs it with one of its hosts' setups.
    """
    _write_secret(USER_TOKEN_FILE, secrets.token_hex(20))
    _write_secret(APP_TOKEN_FILE, secrets.token_hex(20))
    with open(LOG_FILE, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grader.lab.glpi", SERVICE_FLAG], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True, close_fds=True)
    deadline = time.monotonic() + START_DEADLINE
    while not all(accepts(address(c), PORT) for c in SERVING):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(5)
            tail = LOG_FILE.read_text(errors="replace")[-600:] if LOG_FILE.exists() else ""
            raise LabError(f"GLPI de démonstration pas prêt en {START_DEADLINE:.0f} s : {tail.strip()}")
        time.sleep(0.2)


def serve(lifetime: float = LIFETIME) -> None:
    """The service's body: one stand-in per serving candidate, until SIGTERM or ``lifetime`` seconds."""
    from grader.lab.glpi_standin.server import StandIn
    from grader.lab.standin import running

    user, app = USER_TOKEN_FILE.read_text().strip(), APP_TOKEN_FILE.read_text().strip()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ExitStack() as stack:
        for c in SERVING:
            stack.enter_context(running(StandIn(demo_seed(c, user, app), (address(c), PORT))))
        stop.wait(lifetime)


if __name__ == "__main__":
    serve()
