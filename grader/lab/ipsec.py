"""Site-to-site IPsec between two real routers (strongSwan 5.9, swanctl), and the site router flavor.

This machine's kernel has the XFRM framework but no ESP transform (``CONFIG_INET_ESP`` unset,
measured: ``ip xfrm state add … proto esp`` answers « Requested type not found »): the kernel
cannot carry ESP. strongSwan's ``kernel-libipsec`` plugin (Debian: libcharon-extra-plugins)
does ESP in charon itself through a TUN device (``ipsec0``), with the same IKE, the same SAs and
the same ``swanctl --list-sas`` as with kernel ESP; its ESP travels UDP-encapsulated (port 4500),
hence ``encap = yes``. What the candidate writes — ``/etc/swanctl/conf.d/*.conf`` with the peer,
the PSK, the local and remote LANs — is unchanged; only ``/etc/strongswan.d/charon/kernel-libipsec.conf``
(``load = yes``) is the lab's own. With libipsec, charon routes the remote LAN through ``ipsec0``
in table 220 with a source inside the local LAN, so the router's own connections to the far LAN
ride the tunnel too (what :class:`checks.network.ipsec.IpsecLanToLan` uses).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from grader.lab.base import Flavor
from grader.lab.router import ROUTER

#: A router that also terminates site-to-site IPsec and relays DHCP (issue #13).
SITE_ROUTER = Flavor("site-router", ROUTER.packages + ("strongswan-swanctl", "charon-systemd",
                                                        "libcharon-extra-plugins", "isc-dhcp-relay"),
                     ROUTER.required + ("usr/sbin/swanctl", "usr/sbin/charon-systemd", "usr/sbin/dhcrelay"),
                     description="routeur Debian (nftables, dnsmasq, strongSwan, dhcrelay)")

LIBIPSEC_CONF = "/etc/strongswan.d/charon/kernel-libipsec.conf"
SWANCTL_CONF = "/etc/swanctl/conf.d/site-a-site.conf"
CONNECTION = "site-a-site"
CHILD = "lan-lan"


def _write(root: Path, path: str, text: str, mode: int = 0o644) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def swanctl_conf(*, local: str, remote: str, local_id: str, remote_id: str, local_lan: str, remote_lan: str,
                 psk: str, initiator: bool) -> str:
    """A site's ``swanctl.conf``: IKEv2, pre-shared key, one tunnel-mode CHILD SA between the two LANs.

    The initiator starts the SA at load and retries forever (the peer may boot later); the
    responder waits. ``encap = yes``: libipsec's ESP rides UDP 4500 (see the module's docstring).
    """
    start = "start_action = start\n        " if initiator else ""
    return (f"# Tunnel IPsec site à site : {local_lan} <-> {remote_lan}\n"
            f"connections {{\n  {CONNECTION} {{\n    version = 2\n    local_addrs = {local}\n"
            f"    remote_addrs = {remote}\n    encap = yes\n    keyingtries = 0\n    dpd_delay = 10s\n"
            f"    local {{\n      auth = psk\n      id = {local_id}\n    }}\n"
            f"    remote {{\n      auth = psk\n      id = {remote_id}\n    }}\n"
            f"    children {{\n      {CHILD} {{\n        local_ts = {ipaddress.ip_network(local_lan)}\n"
            f"        remote_ts = {ipaddress.ip_network(remote_lan)}\n        {start}"
            f"esp_proposals = aes256-sha256-modp2048\n      }}\n    }}\n"
            f"    proposals = aes256-sha256-modp2048\n  }}\n}}\n"
            f"secrets {{\n  ike-{CONNECTION} {{\n    id-1 = {local_id}\n    id-2 = {remote_id}\n"
            f"    secret = \"{psk}\"\n  }}\n}}\n")


def plant_site(root: Path, **conf: str | bool) -> None:
    """A site router's strongSwan: the candidate's swanctl.conf, and the lab's libipsec switch."""
    _write(root, SWANCTL_CONF, swanctl_conf(**conf), 0o600)  # type: ignore[arg-type]
    _write(root, LIBIPSEC_CONF, "kernel-libipsec {\n    load = yes\n}\n")
