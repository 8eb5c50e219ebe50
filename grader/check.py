"""What a check plugin is: parameters, declared probes, a pure judge.

A check class is a small declarative value::

    class PackageInstalled(Check):
        '''Le paquet {package} est installé.'''        # the sentence the jury reads

        id = "linux.package_installed"
        platform = "linux"

        class Params(CheckParams):
            package: str

        def probes(self, p):                            # what to collect, never executed here
            return {"dpkg": ssh("/usr/bin/dpkg-query -W ... " + quote(p.package))}

        def judge(self, p, r):                          # pure: probe results -> Verdict
            ...

Checks never open connections: the engine batches every probe of a host into one round
trip per transport, then calls ``judge`` locally. This is what makes the cost of a run grow
with hosts rather than with checks, and what makes ``rejudge`` possible from stored evidence.
"""

from __future__ import annotations

import ipaddress
import string
import traceback
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from grader.model import Msg, Probe, ProbeResult, Status, Verdict


class CheckParams(BaseModel):
    """Base of every check's parameter model: unknown parameters are errors, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Check:
    """Base class of check plugins. Subclasses set the class attributes and two methods.

    The first line of the docstring is the French sentence shown to the jury; it may use
    ``{param}`` placeholders filled from the check's parameters.
    """

    id: ClassVar[str]
    platform: ClassVar[str] = "linux"  # linux | windows | network | any (a protocol any host may speak)
    transport: ClassVar[str] = "ssh"  # the transport of its main probes (for `checks list`)
    Params: ClassVar[type[CheckParams]] = CheckParams
    #: The RC criteria (``CP6.1``...) this check is usually mapped to, shown by ``grader checks show``; a
    #: rubric may map it to any criterion. Empty: ``checks show`` derives them from the demo rubric's usage.
    usually_serves: ClassVar[tuple[str, ...]] = ()
    #: The ``params`` of ``checks show``'s example as a rubric writes them (a YAML flow table,
    #: ``"{port: 22, allowed: false}"``), when neither the demo rubric nor a sample built from ``Params`` would do.
    example: ClassVar[str | None] = None

    def probes(self, params: Any) -> Mapping[str, Probe]:
        """Name -> probe the judge needs. Declared only; the engine runs them."""
        raise NotImplementedError

    def judge(self, params: Any, results: Mapping[str, ProbeResult]) -> Verdict:
        """Pure function of the parameters and the probe results."""
        raise NotImplementedError

    def analyse(self, params: Any, results: Mapping[str, ProbeResult]) -> Mapping[str, ProbeResult]:
        """Grader-side work on what the probes brought back, done before ``judge``: name -> result. Default: none.

        For a fact the host must not compute (a linter the candidate's machine need not have, and
        could fake): ``script.bash`` runs shellcheck here on the script's fetched text. The engine
        calls it once, on the grader machine, only when every probe of the check came back usable
        (:func:`analysed`); each result it returns is stored as evidence like a probe's (its
        ``transport`` is ``"grader"``, its ``key`` names the tool and a digest of its input) and is
        given to ``judge`` under its name. So ``judge`` stays pure, and ``rejudge`` reads the stored
        analysis back instead of running the tool again. The analysis must be bounded (time, size),
        never execute what it reads, and say a missing tool as the result's ``error`` (then ``erreur``).
        """
        return {}

    @classmethod
    def own_view(cls, name: str, result: ProbeResult, owns: Callable[[str], bool]) -> ProbeResult:
        """What of probe ``name``'s result one candidate may see on a shared host (``hosts[].shared``). Default: all.

        A shared machine (the hypervisor of a cluster of four) is read once for all its candidates;
        each candidate's evidence and verdict must hold only their own objects (``owns(name)``: the
        object's name matches the rubric's ``shared.own``) and the machine's own facts, so one
        candidate's report never shows another's VMs. A check reading such a machine overrides this.
        """
        return result

    # -- helpers shared by every check -------------------------------------------------

    @classmethod
    def sentence_template(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0].strip() if doc else cls.id

    @classmethod
    def sentence_values(cls, params: Any) -> dict[str, Any]:
        """What the sentence shows for each parameter: its value, or a :class:`Msg` for a code the jury
        reads as words (``reset_password`` -> « réinitialiser les mots de passe… »), said in the report's
        language. ``params`` is the parameter model, or the stored dict of a past run. A list reads
        « a, b », never as Python writes it."""
        values = params.model_dump() if isinstance(params, BaseModel) else dict(params or {})
        return {k: ", ".join(str(x) for x in v) if isinstance(v, (list, tuple)) else v for k, v in values.items()}

    @classmethod
    def sentence(cls, params: Any) -> str:
        """The jury's sentence with parameters filled in (missing ones left as written)."""
        values = {k: v.render() if isinstance(v, Msg) else v for k, v in cls.sentence_values(params).items()}
        return fill_sentence(cls.sentence_template(), values)


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill_sentence(template: str, values: Mapping[str, Any]) -> str:
    """A sentence template (in any language) with its parameters filled, missing ones left as written."""
    return string.Formatter().vformat(template, (), _Lenient(values))


#: Placeholder a check may put in its probes' commands; the runner replaces it with a fresh
#: random token per host and per run, so that an active probe (a syslog line, a marker file
#: served over HTTP) carries a value the candidate could not have prepared in advance. The
#: judge reads the token back from ``ProbeResult.command``.
TOKEN = "@@GRADER_TOKEN@@"


def is_ip_address(text: str) -> bool:
    """Whether a parameter or an observed value is an IPv4/IPv6 address (judges compare those canonically)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def analysed(check: Check, params: Any, results: Mapping[str, ProbeResult | None]) -> dict[str, ProbeResult]:
    """:meth:`Check.analyse` when every probe came back usable (else nothing: ``evaluate`` says why it cannot judge).

    An analysis that raises gives one result whose ``error`` says so: the check is ``erreur``, the run goes on.
    """
    if any(r is None or not r.ok for r in results.values()):
        return {}
    present = {name: r for name, r in results.items() if r is not None}
    try:
        return dict(check.analyse(params, present))
    except Exception as exc:  # noqa: BLE001 - an analysis bug is this check's erreur, not the run's
        return {"analyse": ProbeResult(key=f"grader-{check.id}", transport="grader", command=f"{check.id} analyse",
                                       error=Msg("l'analyse côté correcteur a échoué : {error}",
                                                 error=f"{type(exc).__name__}: {exc}"))}


def evaluate(check: Check, params: Any, results: Mapping[str, ProbeResult | None]) -> Verdict:
    """Judge safely: a missing/failed probe or a judge that raises is ``erreur``, never a crash.

    This is the one place where "could not evaluate" is decided, so that no judge can turn
    a lost or timed-out probe into ``non_conforme`` (or worse, ``conforme``).
    """
    present: dict[str, ProbeResult] = {}
    for name, result in results.items():
        if result is None:
            return Verdict.erreur(Msg("la sonde « {probe} » n'a rapporté aucun résultat", probe=name))
        if result.timed_out:
            return Verdict.erreur(Msg("la sonde « {probe} » a dépassé son délai", probe=name))
        if result.error:
            return Verdict.erreur(Msg("la sonde « {probe} » n'a pas de résultat exploitable : {error}", probe=name,
                                      error=result.error))
        present[name] = result
    try:
        verdict = check.judge(params, present)
    except Exception:  # noqa: BLE001 - any judge bug becomes evidence, the run goes on
        return Verdict.erreur(Msg("le juge de la vérification a échoué"), observed=traceback.format_exc(limit=8))
    if not isinstance(verdict, Verdict) or not isinstance(verdict.status, Status):
        return Verdict.erreur(Msg("le juge a renvoyé une valeur invalide : {value}", value=repr(verdict)))
    return verdict
