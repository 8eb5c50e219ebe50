"""The ``zabbix`` channel: the Zabbix JSON-RPC API, read by the grader with an API token.

One ``requests`` session per host (no proxy from the environment, the certificate checked), every
probe of the host answered through it, ``*.get`` methods only: grading never changes the
supervision server. The version is asked first, without a token (``apiinfo.version`` refuses
one): Zabbix before 6.4 takes the token in the request's ``auth`` member, 6.4 and later in an
``Authorization: Bearer`` header. The token is sent there and nowhere else; results hold the
API's answers and the login says the token's user, never its secret.

An API that refuses the token (``Not authorized``, an expired or disabled token) is
:class:`CredentialError`: every check of the host ``erreur`` with Zabbix's own words, never
``non_conforme``. An API that does not answer is :class:`Unreachable` when ``zabbix`` is the
host's primary transport.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import socket
import time
from collections.abc import Sequence
from typing import Any

import requests

from grader.credentials import resolve_password
from grader.errors import CredentialError, TransportError, Unreachable
from grader.model import Msg, Probe, ProbeResult
from grader.probes.zabbix import CHANNEL, ZabbixOptions, parse_command
from grader.transports.base import Channel, Collected, HostContext, option_credential, probe_fields
from grader.transports.envelope import CAP
from grader.transports.rest import request_failure

#: Words of Zabbix's JSON-RPC errors that mean "this token is not accepted" (6.0: -32602 "Invalid
#: params." with data "Not authorized." or "API token expired."; 6.4+: -32500 "Not authorized.").
AUTH_ERRORS = ("not authori", "session terminated", "api token", "re-login", "no permissions to call")
HOST_FIELDS = ["hostid", "host", "name", "status", "maintenance_status"]
INTERFACE_FIELDS = ["interfaceid", "type", "main", "useip", "ip", "dns", "port", "available", "error"]
ITEM_FIELDS = ["itemid", "name", "key_", "type", "status", "state", "error", "lastclock", "lastvalue", "delay",
               "value_type", "units"]
TRIGGER_FIELDS = ["triggerid", "description", "expression", "status", "state", "value", "priority", "error"]
PROBLEM_FIELDS = ["eventid", "objectid", "name", "severity", "clock", "acknowledged", "suppressed"]


class ApiError(Exception):
    """A call the API answered with a JSON-RPC error (or did not answer: code -1)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code, self.reason = code, reason


def _loopback(address: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(address, None))
    except (OSError, ValueError):
        return False


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for word in version.split(".")[:2]:
        digits = "".join(c for c in word if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


class Api:
    """The JSON-RPC endpoint of one frontend through one session; :meth:`call` returns ``result``."""

    def __init__(self, url: str, token: str, verify: bool | str, timeout: float) -> None:
        self.url, self.timeout, self._token = url, timeout, token
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy, no .netrc from the environment
        self.session.verify = verify
        self.session.headers.update({"Content-Type": "application/json-rpc", "User-Agent": "grader (TSSR)"})
        self.requests, self.version = 0, ""
        self.now: int | None = None
        self._in_body = True
        self._answers: dict[str, Any] = {}  # read-only calls, asked once per session (every probe counts hosts)

    def login(self) -> str:
        """Ask the version (no token) and choose where the token goes; the version."""
        self.version = str(self.call("apiinfo.version", {}, auth=False))
        if _version_tuple(self.version) >= (6, 4):
            self._in_body = False
            self.session.headers["Authorization"] = f"Bearer {self._token}"
        return self.version

    def call(self, method: str, params: dict[str, Any], *, auth: bool = True) -> Any:
        if not (method.endswith(".get") or method == "apiinfo.version"):
            raise ValueError(f"méthode refusée (lecture seule) : {method}")
        key = json.dumps([method, params, auth], sort_keys=True)
        if key not in self._answers:
            self._answers[key] = self._post(method, params, auth)
        return self._answers[key]

    def _post(self, method: str, params: dict[str, Any], auth: bool) -> Any:
        self.requests += 1
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params, "id": self.requests}
        if auth and self._in_body:
            body["auth"] = self._token
        try:
            response = self.session.post(self.url, data=json.dumps(body), timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiError(-1, request_failure(exc)) from None  # never str(exc): see grader.transports.rest
        date = response.headers.get("Date")
        if date:
            try:
                self.now = int(email.utils.parsedate_to_datetime(date).timestamp())
            except (TypeError, ValueError):
                pass
        if response.status_code != 200:
            raise ApiError(response.status_code, f"HTTP {response.status_code} {response.reason or ''}".strip())
        try:
            answer = response.json()
        except ValueError:
            raise ApiError(response.status_code, "réponse non JSON (chemin du frontal ?)") from None
        if not isinstance(answer, dict):
            raise ApiError(response.status_code, "réponse JSON-RPC invalide")
        error = answer.get("error")
        if error is not None:
            reason = " ".join(str(error.get(k) or "") for k in ("message", "data")).strip() if isinstance(error, dict) \
                else str(error)
            if auth and any(word in reason.casefold() for word in AUTH_ERRORS):
                raise CredentialError(Msg("jeton d'API refusé par Zabbix ({reason})", reason=reason[:200]))
            code = error.get("code", 0) if isinstance(error, dict) else 0
            raise ApiError(int(code) if isinstance(code, int) else 0, reason[:300])
        return answer.get("result")

    def close(self) -> None:
        self.session.close()


def _host_ids(api: Api, name: str) -> list[dict[str, Any]]:
    """The hosts named ``name`` (technical name, else visible name), with interfaces and templates."""
    common = {"output": HOST_FIELDS, "selectInterfaces": INTERFACE_FIELDS,
              "selectParentTemplates": ["templateid", "host", "name"]}
    found = api.call("host.get", {**common, "filter": {"host": [name]}}) or []
    if not found:
        found = api.call("host.get", {**common, "filter": {"name": [name]}}) or []
    return list(found)


def answer(api: Api, kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of one query (see :mod:`grader.probes.zabbix`)."""
    out: dict[str, Any] = {"version": api.version}
    out["visible_hosts"] = int(api.call("host.get", {"countOutput": True}) or 0)
    name = args.get("host")
    hosts = _host_ids(api, str(name)) if name is not None else []
    ids = [h["hostid"] for h in hosts]
    if kind == "host":
        out["hosts"] = hosts
        out["agent_items"] = (api.call("item.get", {"hostids": ids, "output": ["hostid", "key_", "lastclock"],
                                                    "filter": {"type": 0, "status": 0}}) if ids else [])
    elif kind == "items":
        out["hosts"] = [{k: h.get(k) for k in HOST_FIELDS} for h in hosts]
        out["items"] = (api.call("item.get", {"hostids": ids, "output": ITEM_FIELDS, "filter": {"key_": args.get("key")},
                                              "webitems": True}) if ids else [])
    elif kind == "triggers":
        out["hosts"] = [{k: h.get(k) for k in HOST_FIELDS} for h in hosts]
        out["triggers"] = (api.call("trigger.get", {"hostids": ids, "output": TRIGGER_FIELDS, "expandDescription": True,
                                                    "expandExpression": True,
                                                    "selectItems": ["key_", "status", "state"]}) if ids else [])
    elif kind == "problems":
        out["hosts"] = [{k: h.get(k) for k in HOST_FIELDS} for h in hosts]
        params: dict[str, Any] = {"output": PROBLEM_FIELDS, "sortfield": ["eventid"], "sortorder": "DESC",
                                  "limit": 500}
        if name is not None:
            params["hostids"] = ids
        out["problems"] = api.call("problem.get", params) if ids or name is None else []
    out["now"] = api.now
    return out


class ZabbixChannel(Channel):
    """The ``zabbix`` channel: a host's probes answered by its Zabbix API, one session per host."""

    spec = CHANNEL

    def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
        options = host.options if isinstance(host.options, ZabbixOptions) else ZabbixOptions()
        ref = option_credential(host, options.credential,
                                missing=Msg("un jeton d'API Zabbix est attendu (options.zabbix.credential)"))
        secret = resolve_password(ref)
        if not secret.password.strip():
            raise CredentialError(Msg("jeton d'API Zabbix vide pour {username}", username=secret.username))
        if options.scheme == "http" and not _loopback(host.address):
            raise TransportError(Msg("http n'est accepté que vers la boucle locale : un jeton ne circule pas en clair"))
        netloc = f"[{host.address}]" if ":" in host.address else host.address
        verify: bool | str = options.ca_file or options.verify_tls
        timeout = min(host.connect_timeout * 4, max(1.0, host.deadline.remaining()))
        path = options.path.rstrip("/")
        api = Api(f"{options.scheme}://{netloc}:{options.port}{path}/api_jsonrpc.php", secret.password.strip(),
                  verify, timeout)
        host.deadline.guard(api.close)
        results: dict[str, ProbeResult] = {}
        try:
            try:
                api.login()
            except ApiError as exc:
                if exc.code == -1 and host.primary:
                    raise Unreachable(Msg("l'API Zabbix ne répond pas : {reason}", reason=exc.reason)) from None
                raise TransportError(Msg("l'API Zabbix ne répond pas comme attendu : {reason}",
                                         reason=exc.reason)) from None
            for probe in probes:
                base, t0 = probe_fields(probe), time.perf_counter()
                try:
                    kind, args = parse_command(probe.command)
                    code, out, err = 0, json.dumps(answer(api, kind, args), sort_keys=True, ensure_ascii=False), ""
                except ValueError as exc:
                    code, out, err = 2, "", str(exc)
                except ApiError as exc:
                    code, out, err = (exc.code if exc.code > 0 else 1), "", exc.reason
                results[probe.key] = ProbeResult(**base, stdout=out[:CAP], stderr=err, exit_code=code,
                                                 duration=time.perf_counter() - t0, truncated=len(out) > CAP)
        finally:
            api.close()
        return Collected(results, login=Msg("{user} (jeton d'API Zabbix {version})", user=secret.username,
                                            version=api.version), execs=api.requests)
