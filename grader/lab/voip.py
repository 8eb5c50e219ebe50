"""The ``voip`` lab flavor: a real SIP registrar (Kamailio) and real SIP phones (baresip) from Debian.

Asterisk is not packaged in Debian 12, so the lab proves the network side of telephony with
what is: Kamailio as the IPBX's registrar (``usrloc`` + ``registrar``, no authentication) and
baresip as the phones. Both are in one cached base tree (the package list is the cache key).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grader.lab.base import Flavor

PACKAGES: tuple[str, ...] = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "sudo", "procps", "iputils-ping",
    # the IPBX's registrar and its command-line tools (kamctl, kamcmd), and the phones
    "kamailio", "baresip-core", "sipsak",
)
REQUIRED = ("usr/sbin/kamailio", "usr/sbin/kamctl", "usr/sbin/kamcmd", "usr/bin/baresip", "usr/bin/sipsak",
            "usr/sbin/sshd", "usr/bin/sudo")

VOIP = Flavor("voip", PACKAGES, REQUIRED, description="IPBX Debian (Kamailio) et téléphones SIP (baresip)")


# --- the IPBX: Kamailio as Debian ships it --------------------------------------------------------
#
# Debian's /etc/kamailio/kamailio.cfg loads usrloc (in memory) and registrar, answers OPTIONS sent
# to itself (« 200 Keepalive ») and saves REGISTERs without authentication unless WITH_AUTH is
# defined: what a candidate gets by installing the package. kamailio.service is enabled by the
# package; nothing is planted on the registrar.

SIP_PORT = 5060
#: baresip's modules and where it reads its accounts: no audio driver, no video, no menu on a tty.
PHONE_DIR = "/etc/baresip"
PHONE_UNIT = "baresip-poste.service"


def phone_config() -> str:
    """baresip's ``config``: SIP over UDP on the phone's address, accounts only (no sound device)."""
    return (f"# Téléphone SIP du labo (baresip, sans audio)\n"
            f"poll_method\t\tepoll\nsip_listen\t\t0.0.0.0:{SIP_PORT}\nsip_trans_def\t\tudp\n"
            f"module_path\t\t/usr/lib/baresip/modules\n"
            f"module\t\t\tg711.so\nmodule_app\t\taccount.so\n")


def phone_accounts(extensions: Sequence[str], registrar: str, *, regint: int = 120) -> str:
    """baresip's ``accounts``: one line per extension the phone registers (no password: auth is off)."""
    return "".join(f"<sip:{ext}@{registrar}>;regint={regint}\n" for ext in extensions)


PHONE_SERVICE = f"""[Unit]
Description=Poste téléphonique SIP (baresip)
After=network.target

[Service]
ExecStart=/usr/bin/baresip -f {PHONE_DIR}
StandardInput=null
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


def plant_phone(root: Path, extensions: Sequence[str], registrar: str) -> None:
    """A phone: baresip registering ``extensions`` with ``registrar``, started at boot."""
    conf = root / PHONE_DIR.lstrip("/")
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "config").write_text(phone_config())
    (conf / "accounts").write_text(phone_accounts(extensions, registrar))
    (conf / "contacts").write_text("")
    unit = root / "etc/systemd/system" / PHONE_UNIT
    unit.write_text(PHONE_SERVICE)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / PHONE_UNIT
    if not link.is_symlink():
        link.symlink_to(f"/etc/systemd/system/{PHONE_UNIT}")
    # The phones share the registrar's base tree, where the package enabled Kamailio: on a phone it
    # would take port 5060 before baresip does.
    (wants / "kamailio.service").unlink(missing_ok=True)


def registrar_ready(shell_run: Callable[..., Any], *, limit: float = 30.0) -> bool:
    """Wait (on the registrar) until Kamailio answers its control socket; False past ``limit`` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if shell_run("/usr/sbin/kamcmd", "core.version", timeout=10).returncode == 0:
            return True
        time.sleep(0.5)
    return False


def registered(shell_run: Callable[..., Any], extensions: Sequence[str], *, limit: float = 30.0) -> bool:
    """Wait (on the registrar) until ``kamcmd ul.dump`` lists every extension; False past ``limit`` s.

    The exam's phones registered long before grading; the lab boots them with the registrar, and a
    phone whose first REGISTER found no server yet retries later. ``shell_run`` is a host's ``run``.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done = shell_run("/usr/sbin/kamcmd", "ul.dump", timeout=10)
        aors = {line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if line.strip().startswith("AoR:")}
        if done.returncode == 0 and all(ext in aors for ext in extensions):
            return True
        time.sleep(0.5)
    return False
