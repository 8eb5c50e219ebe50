"""The ``pve`` channel: the Proxmox VE REST API, read by the grader with an API token.

One ``requests`` session per host, no proxy from the environment, the certificate checked
(``options.pve``). The token is sent in the ``Authorization`` header of each request and nowhere
else: results hold the API's answers (``data``), the login says the token's id, never its secret.
A refused token (401) is :class:`CredentialError` (every check of the host ``erreur``); an API that
does not answer is :class:`Unreachable` when ``pve`` is the host's primary transport. One request
that fails inside the walk (a 403 on ``/cluster/ha/resources`` for a token without ``Sys.Audit``)
leaves that part ``null`` and its reason in ``errors``: the judges then say they cannot tell.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import requests

from grader.credentials import resolve_password
from grader.errors import CredentialError, TransportError, Unreachable
from grader.model import Msg, Probe, ProbeResult
from grader.probes.pve import AGENT, BACKUPS, CHANNEL, INVENTORY, PveOptions
from grader.transports.base import Channel, Collected, HostContext, option_credential, probe_fields
from grader.transports.envelope import CAP
from grader.transports.rest import request_failure


class ApiError(Exception):
    """One request the API answered with an error (or did not answer): its status (-1: no answer) and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason


def _loopback(address: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(address, None))
    except (OSError, ValueError):
        return False


class Api:
    """The API of one host through one session; :meth:`get`/:meth:`post` return the answer's ``data``."""

    def __init__(self, base: str, token_id: str, secret: str, verify: bool | str, timeout: float) -> None:
        self.base, self.timeout = base, timeout
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy, no .netrc from the environment
        self.session.verify = verify
        self.session.headers.update({"Authorization": f"PVEAPIToken={token_id}={secret}",
                                     "User-Agent": "grader (TSSR)"})
        self.requests = 0

    def call(self, method: str, path: str, data: Any = None) -> Any:
        """``data``: the request's form fields (a POST's parameters), as ``requests`` takes them."""
        self.requests += 1
        try:
            response = self.session.request(method, self.base + path, data=data, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiError(-1, request_failure(exc)) from None  # never str(exc): see grader.transports.rest
        if response.status_code == 401:
            raise CredentialError(Msg("jeton d'API refusé par Proxmox VE (401 {reason})", reason=response.reason))
        if response.status_code != 200:
            raise ApiError(response.status_code, response.reason or "")
        try:
            return response.json().get("data")
        except (ValueError, AttributeError):
            raise ApiError(response.status_code, "réponse non JSON") from None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def close(self) -> None:
        self.session.close()


def _quote(value: object) -> str:
    return urllib.parse.quote(str(value), safe="")


class _Parts:
    """The requests of one walk: :meth:`get` leaves a refused part ``None`` and its reason in ``errors``."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.errors: list[str] = []

    def get(self, path: str) -> Any:
        try:
            return self.api.get(path)
        except ApiError as exc:
            self.errors.append(f"GET {path}: {exc}")
            return None

    def cluster(self) -> tuple[list[dict[str, Any]], Any, str | None]:
        """``/nodes`` (its failure fails the walk), ``/cluster/status`` and the node the API answers from."""
        nodes = self.api.get("/nodes") or []
        cluster = self.get("/cluster/status")
        local = next((m.get("name") for m in cluster or () if m.get("type") == "node" and m.get("local")), None)
        return nodes, cluster, local


def walk(api: Api) -> dict[str, Any]:
    """The whole inventory (see :mod:`grader.probes.pve`); only ``/nodes`` failing fails it."""
    parts = _Parts(api)
    part, errors = parts.get, parts.errors
    nodes, cluster, local = parts.cluster()
    online = [n["node"] for n in nodes if n.get("status") == "online" and n.get("node")]
    if local is None and len(online) == 1:
        local = online[0]
    vms: list[dict[str, Any]] = []
    for node in online:
        for vm in part(f"/nodes/{_quote(node)}/qemu") or ():
            base = f"/nodes/{_quote(node)}/qemu/{_quote(vm.get('vmid'))}"
            vms.append({"node": node, "vmid": vm.get("vmid"), "list": vm, "config": part(base + "/config"),
                        "snapshots": part(base + "/snapshot")})
    vms.sort(key=lambda v: int(v["vmid"] or 0))
    return {"version": part("/version"), "local": local, "nodes": nodes, "cluster": cluster,
            "ha": part("/cluster/ha/resources"), "vms": vms,
            "network": part(f"/nodes/{_quote(local)}/network") if local else None,
            "storage": part(f"/nodes/{_quote(local)}/storage") if local else None, "errors": errors}


#: What an archive of a storage's content keeps (its notes, verification log... left out: the output has a cap).
_ARCHIVE = ("volid", "vmid", "ctime", "format", "size", "subtype", "protected")
#: What a task of the list keeps.
_TASK = ("upid", "node", "type", "id", "user", "starttime", "endtime", "status")


def backups(api: Api) -> dict[str, Any]:
    """What proves a VM was backed up (see :mod:`grader.probes.pve`); only ``/nodes`` failing fails it.

    A request refused (403) leaves its part ``null`` and the reason in ``errors``: the judge then says
    it cannot tell, never that no backup was made.
    """
    parts = _Parts(api)
    part, errors = parts.get, parts.errors
    nodes, _cluster, local = parts.cluster()
    shared: set[str] = set()
    read: list[dict[str, Any]] = []
    for node in sorted(n["node"] for n in nodes if n.get("status") == "online" and n.get("node")):
        base = f"/nodes/{_quote(node)}"
        tasks = part(base + "/tasks?typefilter=vzdump&limit=500")
        permissions = part("/access/permissions?path=" + _quote(f"/nodes/{node}"))
        audit = None if not isinstance(permissions, dict) else bool(
            (permissions.get(f"/nodes/{node}") or {}).get("Sys.Audit"))
        storages = part(base + "/storage?content=backup")
        kept: list[dict[str, Any]] = []
        for storage in storages or ():
            name = str(storage.get("storage") or "")
            if not name or "backup" not in str(storage.get("content") or "").split(",") or name in shared:
                continue
            if storage.get("shared"):
                shared.add(name)
            content = part(f"{base}/storage/{_quote(name)}/content?content=backup")
            kept.append({"storage": name, "type": storage.get("type"), "shared": bool(storage.get("shared")),
                         "backups": None if content is None else
                         [{k: e[k] for k in _ARCHIVE if k in e} for e in content if e.get("content", "backup") == "backup"]})
        read.append({"node": node, "audit": audit, "storages": None if storages is None else kept,
                     "tasks": None if tasks is None else [{k: t[k] for k in _TASK if k in t} for t in tasks]})
    return {"local": local, "vms": part("/cluster/resources?type=vm"), "jobs": part("/cluster/backup"),
            "nodes": read, "errors": errors}


def vms_named(api: Api, name: str) -> list[tuple[str, dict[str, Any]]]:
    """(node, its ``qemu`` list entry) of every VM of the cluster named ``name`` (Proxmox does not make
    names unique: a caller that must designate one VM refuses two)."""
    found = []
    for node in api.get("/nodes") or ():
        if node.get("status") != "online":
            continue
        for vm in api.get(f"/nodes/{_quote(node['node'])}/qemu") or ():
            if vm.get("name") == name:
                found.append((str(node["node"]), vm))
    return found


def vm_path(node: str, vm: dict[str, Any]) -> str:
    """The API path of a VM (``/nodes/<node>/qemu/<vmid>``)."""
    return f"/nodes/{_quote(node)}/qemu/{_quote(vm.get('vmid'))}"


def agent(api: Api, name: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of asking the guest agent of the VM named ``name``."""
    for node, vm in vms_named(api, name)[:1]:
        base = vm_path(node, vm) + "/agent"
        try:
            api.call("POST", base + "/ping")
            info = api.get(base + "/info")
        except ApiError as exc:
            return exc.status, "", exc.reason
        return 0, json.dumps(info, sort_keys=True), ""
    return 404, "", f"VM {name} introuvable"


def open_api(host: HostContext) -> tuple[Api, str]:
    """A session on the host's API (``options.pve``) and the token's id; closed by the host's deadline.

    Refuses a user that is not an API token (the grader never logs in to Proxmox with a password) and
    ``http`` towards anything but loopback."""
    options = host.options if isinstance(host.options, PveOptions) else PveOptions()
    ref = option_credential(host, options.credential,
                            missing=Msg("un jeton d'API Proxmox est attendu (options.pve.credential)"))
    secret = resolve_password(ref)
    if "!" not in secret.username or "@" not in secret.username:
        raise CredentialError(Msg("« {username} » n'est pas un jeton d'API (utilisateur@royaume!jeton) : "
                                  "le grader ne se connecte jamais à Proxmox avec un mot de passe",
                                  username=secret.username))
    if options.scheme == "http" and not _loopback(host.address):
        raise TransportError(Msg("http n'est accepté que vers la boucle locale : un jeton ne circule pas en clair"))
    netloc = f"[{host.address}]" if ":" in host.address else host.address
    verify: bool | str = options.ca_file or options.verify_tls
    timeout = min(host.connect_timeout * 4, max(1.0, host.deadline.remaining()))
    api = Api(f"{options.scheme}://{netloc}:{options.port}/api2/json", secret.username, secret.password,
              verify, timeout)
    host.deadline.guard(api.close)
    return api, secret.username


class PveChannel(Channel):
    """The ``pve`` channel: the host's probes answered through its Proxmox VE API, one session per host."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        api, token = open_api(host)
        results: dict[str, ProbeResult] = {}
        try:
            for probe in probes:
                base, t0 = probe_fields(probe), time.perf_counter()
                try:
                    if probe.command == INVENTORY:
                        code, out, err = 0, json.dumps(walk(api), sort_keys=True, ensure_ascii=False), ""
                    elif probe.command == BACKUPS:
                        code, out, err = 0, json.dumps(backups(api), sort_keys=True, ensure_ascii=False), ""
                    elif probe.command.startswith(AGENT):
                        code, out, err = agent(api, probe.command[len(AGENT):])
                    else:
                        code, out, err = 2, "", f"requête pve inconnue : {probe.command}"
                except ApiError as exc:
                    if exc.status == -1 and host.primary and not results:
                        raise Unreachable(Msg("l'API Proxmox VE ne répond pas : {reason}", reason=exc.reason)) from None
                    code, out, err = exc.status, "", exc.reason
                results[probe.key] = ProbeResult(**base, stdout=out[:CAP], stderr=err, exit_code=code,
                                                 duration=time.perf_counter() - t0, truncated=len(out) > CAP)
        finally:
            api.close()
        return Collected(results, login=Msg("{token} (jeton d'API)", token=token), execs=api.requests)
