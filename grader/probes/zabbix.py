"""The ``zabbix`` channel's language: named read-only queries to the Zabbix JSON-RPC API, with an API token.

A probe's command is a query name and its arguments as JSON (``host {"host": "srv-lin"}``); the
channel (:mod:`grader.transports.zabbix`) answers each with ``*.get`` calls only, all of a host's
probes in one HTTP session, and writes one JSON document in ``stdout``::

    {"version": "6.0.14", "now": 1796000000, "visible_hosts": 3, ...the query's own members}

``now`` is the API server's clock (its HTTP ``Date``), so that an item's age is judged by the
supervision server's time, not the grader's; ``visible_hosts`` tells "absent" from "not visible to
this token" (a token that sees no host at all cannot prove one is missing). The queries:

* ``host``: ``hosts``, the hosts whose technical or visible name is ``host`` (``host.get`` with
  their interfaces and linked templates) and ``agent_items``, the last collection time of each
  enabled passive agent item of the host (what proves the server still polls it);
* ``items``: ``items`` of ``host`` whose key is ``key`` (``item.get``: last value and time, state);
* ``triggers``: ``triggers`` of ``host`` (``trigger.get``: description, status, state, items);
* ``problems``: the current ``problems`` (``problem.get``), of ``host`` or of every host (``host`` null).

Zabbix 6.0 takes the token in the request's ``auth`` member; 6.4 and later in an
``Authorization: Bearer`` header: the channel asks ``apiinfo.version`` first (no token) and
chooses. The secret never reaches a result.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from grader.model import Probe
from grader.probes.channel import ChannelOptions, ChannelSpec

QUERIES = ("host", "items", "triggers", "problems")


class ZabbixOptions(ChannelOptions):
    """``hosts[].options.zabbix`` in a rubric.

    ``credential``: the rubric credential holding the API token (``username``: the Zabbix user it
    belongs to, shown in the evidence; the token in ``password_env``/``password_file``), else the
    host's own; ``path``: where the frontend is served (``/zabbix`` with Debian's and Zabbix's
    packages); ``port`` (443); ``verify_tls``/``ca_file``: how the frontend's certificate is checked;
    ``scheme``: ``http`` is accepted only towards a loopback address, a token never crosses a network
    in clear.
    """

    credential: str | None = None
    path: str = Field(default="/zabbix", pattern=r"^(/[A-Za-z0-9._~-]+)*/?$")
    port: int = Field(default=443, ge=1, le=65535)
    verify_tls: bool = True
    ca_file: str | None = None
    scheme: str = Field(default="https", pattern="^https?$")


CHANNEL = ChannelSpec("zabbix", "grader.transports.zabbix:ZabbixChannel", Options=ZabbixOptions,
                      needs_credential=True)


def query(kind: str, timeout: float = 30.0, **args: Any) -> Probe:
    """A named query (one of :data:`QUERIES`) with its arguments."""
    if kind not in QUERIES:
        raise ValueError(f"requête zabbix inconnue : {kind}")
    return Probe("zabbix", f"{kind} {json.dumps(args, sort_keys=True, ensure_ascii=False)}", timeout)


def parse_command(command: str) -> tuple[str, dict[str, Any]]:
    """(query name, arguments) of a probe's command; :raises ValueError: when it is not one."""
    kind, _, text = command.partition(" ")
    if kind not in QUERIES:
        raise ValueError(f"requête zabbix inconnue : {kind}")
    args = json.loads(text or "{}")
    if not isinstance(args, dict):
        raise ValueError("arguments de requête zabbix : un objet JSON est attendu")  # noqa: TRY004 - read as bad input
    return kind, args
