"""The ``supervision.zabbix_*`` judges and the ``zabbix`` channel, without a Zabbix server.

Answers are the channel's JSON document (:mod:`grader.probes.zabbix`) built from the objects of
the Zabbix 6.0 API reference (https://www.zabbix.com/documentation/6.0/en/manual/api/reference:
host.get with ``selectInterfaces`` — ``available`` 0 unknown, 1 available, 2 unavailable, on the
interface in 6.0 —, item.get ``lastclock``/``lastvalue``/``state``, trigger.get ``status``/``state``/
``value``, problem.get); the error texts are those Zabbix 6.0.14 (Debian 12) gave in the lab
(tests/test_zabbix_lab.py), and the recorded answers ``data/zabbix_*`` are that real server's, captured
by the lab test (``GRADER_CAPTURE_ZABBIX``). The channel is exercised against a JSON-RPC endpoint on loopback that
answers as 6.0 does: the token in the request's ``auth`` member, ``apiinfo.version`` refusing it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from checks.network._monitoring import parse_zabbix
from checks.network.zabbix import ZabbixAgent, ZabbixHost, ZabbixItem, ZabbixProblem, ZabbixTrigger
from grader.check import Check, evaluate
from grader.errors import CredentialError, TransportError
from grader.model import ProbeResult, Status, Verdict
from grader.probes.zabbix import ZabbixOptions, parse_command, query
from grader.rubric import Credential
from grader.transports.base import HostContext
from grader.transports.zabbix import ZabbixChannel
from tests.checks.conftest import load_capture, make_result

NOW = 1796500000
TOKEN = "9f3c1a" + "0" * 58
INTERFACE_OK = {"interfaceid": "5", "type": "1", "main": "1", "useip": "1", "ip": "10.77.50.21", "dns": "",
                "port": "10050", "available": "1", "error": ""}
INTERFACE_KO = {**INTERFACE_OK, "ip": "10.77.50.22", "available": "2",
                "error": "Get value from agent failed: ZBX_TCP_READ() failed: [104] Connection reset by peer"}
HOST = {"hostid": "10561", "host": "c01-srv", "name": "c01-srv", "status": "0", "maintenance_status": "0",
        "interfaces": [INTERFACE_OK],
        "parentTemplates": [{"templateid": "10001", "host": "Linux by Zabbix agent", "name": "Linux by Zabbix agent"}]}


def doc(**parts: Any) -> ProbeResult:
    body = {"version": "6.0.14", "now": NOW, "visible_hosts": 3, "hosts": [HOST], **parts}
    return make_result(json.dumps(body), transport="zabbix")


def judge(check: Check, result: ProbeResult, **params: Any) -> Verdict:
    p = type(check).Params(**{"host": "c01-srv", **params})  # type: ignore[attr-defined]
    assert set(check.probes(p)) == {"api"} and check.probes(p)["api"].transport == "zabbix"
    verdict = evaluate(check, p, {"api": result})
    assert verdict.message
    return verdict


def test_probe_commands_round_trip():
    probe = query("items", host="c01-srv", key="net.tcp.service[ssh]")
    assert parse_command(probe.command) == ("items", {"host": "c01-srv", "key": "net.tcp.service[ssh]"})
    with pytest.raises(ValueError, match="inconnue"):
        parse_command('host.delete {"host": "x"}')
    answer = parse_zabbix(doc(agent_items=[{"hostid": "10561", "key_": "agent.ping", "lastclock": str(NOW - 30)}]).stdout)
    assert answer.hosts[0].agent_clocks == (NOW - 30,) and answer.hosts[0].interfaces[0].availability == "disponible"


def test_host_defined_with_interface_and_template():
    v = judge(ZabbixHost(), doc(), address="10.77.50.21", templates=["linux by zabbix"])
    assert v.status is Status.CONFORME and "agent 10.77.50.21:10050" in v.observed
    v = judge(ZabbixHost(), doc(), address="10.77.50.99", templates=["Windows by Zabbix agent"])
    assert v.status is Status.NON_CONFORME and "10.77.50.99" in v.message and "Windows" in v.message
    disabled = doc(hosts=[{**HOST, "status": "1"}])
    assert judge(ZabbixHost(), disabled).status is Status.NON_CONFORME


def test_absent_host_is_non_conforme_only_when_the_token_sees_hosts():
    v = judge(ZabbixHost(), doc(hosts=[]))
    assert v.status is Status.NON_CONFORME and "absent" in v.observed
    blind = doc(hosts=[], visible_hosts=0)
    v = judge(ZabbixHost(), blind)
    assert v.status is Status.ERREUR and "droit de lecture" in v.message


def test_agent_available_needs_a_fresh_value():
    fresh = [{"hostid": "10561", "key_": "agent.ping", "lastclock": str(NOW - 20)}]
    assert judge(ZabbixAgent(), doc(agent_items=fresh)).status is Status.CONFORME
    # green in the database, but nothing collected for an hour: a stopped server, not a proof
    stale = [{"hostid": "10561", "key_": "agent.ping", "lastclock": str(NOW - 3600)}]
    v = judge(ZabbixAgent(), doc(agent_items=stale))
    assert v.status is Status.ERREUR and "ne collecte plus" in v.message
    assert judge(ZabbixAgent(), doc(agent_items=[])).status is Status.ERREUR


def test_agent_unavailable_is_non_conforme_with_the_servers_reason():
    v = judge(ZabbixAgent(), doc(hosts=[{**HOST, "interfaces": [INTERFACE_KO]}], agent_items=[]))
    assert v.status is Status.NON_CONFORME and "indisponible" in v.observed and "Connection reset" in v.observed
    grey = {**INTERFACE_OK, "available": "0"}
    v = judge(ZabbixAgent(), doc(hosts=[{**HOST, "interfaces": [grey]}]))
    assert v.status is Status.ERREUR and "pas encore interrogé" in v.message
    snmp_only = {**INTERFACE_OK, "type": "2", "port": "161"}
    assert judge(ZabbixAgent(), doc(hosts=[{**HOST, "interfaces": [snmp_only]}])).status is Status.NON_CONFORME


ITEM = {"itemid": "44001", "name": "Service SSH", "key_": "net.tcp.service[ssh]", "type": "0", "status": "0",
        "state": "0", "error": "", "lastclock": str(NOW - 4), "lastvalue": "1", "delay": "5s", "value_type": "3",
        "units": ""}


def test_item_fresh_value():
    key = {"key": "net.tcp.service[ssh]"}
    assert judge(ZabbixItem(), doc(items=[ITEM]), **key, value="^1$").status is Status.CONFORME
    assert judge(ZabbixItem(), doc(items=[ITEM]), **key, value="^0$").status is Status.NON_CONFORME
    old = {**ITEM, "lastclock": str(NOW - 7200)}
    v = judge(ZabbixItem(), doc(items=[old]), **key)
    assert v.status is Status.NON_CONFORME and "120 min" in v.message
    never = {**ITEM, "lastclock": "0", "lastvalue": "0"}
    assert judge(ZabbixItem(), doc(items=[never]), **key).status is Status.NON_CONFORME
    unsupported = {**ITEM, "state": "1", "error": "Unsupported item key."}
    v = judge(ZabbixItem(), doc(items=[unsupported]), **key)
    assert v.status is Status.NON_CONFORME and "Unsupported item key" in v.observed
    assert judge(ZabbixItem(), doc(items=[]), **key).status is Status.NON_CONFORME
    no_clock = make_result(json.dumps({"version": "6.0.14", "now": None, "visible_hosts": 3, "hosts": [HOST],
                                       "items": [ITEM]}), transport="zabbix")
    assert judge(ZabbixItem(), no_clock, **key).status is Status.ERREUR


TRIGGER = {"triggerid": "23001", "description": "SSH arrêté sur c01-srv", "expression":
           "last(/c01-srv/net.tcp.service[ssh])=0", "status": "0", "state": "0", "value": "0", "priority": "4",
           "error": "", "items": [{"key_": "net.tcp.service[ssh]", "status": "0", "state": "0"}]}


def test_trigger_on_a_service_enabled():
    assert judge(ZabbixTrigger(), doc(triggers=[TRIGGER]), key="net.tcp.service[ssh]").status is Status.CONFORME
    assert judge(ZabbixTrigger(), doc(triggers=[TRIGGER]), trigger="ssh arrêté").status is Status.CONFORME
    off = {**TRIGGER, "status": "1"}
    v = judge(ZabbixTrigger(), doc(triggers=[off]), key="net.tcp.service[ssh]")
    assert v.status is Status.NON_CONFORME and "désactivé" in v.message
    v = judge(ZabbixTrigger(), doc(triggers=[TRIGGER]), key="net.tcp.service[http]")
    assert v.status is Status.NON_CONFORME and "Aucun déclencheur" in v.message
    with pytest.raises(ValueError):
        ZabbixTrigger.Params(host="c01-srv")


def test_problems_list():
    problems = [{"eventid": "90", "objectid": "23002", "name": "HTTP arrêté sur c01-srv", "severity": "3",
                 "clock": str(NOW - 60), "acknowledged": "0", "suppressed": "0"}]
    assert judge(ZabbixProblem(), doc(problems=problems), present=["http"], absent=["SSH"]).status is Status.CONFORME
    v = judge(ZabbixProblem(), doc(problems=problems), absent=["HTTP"])
    assert v.status is Status.NON_CONFORME and "en trop" in v.message
    v = judge(ZabbixProblem(), doc(problems=[]), present=["HTTP"])
    assert v.status is Status.NON_CONFORME and "manquent" in v.message
    assert judge(ZabbixProblem(), doc(problems=[])).status is Status.CONFORME
    assert judge(ZabbixProblem(), doc(problems=problems)).status is Status.NON_CONFORME


def test_refused_or_unreadable_answers_are_erreur():
    refused = make_result("", "Invalid params. No permissions to referred object or it does not exist!", 1,
                          transport="zabbix")
    for check in (ZabbixHost(), ZabbixAgent(), ZabbixProblem()):
        assert judge(check, refused).status is Status.ERREUR
    assert judge(ZabbixHost(), make_result("<html>", transport="zabbix")).status is Status.ERREUR
    assert judge(ZabbixHost(), make_result("{}", truncated=True, transport="zabbix")).status is Status.ERREUR


# --- answers of the real Zabbix 6.0.14 in the lab (tests/test_zabbix_lab.py) ------------------------------

def test_recorded_answers_of_a_host_defined_with_its_agent_rejecting_the_server():
    """c01's agent answers the server; c02's host is defined alike but its agent's Server= names another address."""
    ssh = {"key": "net.tcp.service[ssh]"}
    for candidate, want in (("01", Status.CONFORME), ("02", Status.CONFORME)):
        v = judge(ZabbixHost(), load_capture(f"zabbix_host_c{candidate}.txt"), host=f"c{candidate}-srv",
                  address=f"10.77.50.2{candidate[-1]}", templates=["Linux by Zabbix agent"])
        assert v.status is want, v.message
        v = judge(ZabbixTrigger(), load_capture(f"zabbix_triggers_c{candidate}.txt"), host=f"c{candidate}-srv",
                  trigger="SSH", **ssh)
        assert v.status is Status.CONFORME, v.message
    assert judge(ZabbixAgent(), load_capture("zabbix_host_c01.txt"), max_age=120).status is Status.CONFORME
    v = judge(ZabbixAgent(), load_capture("zabbix_host_c02.txt"), host="c02-srv")
    assert v.status is Status.NON_CONFORME and "access permissions" in v.observed
    v = judge(ZabbixItem(), load_capture("zabbix_items_c01.txt"), value="^1$", max_age=60, **ssh)
    assert v.status is Status.CONFORME and "= 1 il y a 5 s" in v.observed
    assert judge(ZabbixItem(), load_capture("zabbix_items_c02.txt"), host="c02-srv", **ssh).status is Status.NON_CONFORME
    for candidate, want in (("01", Status.CONFORME), ("02", Status.NON_CONFORME)):
        v = judge(ZabbixProblem(), load_capture(f"zabbix_problems_c{candidate}.txt"), host=f"c{candidate}-srv",
                  present=["HTTP"], absent=["SSH"])
        assert v.status is want, v.message


# --- the channel, against a JSON-RPC endpoint on loopback answering as Zabbix 6.0 ---------------------------

class _Api(BaseHTTPRequestHandler):
    calls: ClassVar[list[dict[str, Any]]] = []
    version: ClassVar[str] = "6.0.14"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append({**body, "header": self.headers.get("Authorization")})
        method = body["method"]
        bearer = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        modern = self.version >= "6.4"  # 7.4 answers this way to an "auth" member
        if modern and "auth" in body:
            answer: dict[str, Any] = {"error": {"code": -32600, "message": "Invalid request.",
                                                "data": 'Invalid parameter "/": unexpected parameter "auth".'}}
        elif method == "apiinfo.version":
            answer = ({"error": {"code": -32602, "message": "Invalid params.", "data":
                                 'The "apiinfo.version" method must be called without the "auth" parameter.'}}
                      if "auth" in body else {"result": self.version})
        elif (not bearer) if modern else body.get("auth") != TOKEN:
            answer = {"error": {"code": -32602, "message": "Invalid params.", "data": "Not authorized."}}
        elif method == "host.get":
            answer = {"result": "1" if body["params"].get("countOutput") else
                      ([HOST] if body["params"].get("filter", {}).get("host") == ["c01-srv"] else [])}
        elif method == "item.get":
            answer = {"result": [{"hostid": "10561", "key_": "agent.ping", "lastclock": "1796499990"}]}
        else:
            answer = {"result": []}
        data = json.dumps({"jsonrpc": "2.0", "id": body["id"], **answer}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(version: str = "6.0.14") -> Iterator[int]:
    _Api.calls, _Api.version = [], version
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _host(port: int, env: str = "ZABBIX_TOKEN", **options: Any) -> HostContext:
    return HostContext(name="zabbix", address="127.0.0.1", platform="linux", port=None,
                       credential=Credential(username="grader", password_env=env), credentials={},
                       options=ZabbixOptions(port=port, scheme="http", path="/", **options), primary=True)


def test_channel_reads_with_the_token_in_auth_and_never_shows_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ZABBIX_TOKEN", TOKEN)
    with serving() as port:
        probes = [ZabbixAgent().probes(ZabbixAgent.Params(host="c01-srv"))["api"],
                  query("items", host="c01-srv", key="agent.ping")]
        collected = ZabbixChannel().collect(_host(port), probes)
    result = collected.results[probes[0].key]
    assert result.exit_code == 0 and TOKEN not in result.stdout + result.stderr + result.command
    answer = parse_zabbix(result.stdout)
    assert answer.version == "6.0.14" and answer.now and answer.hosts[0].agent_clocks == (1796499990,)
    methods = [c["method"] for c in _Api.calls]
    assert methods[0] == "apiinfo.version" and "auth" not in _Api.calls[0]
    assert all(m.endswith(".get") for m in methods[1:]) and all(c["header"] is None for c in _Api.calls)
    assert "grader" in str(collected.login) and TOKEN not in str(collected.login)
    # one session: what both probes ask alike (the host count, the host by name) is asked once
    assert methods.count("host.get") == 2 and collected.execs == len(_Api.calls) == 5


def test_channel_sends_the_token_as_a_bearer_header_from_6_4(monkeypatch: pytest.MonkeyPatch):
    """Zabbix 6.4 and later: ``Authorization: Bearer``; 7.4 refuses an ``auth`` member outright."""
    monkeypatch.setenv("ZABBIX_TOKEN", TOKEN)
    with serving("7.4.1") as port:
        collected = ZabbixChannel().collect(_host(port), [query("host", host="c01-srv")])
    [result] = collected.results.values()
    assert result.exit_code == 0 and parse_zabbix(result.stdout).version == "7.4.1", result.stderr
    assert all("auth" not in c for c in _Api.calls) and _Api.calls[0]["header"] is None
    assert all(c["header"] == f"Bearer {TOKEN}" for c in _Api.calls[1:])


def test_channel_refused_token_is_a_credential_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ZABBIX_TOKEN", "f" * 64)
    with serving() as port, pytest.raises(CredentialError, match="Not authorized"):
        ZabbixChannel().collect(_host(port), [query("host", host="c01-srv")])


def test_channel_never_sends_a_token_in_clear_beyond_loopback(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ZABBIX_TOKEN", TOKEN)
    remote = HostContext(name="zabbix", address="10.77.50.10", platform="linux", port=None,
                         credential=Credential(username="grader", password_env="ZABBIX_TOKEN"), credentials={},
                         options=ZabbixOptions(scheme="http"))
    with pytest.raises(TransportError, match="en clair"):
        ZabbixChannel().collect(remote, [query("host", host="c01-srv")])
