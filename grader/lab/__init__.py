"""Throwaway candidate hosts for tests, demos and benchmarks.

Each host is a real Debian system (systemd as PID 1, real sshd, apache2, snmpd...) booted by
systemd-nspawn over an overlayfs of one cached debootstrap tree, in its own network
namespace on the lab bridge ``grlab0`` (10.77.0.0/16). Planting a candidate's state is
writing files into the host's tree before boot; grading it is what the real grader does
over SSH. One lab per machine: everything is named ``grlab-*``/``gv-*`` and ``down`` sweeps it all.

- ``base``: host tools, the cached base trees and the *flavors* (a package set, optionally a
  layer provisioned once on top of its base);
- ``samba``: the ``dc`` flavor, a Samba AD domain controller (tssr.lan) provisioned once, and
  the tools to plant a candidate's directory (samba-tool offline before boot, online after);
- ``zabbix``: the ``zabbix`` flavor, a Zabbix 6.0 server (PostgreSQL, frontend, API token for the
  grader) provisioned once, and ``zabbix-agent`` hosts; hosts defined through the API after boot;
- ``network``: the bridge and one namespace + veth per host;
- ``hosts``: ``HostSpec`` (``flavor``, ``plant`` before boot, ``setup`` after) and ``Lab``
  (up, down, status, nsenter);
- ``demo``: the demo room (three candidates, a Linux server and a DC each) and its expected verdicts.
"""

from __future__ import annotations
