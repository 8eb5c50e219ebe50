"""The channel contract: probes grouped per transport, one collect per channel per host, failures kept apart.

Fake channels stand in for a third party's transport (registered the same way: a class with a
``name``, an ``Options`` model and ``collect``); the real SSH and HTTP channels are covered by the
lab and CLI tests.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from pydantic import Field

from grader.check import Check, CheckParams
from grader.errors import RubricError, TransportError, Unreachable
from grader.model import Probe, ProbeResult, Status, Verdict
from grader.plugins import default_transports
from grader.roster import Candidate
from grader.rubric import load_rubric
from grader.runner import grade_host, plan
from grader.transports.base import Channel, ChannelOptions, Collected, HostContext


class EchoCheck(Check):
    """La valeur {value} est renvoyée par le canal."""

    id = "test.echo"
    platform = "network"
    transport = "fake"

    class Params(CheckParams):
        value: str

    def probes(self, params):
        return {"echo": Probe(self.transport, f"echo {params.value}")}

    def judge(self, params, results):
        out = results["echo"].stdout
        return Verdict.conforme(out) if out == params.value else Verdict.non_conforme(out, params.value)


class SideCheck(EchoCheck):
    """La valeur {value} est renvoyée par le canal secondaire."""

    id = "test.side"
    transport = "side"

    def probes(self, params):
        return {"echo": Probe("side", f"echo {params.value}")}


class GraderSideCheck(EchoCheck):
    """Le correcteur obtient {value}."""

    id = "test.local"
    transport = "local"

    def probes(self, params):
        return {"echo": Probe("local", f"echo {params.value}")}


class FakeOptions(ChannelOptions):
    community_credential: str | None = None
    retries: int = Field(default=1, ge=0)


def make_channel(name: str, *, fail: Exception | None = None, grader_side: bool = False):
    calls: list[tuple[str, list[str]]] = []

    class Fake(Channel):
        Options = FakeOptions

        def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
            calls.append((host.address, [p.command for p in probes]))
            if fail is not None:
                raise fail
            return Collected({p.key: ProbeResult(p.key, p.transport, p.command, stdout=p.command.split()[-1],
                                                 exit_code=0) for p in probes}, execs=1, login="lecteur")

    Fake.name = name
    Fake.grader_side = grader_side
    return Fake, calls


CATALOGUE = {c.id: c for c in (EchoCheck, SideCheck, GraderSideCheck)}
RUBRIC = """\
rubric: canaux
title: Canaux
credentials:
  lecteur: {username: lecteur, password_env: GRADER_TEST_SECRET}
hosts:
  - name: sw
    role: switch
    platform: network
    address: 10.0.0.{{ candidat }}
    transport: fake
    options:
      side: {community_credential: lecteur}
checks:
  - {id: a, check: test.echo, host: sw, params: {value: "1"}, criterion: CP5.1}
  - {id: b, check: test.echo, host: sw, params: {value: "2"}, criterion: CP5.1}
  - {id: c, check: test.side, host: sw, params: {value: "3"}, criterion: CP5.1}
  - {id: d, check: test.local, host: sw, params: {value: "4"}, criterion: CP5.1}
"""


def load(tmp_path: Path, text: str, transports: Mapping[str, type], *, with_roster: bool = False):
    path = tmp_path / "bareme.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_rubric(path, CATALOGUE, {"CP5.1"}, transports, with_roster=with_roster)


def grade(tmp_path, channels: dict[str, type]):
    rubric = load(tmp_path, RUBRIC, channels)
    [job] = plan(rubric, [Candidate("7")], CATALOGUE)
    report = grade_host(job, None, {name: cls() for name, cls in channels.items()})
    return report, {r.check_id: r for r in report.results}


def test_one_collect_per_channel_with_every_probe_of_that_channel(tmp_path):
    fake, fake_calls = make_channel("fake")
    side, side_calls = make_channel("side")
    local, local_calls = make_channel("local", grader_side=True)
    report, results = grade(tmp_path, {"fake": fake, "side": side, "local": local})
    assert fake_calls == [("10.0.0.7", ["echo 1", "echo 2"])]
    assert side_calls == [("10.0.0.7", ["echo 3"])] and local_calls == [("10.0.0.7", ["echo 4"])]
    assert {k: r.status for k, r in results.items()} == dict.fromkeys("abcd", Status.CONFORME)
    assert report.outcome.reached and report.outcome.execs == 1  # the primary channel's round trips
    assert report.login == "lecteur"


def test_primary_unreachable_makes_every_check_injoignable_even_grader_side(tmp_path):
    fake, _ = make_channel("fake", fail=Unreachable("10.0.0.7 ne répond pas"))
    side, side_calls = make_channel("side")
    local, local_calls = make_channel("local", grader_side=True)
    report, results = grade(tmp_path, {"fake": fake, "side": side, "local": local})
    assert {r.status for r in results.values()} == {Status.INJOIGNABLE}
    assert not report.outcome.reached and "ne répond pas" in report.outcome.reason
    assert side_calls == [] and local_calls == []  # nothing else is tried on a host that is down


def test_secondary_channel_failure_touches_only_its_checks(tmp_path):
    fake, _ = make_channel("fake")
    side, _ = make_channel("side", fail=TransportError("mauvais mot de passe SNMPv3 (wrong digest)"))
    local, _ = make_channel("local", grader_side=True)
    _, results = grade(tmp_path, {"fake": fake, "side": side, "local": local})
    assert results["c"].status is Status.ERREUR and "wrong digest" in results["c"].message
    assert {results[k].status for k in "abd"} == {Status.CONFORME}


def test_missing_channel_is_erreur_not_a_crash(tmp_path):
    fake, _ = make_channel("fake")
    side, _ = make_channel("side")
    local, _ = make_channel("local", grader_side=True)
    rubric = load(tmp_path, RUBRIC, {"fake": fake, "side": side, "local": local})
    [job] = plan(rubric, [Candidate("7")], CATALOGUE)
    report = grade_host(job, None, {"fake": fake(), "local": local()})
    statuses = {r.check_id: r.status for r in report.results}
    assert statuses["c"] is Status.ERREUR and statuses["a"] is Status.CONFORME


def test_rubric_transport_problems_are_located(tmp_path):
    fake, _ = make_channel("fake")
    side, _ = make_channel("side")
    bad = RUBRIC.replace("transport: fake", "transport: fak") \
                .replace("side: {community_credential: lecteur}",
                         "side: {community_credential: inconnu, retries: -1}\n      snpm: {}")
    with pytest.raises(RubricError) as info:
        load(tmp_path, bad, {"fake": fake, "side": side})
    problems = info.value.problems
    text = "\n".join(problems)
    assert "transport inconnu « fak »" in text
    assert "options pour un transport inconnu « snpm »" in text
    assert "retries" in text  # option validated by the channel's own model
    assert all(p.startswith(str(tmp_path / "bareme.yaml") + ":") for p in problems)
    lines = bad.splitlines()
    assert any(f":{lines.index('    transport: fak') + 1}:" in p for p in problems if "fak »" in p)


def test_check_on_a_host_without_its_channel_is_refused(tmp_path):
    fake, _ = make_channel("fake")
    side, _ = make_channel("side")
    no_side = RUBRIC.replace("    options:\n      side: {community_credential: lecteur}\n", "")
    with pytest.raises(RubricError) as info:
        load(tmp_path, no_side, {"fake": fake, "side": side, "local": make_channel("local", grader_side=True)[0]})
    [problem] = info.value.problems
    assert "« test.side » passe par side" in problem and "options:" in problem


def test_undeclared_credential_in_channel_options(tmp_path):
    fake, _ = make_channel("fake")
    side, _ = make_channel("side")
    local, _ = make_channel("local", grader_side=True)
    text = RUBRIC.replace("community_credential: lecteur", "community_credential: absent")
    with pytest.raises(RubricError) as info:
        load(tmp_path, text, {"fake": fake, "side": side, "local": local})
    assert any("identifiants « absent » non déclarés" in p for p in info.value.problems)


def test_builtin_channels_are_registered_through_the_plugin_hook():
    transports = default_transports()
    assert {"ssh", "http"} <= set(transports)
    assert transports["ssh"].needs_credential and transports["http"].grader_side


class TokenCheck(EchoCheck):
    """Le jeton revient."""

    id = "test.token"

    def probes(self, params):
        from grader.check import TOKEN

        return {"echo": Probe(self.transport, f"echo {TOKEN}")}

    def judge(self, params, results):
        r = results["echo"]
        return Verdict.conforme(r.stdout) if r.command.endswith(r.stdout) and "@@" not in r.stdout else \
            Verdict.non_conforme(r.stdout)


def test_token_is_fresh_per_host_and_run_and_channels_start_and_stop(tmp_path):
    from grader.runner import run_jobs

    events: list[str] = []
    fake, _calls = make_channel("fake")

    class Lifecycle(fake):
        def start(self, jobs):
            events.append(f"start {len(jobs)}")

        def stop(self):
            events.append("stop")

    catalogue = {**CATALOGUE, "test.token": TokenCheck}
    path = tmp_path / "r.yaml"
    path.write_text("rubric: t\ntitle: t\nhosts:\n  - {name: sw, role: s, platform: network, address: '10.0.0.{{ candidat }}',"
                    " transport: fake}\nchecks:\n  - {id: t, check: test.token, host: sw, params: {value: x}, criterion: CP5.1}\n")
    rubric = load_rubric(path, catalogue, {"CP5.1"}, {"fake": Lifecycle})
    jobs = plan(rubric, [Candidate("1"), Candidate("2")], catalogue)
    tokens = {j.checks[0].probes["echo"].command for j in jobs}
    assert len(tokens) == 2 and not any("@@" in t for t in tokens)
    assert tokens.isdisjoint({j.checks[0].probes["echo"].command for j in plan(rubric, [Candidate("1")], catalogue)})
    from grader import runner

    original = runner.default_channels
    runner.default_channels = lambda: {"fake": Lifecycle()}
    try:
        reports = run_jobs(jobs, known_hosts_path=None, workers=2)
    finally:
        runner.default_channels = original
    assert events == ["start 2", "stop"]
    assert {r.results[0].status for r in reports} == {Status.CONFORME}


DEPENDENT = """\
rubric: dependances
title: Dépendances
hosts:
  - {name: routeur, role: r, platform: network, address: "10.0.{{ candidat }}.1", transport: fake}
  - {name: client, role: c, platform: network, address: "10.0.{{ candidat }}.2", transport: fake}
checks:
  - {id: nat, check: test.echo, host: client, params: {value: "1"}, criterion: CP5.1, depends_on: [routeur]}
  - {id: local, check: test.echo, host: client, params: {value: "1"}, criterion: CP5.1}
  - {id: route, check: test.echo, host: routeur, params: {value: "1"}, criterion: CP5.1}
"""


def test_a_check_whose_proof_passes_through_a_host_that_is_down_is_injoignable(tmp_path):
    from grader.runner import run_jobs

    class Selective(make_channel("fake")[0]):
        def collect(self, host, probes):
            if host.address.endswith(".1"):
                raise Unreachable(f"{host.address} ne répond pas")
            return super().collect(host, probes)

    rubric = load(tmp_path, DEPENDENT, {"fake": Selective})
    jobs = plan(rubric, [Candidate("7")], CATALOGUE)
    jobs.reverse()  # the client first: it is held until the router has ended
    from grader import runner

    original = runner.default_channels
    runner.default_channels = lambda: {"fake": Selective()}
    try:
        reports = run_jobs(jobs, known_hosts_path=None, workers=1)
    finally:
        runner.default_channels = original
    got = {r.check_id: r for rep in reports for r in rep.results}
    assert got["nat"].status is Status.INJOIGNABLE and "routeur" in got["nat"].message
    assert got["local"].status is Status.CONFORME  # the client itself was reached
    assert got["route"].status is Status.INJOIGNABLE


def test_dependency_problems_are_located(tmp_path):
    fake, _ = make_channel("fake")
    bad = DEPENDENT.replace("depends_on: [routeur]", "depends_on: [routeu, client]")
    with pytest.raises(RubricError) as info:
        load(tmp_path, bad, {"fake": fake})
    text = "\n".join(info.value.problems)
    assert "hôte « routeu » non déclaré" in text and "« client » est l'hôte visé lui-même" in text



def test_hosts_depending_on_each_other_do_not_deadlock_a_one_worker_pool(tmp_path):
    from grader.runner import run_jobs

    fake, _ = make_channel("fake")
    text = DEPENDENT.replace("check: test.echo, host: routeur, params: {value: \"1\"}, criterion: CP5.1}",
                             "check: test.echo, host: routeur, params: {value: \"1\"}, criterion: CP5.1,"
                             " depends_on: [client]}")
    rubric = load(tmp_path, text, {"fake": fake})
    from grader import runner

    original = runner.default_channels
    runner.default_channels = lambda: {"fake": fake()}
    try:
        reports = run_jobs(plan(rubric, [Candidate("7")], CATALOGUE), known_hosts_path=None, workers=1)
    finally:
        runner.default_channels = original
    assert {r.check_id: r.status for rep in reports for r in rep.results} == dict.fromkeys(
        ("nat", "local", "route"), Status.CONFORME)


ONE_HOST = """\
rubric: canaux
title: Canaux
credentials:
  c7: {{username: lecteur, password_env: GRADER_TEST_SECRET}}
  c8: {{username: lecteur, password_env: GRADER_TEST_SECRET}}
hosts:
  - name: sw
    role: switch
    platform: network
    address: "{address}"
    transport: fake
    options:
      fake: {{community_credential: "{credential}"}}
checks:
  - {{id: a, check: test.echo, host: sw, params: {{value: "1"}}, criterion: CP5.1}}
"""


def one_host(tmp_path, channel, *, address: str = "10.0.0.{{ candidat }}", credential: str = "c7"):
    """A rubric with one host on ``channel`` whose address and option may be templates.

    Loaded as for a run (``with_roster``): templates are left to the candidates' values, which these
    tests give to the planner directly (no roster check), so that its own guard is what is tested."""
    return load(tmp_path, ONE_HOST.format(address=address, credential=credential), {"fake": channel},
                with_roster=True)


def test_host_options_are_rendered_for_each_candidate(tmp_path):
    """``hosts[].options`` may use the roster's variables, like an address or a check's parameters."""
    seen: list[tuple[str, str | None]] = []

    class Recording(Channel):
        name = "fake"
        Options = FakeOptions

        def collect(self, host: HostContext, probes: Sequence[Probe]) -> Collected:
            seen.append((host.address, host.options.community_credential))
            return Collected({p.key: ProbeResult(p.key, p.transport, p.command, stdout=p.command.split()[-1],
                                                 exit_code=0) for p in probes}, execs=1)

    rubric = one_host(tmp_path, Recording, credential="c{{ candidat }}")
    for job in plan(rubric, [Candidate("7"), Candidate("8")], CATALOGUE):
        grade_host(job, None, {"fake": Recording()})
    assert seen == [("10.0.0.7", "c7"), ("10.0.0.8", "c8")]



def test_host_options_that_cannot_be_rendered_for_a_candidate_make_its_checks_erreur(tmp_path):
    fake, calls = make_channel("fake")
    rubric = one_host(tmp_path, fake, credential="{{ candidat | int + 'x' }}")
    [job] = plan(rubric, [Candidate("7")], CATALOGUE)
    report = grade_host(job, None, {"fake": fake()})
    [result] = report.results
    assert result.status is Status.ERREUR and result.message.startswith("options de l'hôte invalides pour ce candidat")
    assert calls == [] and report.outcome.status is Status.ERREUR  # not contacted with options not its own


def test_an_address_template_that_fails_for_a_candidate_is_said_not_a_crash(tmp_path):
    """Load-time checks know the variables, not their values: « {{ candidat | int + 'x' }} » fails at planning."""
    fake, calls = make_channel("fake")
    rubric = one_host(tmp_path, fake, address="10.0.0.{{ candidat | int + 'x' }}")
    [job] = plan(rubric, [Candidate("7")], CATALOGUE)
    report = grade_host(job, None, {"fake": fake()})
    [result] = report.results
    assert result.status is Status.ERREUR and result.message == (
        "adresse de l'hôte invalide pour ce candidat : unsupported operand type(s) for +: 'int' and 'str'")
    assert calls == [] and report.outcome.status is Status.ERREUR  # never contacted at a made-up address


def test_a_channel_that_crashes_makes_its_checks_erreur_and_the_run_goes_on(tmp_path):
    """A bug in a channel (an exception it does not map) ends neither the host's other channels nor the run."""
    fake, _ = make_channel("fake")
    side, _ = make_channel("side", fail=KeyError("ifIndex"))
    local, _ = make_channel("local", grader_side=True)
    channels = {"fake": fake, "side": side, "local": local}
    rubric = load(tmp_path, RUBRIC, channels)
    from grader import runner

    original = runner.default_channels
    runner.default_channels = lambda: {name: cls() for name, cls in channels.items()}
    try:
        reports = runner.run_jobs(plan(rubric, [Candidate("7"), Candidate("8")], CATALOGUE), known_hosts_path=None,
                                  workers=2)
    finally:
        runner.default_channels = original
    assert sorted(r.candidate for r in reports) == ["7", "8"]
    for report in reports:
        statuses = {r.check_id: r.status for r in report.results}
        assert statuses == {"a": Status.CONFORME, "b": Status.CONFORME, "c": Status.ERREUR, "d": Status.CONFORME}
        [side_check] = [r for r in report.results if r.check_id == "c"]
        assert side_check.message == "le canal « side » a échoué sur cet hôte : KeyError: 'ifIndex'"


# --- grader-side analysis of collected evidence (Check.analyse, issue #12) ----------------------------

class AnalysedCheck(EchoCheck):
    """La valeur {value} est renvoyée puis doublée par le correcteur."""

    id = "test.analysed"
    calls = 0

    def analyse(self, params, results):
        type(self).calls += 1
        out = results["echo"].stdout
        return {"double": ProbeResult(f"grader-double-{out}", "grader", f"double {out}", stdout=out * 2, exit_code=0)}

    def judge(self, params, results):
        double = results["double"].stdout
        return Verdict.conforme(double) if double == params.value * 2 else Verdict.non_conforme(double, params.value)


def test_an_analysis_runs_once_on_the_grader_is_stored_as_evidence_and_rejudged_from_it(tmp_path):
    from grader.bundle import rejudge_store
    from grader.store import Store

    fake, _ = make_channel("fake")
    text = RUBRIC.split("checks:")[0] + "checks:\n  - {id: z, check: test.analysed, host: sw, params: {value: \"5\"}, " \
                                        "criterion: CP5.1}\n"
    catalogue = {**CATALOGUE, AnalysedCheck.id: AnalysedCheck}
    path = tmp_path / "bareme.yaml"
    path.write_text(text, encoding="utf-8")
    rubric = load_rubric(path, catalogue, {"CP5.1"}, {"fake": fake, "side": fake}, with_roster=False)
    AnalysedCheck.calls = 0
    [job] = plan(rubric, [Candidate("7")], catalogue)
    report = grade_host(job, None, {"fake": fake()})
    [result] = report.results
    assert result.status is Status.CONFORME and result.observed == "55" and AnalysedCheck.calls == 1
    assert result.probe_keys["double"] == "grader-double-5"
    assert any(p.key == "grader-double-5" and p.transport == "grader" for p in report.probes)
    store = Store(tmp_path / "session")
    run_id = store.new_run(run_id="20261206-120000-ab12", rubric=rubric, roster_text="id\n7\n",
                           candidates=[Candidate("7")])
    store.save_host(run_id, report)
    [again] = rejudge_store(store, run_id, catalogue)
    assert again.rejudged and again.status == "conforme" and AnalysedCheck.calls == 1  # read back, not re-run
    store.close()
