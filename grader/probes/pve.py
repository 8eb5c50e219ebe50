"""The ``pve`` channel's language: the Proxmox VE REST API, read with an API token.

Two probes: :func:`inventory` walks the API (``/version``, ``/nodes``, each node's ``qemu`` list with
every VM's ``config`` and ``snapshot`` list, the host's own ``network`` and ``storage``,
``/cluster/status`` and ``/cluster/ha/resources``) and writes one JSON document in ``stdout``::

    {"version": {...}, "local": "pve1", "nodes": [...], "cluster": [...], "ha": [...] | null,
     "vms": [{"node": "pve1", "vmid": 100, "list": {...}, "config": {...} | null, "snapshots": [...] | null}],
     "network": [...] | null, "storage": [...] | null, "errors": ["GET /cluster/ha/resources: 403 ..."]}

each value the ``data`` member of the API's answer, ``null`` when that request failed (the reason in
``errors``). :func:`agent_ping` asks a VM's guest agent (``POST .../agent/ping``, then
``GET .../agent/info``): ``stdout`` is the info's ``data``, ``exit_code`` 0 or the HTTP status of the
failed request, its reason in ``stderr``. :func:`backups` reads what proves a VM was backed up
(``backup.pve_recent``): the cluster's VMs (``/cluster/resources?type=vm``), backup jobs (``/cluster/backup``),
each online node's vzdump tasks (``/nodes/{node}/tasks?typefilter=vzdump``), whether the token may see
every task there (``/access/permissions``: ``Sys.Audit`` on ``/nodes/{node}``), and the backup archives of
each storage that holds backups (``/nodes/{node}/storage/{storage}/content?content=backup``; a shared
storage once)::

    {"local": "pve1", "vms": [...] | null, "jobs": [...] | null,
     "nodes": [{"node": "pve1", "tasks": [...] | null, "audit": true | false | null,
                "storages": [{"storage", "type", "shared", "backups": [{"volid", "vmid", "ctime", ...}] | null}] | null}],
     "errors": ["GET /nodes/pve2/tasks?...: 403 Permission check failed"]}

The grader logs in with an API token only
(``Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET``), never a password; the secret never
reaches a result (see :mod:`grader.transports.pve`).
"""

from __future__ import annotations

from pydantic import Field

from grader.model import Probe
from grader.probes.channel import ChannelOptions, ChannelSpec

INVENTORY = "inventory"
AGENT = "agent-ping "
BACKUPS = "backups"


class PveOptions(ChannelOptions):
    """``hosts[].options.pve`` in a rubric.

    ``credential``: the rubric credential holding the API token (``username: grader@pve!audit``, the
    secret in ``password_env``/``password_file``), else the host's own; ``port`` (8006);
    ``verify_tls``/``ca_file``: how the API's certificate is checked (Proxmox's own CA by default is
    not in the system store: give ``/etc/pve/pve-root-ca.pem`` copied to the grader); ``scheme``:
    ``http`` is accepted only towards a loopback address (a stand-in), a token never crosses a
    network in clear.
    """

    credential: str | None = None
    port: int = Field(default=8006, ge=1, le=65535)
    verify_tls: bool = True
    ca_file: str | None = None
    scheme: str = Field(default="https", pattern="^https?$")


CHANNEL = ChannelSpec("pve", "grader.transports.pve:PveChannel", Options=PveOptions, needs_credential=True)


def inventory(timeout: float = 60.0) -> Probe:
    """The whole Proxmox inventory the ``hypervisor.*`` checks judge (one probe per host and run)."""
    return Probe("pve", INVENTORY, timeout)


def agent_ping(vm: str, timeout: float = 15.0) -> Probe:
    """A VM's guest agent asked through Proxmox (the VM by its name)."""
    return Probe("pve", AGENT + vm, timeout, active=True)


def backups(timeout: float = 60.0) -> Probe:
    """What proves the cluster's VMs were backed up by vzdump (one probe per host and run, for every VM)."""
    return Probe("pve", BACKUPS, timeout)
