"""Throwaway candidate hosts for tests, demos and benchmarks.

Each host is a real Debian system (systemd as PID 1, real sshd, apache2, snmpd...) booted by
systemd-nspawn over an overlayfs of one cached debootstrap tree, in its own network
namespace on the lab bridge ``grlab0`` (10.77.0.0/16). Planting a candidate's state is
writing files into the host's tree before boot; grading it is what the real grader does
over SSH. One lab per machine: everything is named ``grlab-*``/``gv-*`` and ``down`` sweeps it all.

- ``base``: host tools and the cached base tree;
- ``network``: the bridge and one namespace + veth per host;
- ``hosts``: ``HostSpec`` and ``Lab`` (up, down, status, nsenter);
- ``demo``: the demo room (three candidates) and its expected verdicts.
"""

from __future__ import annotations
