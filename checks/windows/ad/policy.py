"""The domain's password and lockout policy, read on the domain object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from checks._common.text import commas
from checks.windows._ad import (
    read,
)
from checks.windows.ad._directory import DOMAIN, TICKS_PER_DAY
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict

_TICKS_PER_MINUTE = 600_000_000

_FOREVER = -0x8000000000000000  # "never" in interval attributes (maxPwdAge, lockoutDuration)


class PasswordPolicy(Check):
    """La stratégie de mot de passe et de verrouillage du domaine a les valeurs attendues.

    Read on the domain object, where the DC applies the Default Domain Policy (on Windows a
    change made in the GPO reaches it at the DC's next policy refresh, within minutes). Only
    the values given are compared, exactly: ``min_length``, ``history``, ``max_age_days`` (0 =
    never expires), ``min_age_days``, ``complexity``, ``lockout_threshold`` (0 = never locked),
    ``lockout_duration_minutes`` (0 = until an administrator unlocks), ``lockout_window_minutes``.
    """

    id = "ad.password_policy"
    platform = "windows"
    transport = "ldap"

    class Params(CheckParams):
        min_length: int | None = Field(default=None, ge=0, le=255)
        history: int | None = Field(default=None, ge=0, le=24)
        max_age_days: int | None = Field(default=None, ge=0)
        min_age_days: int | None = Field(default=None, ge=0)
        complexity: bool | None = None
        lockout_threshold: int | None = Field(default=None, ge=0)
        lockout_duration_minutes: int | None = Field(default=None, ge=0)
        lockout_window_minutes: int | None = Field(default=None, ge=0)

        @model_validator(mode="after")
        def _something(self) -> PasswordPolicy.Params:
            if all(v is None for v in self.model_dump().values()):
                raise ValueError("indiquez au moins une valeur à vérifier (ex. min_length: 12)")
            return self

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"domain": DOMAIN}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        domain = read(results["domain"], Msg("objet domaine"))
        if isinstance(domain, Verdict):
            return domain
        if not domain.entries:
            return Verdict.erreur(Msg("objet domaine introuvable"))
        d = domain.entries[0]

        def days(attr: str) -> int | None:
            v = d.first(attr)
            return None if v is None else 0 if v in (_FOREVER, 0) else round(-int(v) / TICKS_PER_DAY)

        def minutes(attr: str) -> int | None:
            v = d.first(attr)
            return None if v is None else 0 if v in (_FOREVER, 0) else round(-int(v) / _TICKS_PER_MINUTE)

        props = d.first("pwdProperties")
        actual = {
            "min_length": d.first("minPwdLength"), "history": d.first("pwdHistoryLength"),
            "max_age_days": days("maxPwdAge"), "min_age_days": days("minPwdAge"),
            "complexity": None if props is None else bool(int(props) & 1),
            "lockout_threshold": d.first("lockoutThreshold"),
            "lockout_duration_minutes": minutes("lockoutDuration"),
            "lockout_window_minutes": minutes("lockOutObservationWindow"),
        }
        wanted = {k: v for k, v in params.model_dump().items() if v is not None}
        said = {"min_length": Msg("longueur minimale"), "history": Msg("historique"),
                "max_age_days": Msg("durée de vie maximale (j)"), "min_age_days": Msg("durée de vie minimale (j)"),
                "complexity": Msg("complexité"), "lockout_threshold": Msg("seuil de verrouillage"),
                "lockout_duration_minutes": Msg("durée de verrouillage (min)"),
                "lockout_window_minutes": Msg("réinitialisation du compteur (min)")}  # labels, in the report's language

        def say(v: Any) -> Any:
            return (Msg("oui") if v else Msg("non")) if isinstance(v, bool) else Msg("(absent)") if v is None else v

        observed = commas([Msg("{label} {value}", label=said[k], value=say(actual[k]))
                           for k in said if actual[k] is not None])
        expected = commas([Msg("{label} {value}", label=said[k], value=say(v)) for k, v in wanted.items()])

        diffs = [Msg("{label} {found} au lieu de {wanted}", label=said[k], found=say(actual[k]), wanted=say(v))
                 for k, v in wanted.items() if actual[k] != v]
        if diffs:
            return Verdict.non_conforme(observed, expected,
                                        Msg("Stratégie de mot de passe du domaine : {items}.", items=diffs))
        return Verdict.conforme(observed, expected,
                                Msg("La stratégie de mot de passe du domaine a les valeurs attendues."))
