"""Judge of "proxy.filters" on curl's outputs through squid, including the ways a careless judge is fooled.

The responses are those the probe (``/usr/bin/curl -q -sS -i --proxy ... -w '%{stderr}@curl ...'``)
printed on the lab's pc-lan through squid 5.7 of Debian 12 (grader/lab/proxy.py's planting,
2026-11-29): the allowed page relayed (Via/X-Cache), squid's own ERR_ACCESS_DENIED page, the
forbidden page served by a proxy whose deny comes after the allow. The other cases (proxy down,
forbidden site down, a 403 from the site itself) are written here from curl's and squid's
documented behaviour: exit 7 with connect time 0, ``ERR_CONNECT_FAIL``, a relayed origin 403.
The lab test (tests/test_proxy_pki_lab.py) produces the real ones end to end.
"""

from __future__ import annotations

import pytest

from checks.network.proxy import ProxyFilters, fetch_probe, parse_response
from grader.check import evaluate
from grader.model import ProbeResult, Status

PARAMS = {"proxy": "10.77.1.65", "allowed": "http://www.example/", "blocked": "http://jeux.example/",
          "expect": "Portail de la formation TSSR", "blocked_marker": "Salle de jeux"}

ALLOWED_200 = """HTTP/1.1 200 OK\r
Date: Sun, 29 Nov 2026 04:05:18 GMT\r
Server: Apache/2.4.68 (Debian)\r
Content-Length: 232\r
Content-Type: text/html\r
X-Cache: MISS from routeur\r
X-Cache-Lookup: MISS from routeur:3128\r
Via: 1.1 routeur (squid/5.7)\r
Connection: keep-alive\r
\r
<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>Portail de la formation TSSR</title></head>
<body><h1>Portail de la formation TSSR</h1><p>Site www.example servi par le serveur WAN de l'examen.</p></body>
</html>
"""
BLOCKED_SERVED = ALLOWED_200.replace("Portail de la formation TSSR", "Salle de jeux en ligne").replace(
    "www.example", "jeux.example")
SQUID_403 = """HTTP/1.1 403 Forbidden\r
Server: squid/5.7\r
Mime-Version: 1.0\r
Content-Type: text/html;charset=utf-8\r
Content-Length: 3063\r
X-Squid-Error: ERR_ACCESS_DENIED 0\r
X-Cache: MISS from routeur\r
X-Cache-Lookup: NONE from routeur:3128\r
Via: 1.1 routeur (squid/5.7)\r
Connection: keep-alive\r
\r
<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">
<html><head><title>ERROR: The requested URL could not be retrieved</title></head><body>Access Denied.</body></html>
"""
SQUID_503_CONNECT_FAIL = SQUID_403.replace("403 Forbidden", "503 Service Unavailable").replace(
    "ERR_ACCESS_DENIED 0", "ERR_CONNECT_FAIL 113").replace("Access Denied.", "Connection to 10.77.1.140 failed.")
SQUID_503_DNS_FAIL = SQUID_503_CONNECT_FAIL.replace("ERR_CONNECT_FAIL 113", "ERR_DNS_FAIL 0")
ORIGIN_403_RELAYED = """HTTP/1.1 403 Forbidden\r
Server: Apache/2.4.68 (Debian)\r
Content-Type: text/html; charset=iso-8859-1\r
X-Cache: MISS from routeur\r
Via: 1.1 routeur (squid/5.7)\r
\r
<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1></body></html>
"""
BARE_403 = "HTTP/1.0 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nnon\n"
PROXY_DOWN = ("", ("curl: (7) Failed to connect to 10.77.1.65 port 3128 after 0 ms: Couldn't connect to server\n"
              "@curl connect=0.000000 code=000\n"), 7)
NO_ANSWER = ("", ("curl: (28) Operation timed out after 5001 milliseconds with 0 bytes received\n"
             "@curl connect=0.000612 code=000\n"), 28)


def _result(name: str, stdout: str, stderr: str | None = None, exit_code: int = 0) -> ProbeResult:
    url = PARAMS["allowed"] if name == "autorise" else PARAMS["blocked"]
    probe = fetch_probe(PARAMS["proxy"], 3128, url, 5.0)
    if stderr is None:
        status = stdout.split()[1] if stdout.startswith("HTTP/") else "000"
        stderr = f"@curl connect=0.000654 code={status}\n"
    return ProbeResult(probe.key, "ssh", probe.command, stdout=stdout, stderr=stderr, exit_code=exit_code)


def _judge(allowed, blocked, **extra):
    params = ProxyFilters.Params(**{**PARAMS, **extra})
    a = _result("autorise", *allowed) if isinstance(allowed, tuple) else _result("autorise", allowed)
    b = _result("interdit", *blocked) if isinstance(blocked, tuple) else _result("interdit", blocked)
    assert set(ProxyFilters().probes(params)) == {"autorise", "interdit"}
    return evaluate(ProxyFilters(), params, {"autorise": a, "interdit": b})


def test_the_probe_is_curl_by_absolute_path_without_config_files_through_the_proxy():
    probe = fetch_probe("10.77.1.65", 3128, "http://www.example/", 5.0)
    assert probe.active and probe.transport == "ssh" and probe.timeout > 5
    assert probe.command.startswith("/usr/bin/curl -q ")
    assert "--proxy http://10.77.1.65:3128" in probe.command and "Cache-Control: no-cache" in probe.command
    assert probe.command.endswith("-- http://www.example/")
    hostile = fetch_probe("10.77.1.65", 3128, "http://x/;rm -rf /", 5.0).command
    assert "'http://x/;rm -rf /'" in hostile  # quoted, never interpolated


def test_parse_response_reads_status_headers_page_and_curls_own_line():
    r = parse_response(_result("autorise", ALLOWED_200))
    assert r.connected and r.status == 200 and r.header("via") == "1.1 routeur (squid/5.7)"
    assert "Portail de la formation TSSR" in r.body and not r.squid_error
    d = parse_response(_result("interdit", SQUID_403))
    assert d.status == 403 and d.squid_error == "ERR_ACCESS_DENIED"
    down = parse_response(_result("autorise", *PROXY_DOWN))
    assert down.connected is False and down.status is None and "Couldn't connect" in down.error
    interim = parse_response(_result("autorise", "HTTP/1.1 100 Continue\r\n\r\n" + ALLOWED_200))
    assert interim.status == 200 and interim.header("Via")
    assert parse_response(ProbeResult("k", "ssh", "", stdout=ALLOWED_200, exit_code=0)).connected is None


def test_allowed_passes_and_forbidden_denied_by_squid_is_conforme():
    v = _judge(ALLOWED_200, SQUID_403)
    assert v.status is Status.CONFORME
    assert "http://www.example/ : HTTP 200, Via: 1.1 routeur (squid/5.7)" in v.observed
    assert "http://jeux.example/ : HTTP 403, X-Squid-Error: ERR_ACCESS_DENIED 0" in v.observed


def test_forbidden_page_served_is_non_conforme():
    """02's proxy: ``http_access allow lan`` before ``deny jeux``: the forbidden page arrives."""
    v = _judge(ALLOWED_200, BLOCKED_SERVED)
    assert v.status is Status.NON_CONFORME and "page du site interdit a été servie" in v.message
    assert _judge(ALLOWED_200, BLOCKED_SERVED, blocked_marker=None).status is Status.NON_CONFORME


def test_proxy_down_is_non_conforme_never_a_refusal():
    """Both requests fail the same way: « le proxy ne répond pas », not « site interdit refusé »."""
    v = _judge(PROXY_DOWN, PROXY_DOWN)
    assert v.status is Status.NON_CONFORME and v.message.startswith("Le proxy ne répond pas sur 10.77.1.65:3128")
    assert "aucune réponse HTTP (curl 7" in v.observed
    assert _judge(ALLOWED_200, PROXY_DOWN).status is Status.ERREUR  # one connection of two: we cannot tell


def test_forbidden_site_down_is_not_a_denial():
    """A forbidden site that is down looks blocked to a careless judge; squid's own error says it tried."""
    for down in (SQUID_503_CONNECT_FAIL, SQUID_503_DNS_FAIL):
        v = _judge(ALLOWED_200, down)
        assert v.status is Status.NON_CONFORME and "a laissé passer" in v.message
    silent = _judge(ALLOWED_200, NO_ANSWER)
    assert silent.status is Status.ERREUR and "un silence ne prouve rien" in silent.message


def test_a_403_from_the_site_itself_is_not_the_proxy_filtering():
    v = _judge(ALLOWED_200, ORIGIN_403_RELAYED)
    assert v.status is Status.NON_CONFORME and "vient du site lui-même" in v.message
    unknown = _judge(ALLOWED_200, BARE_403)  # no squid header at all: who refused?
    assert unknown.status is Status.ERREUR


def test_allowed_site_refused_by_the_proxy_is_non_conforme():
    """A proxy that denies everything (Debian's default squid.conf) passes the forbidden half only."""
    v = _judge(SQUID_403, SQUID_403)
    assert v.status is Status.NON_CONFORME and "refuse le site autorisé" in v.message


def test_allowed_site_unreachable_behind_the_proxy_is_erreur():
    v = _judge(SQUID_503_CONNECT_FAIL, SQUID_403)
    assert v.status is Status.ERREUR and "ERR_CONNECT_FAIL" in v.message
    assert _judge(NO_ANSWER, SQUID_403).status is Status.ERREUR
    # ... unless the forbidden half already proves the filter wrong
    assert _judge(SQUID_503_CONNECT_FAIL, BLOCKED_SERVED).status is Status.NON_CONFORME


def test_allowed_page_without_proxy_mark_or_expected_text():
    bare = ALLOWED_200.replace("X-Cache: MISS from routeur\r\n", "").replace("Via: 1.1 routeur (squid/5.7)\r\n", "")
    v = _judge(bare, SQUID_403)
    assert v.status is Status.ERREUR and "Via" in v.message
    wrong = _judge(ALLOWED_200.replace("Portail de la formation TSSR", "Autre chose"), SQUID_403)
    assert wrong.status is Status.NON_CONFORME and "ne contient pas" in wrong.message


def test_custom_deny_page_is_accepted_when_the_rubric_names_it():
    custom = SQUID_403.replace("ERR_ACCESS_DENIED 0", "ERR_JEUX_INTERDITS 0")
    unknown = _judge(ALLOWED_200, custom)  # a squid page the rubric does not name: neither denial nor fetch
    assert unknown.status is Status.ERREUR and "ERR_JEUX_INTERDITS" in unknown.message
    v = _judge(ALLOWED_200, custom, deny_pages=["ERR_ACCESS_DENIED", "ERR_JEUX_INTERDITS"])
    assert v.status is Status.CONFORME


def test_a_proxy_asking_for_credentials_proves_neither_side():
    auth = SQUID_403.replace("403 Forbidden", "407 Proxy Authentication Required").replace(
        "ERR_ACCESS_DENIED 0", "ERR_CACHE_ACCESS_DENIED 0")
    v = _judge(auth, auth)
    assert v.status is Status.ERREUR and "ERR_CACHE_ACCESS_DENIED" in v.message


@pytest.mark.parametrize("url", ["https://www.example/", "www.example", "ftp://x/"])
def test_only_http_urls(url):
    with pytest.raises(ValueError):
        ProxyFilters.Params(**{**PARAMS, "allowed": url})


def test_the_demo_rubric_declares_the_hosts_the_proof_passes_through():
    """Router or WAN server down: the proxy check is injoignable (runner.DependencyGate), never non_conforme."""
    import rubrics
    from grader.rubric import load_rubric

    entry = next(c for c in load_rubric(rubrics.demo_rubric()).checks if c.id == "proxy-filtrage")
    assert entry.check == "proxy.filters" and set(entry.depends_on) == {"routeur", "srv-wan"}
