"""OpenSSH server settings, as sshd itself resolves its configuration."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import field_validator

from checks._common.text import clip, limited, said
from checks.linux._parse import cannot_run, text_lines
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.ssh import ssh

# Values sshd accepts as the same thing (sshd -T prints the first of each group it knows).
SYNONYMS = {"without-password": "prohibit-password"}
_DURATION = re.compile(r"^(?:\d+[smhdw]?)+$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(value: str) -> int | None:
    """sshd time format (``2m``, ``1h30m``, ``90``) to seconds; None if not one."""
    if not _DURATION.match(value):
        return None
    return sum(int(n) * _UNITS[u.lower()] for n, u in re.findall(r"(\d+)([smhdwSMHDW]?)", value))


def normalize(value: str) -> str:
    value = " ".join(value.split()).lower()
    return SYNONYMS.get(value, value)


def same_value(expected: str, observed: str) -> bool:
    if normalize(expected) == normalize(observed):
        return True
    e, o = _seconds(expected.strip()), observed.strip()
    return e is not None and o.isdigit() and e == int(o)


class SshdSetting(Check):
    """Le serveur SSH applique le réglage {setting} = {expected}.

    Read from ``sshd -T``: the configuration sshd resolves from the files on disk
    (sshd_config, its Include'd files, defaults), i.e. what the daemon applies at its next
    start or reload; a running daemon that was not restarted since an edit may still apply
    the old values. Settings inside ``Match`` blocks are not shown (global values only).
    Keys are compared case-insensitively, values too; ``prohibit-password`` and
    ``without-password`` are the same; durations such as ``2m`` equal ``120``. For settings
    sshd prints once per value (AllowUsers, AcceptEnv, ListenAddress...), the expected value
    is a space-separated list that must equal the printed set. If ``sshd -T`` fails (invalid
    configuration, missing host keys), the result is ``erreur`` with sshd's message.
    """

    id = "linux.sshd_setting"
    platform = "linux"
    transport = "ssh"

    class Params(CheckParams):
        setting: str
        expected: str

        @field_validator("setting")
        @classmethod
        def _key(cls, value: str) -> str:
            if not re.fullmatch(r"[A-Za-z0-9]+", value):
                raise ValueError("nom de réglage sshd invalide (ex. : PermitRootLogin)")
            return value

        @field_validator("expected")
        @classmethod
        def _value(cls, value: str) -> str:
            if not value.strip():
                raise ValueError("valeur attendue vide")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"sshd": ssh("/usr/sbin/sshd -T")}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["sshd"]
        key = params.setting.lower()
        expected = f"{key} {params.expected}"
        reason = cannot_run(r)
        if reason:
            return Verdict.erreur(Msg("sshd n'a pas pu être exécuté : {reason}", reason=reason), expected=expected)
        if r.exit_code != 0:
            return Verdict.erreur(Msg("sshd -T a échoué (code {code}) : {detail}",
                                      code=r.exit_code, detail=clip(r.stderr.strip(), 200)),
                                  observed=clip(r.stderr or r.stdout), expected=expected)
        pairs = []
        for line in text_lines(r.stdout):
            k, _, v = line.partition(" ")
            if not re.fullmatch(r"[a-z0-9]+", k):
                return Verdict.erreur(Msg("sortie de sshd -T illisible"), observed=clip(line), expected=expected)
            pairs.append((k, v))
        if len(pairs) < 10 or not any(k == "port" for k, _ in pairs):
            return Verdict.erreur(Msg("sortie de sshd -T incomplète"), observed=clip(r.stdout) or Msg("(vide)"),
                                  expected=expected)
        values = [v for k, v in pairs if k == key]
        if not values:
            if r.truncated:
                return Verdict.erreur(Msg("sortie de sshd -T tronquée"), expected=expected)
            return Verdict.erreur(Msg("réglage « {key} » inconnu de cette version de sshd", key=key), expected=expected)
        observed = said(limited([f"{key} {v}" for v in values]))
        if len(values) == 1:
            ok = same_value(params.expected, values[0])
        else:
            ok = {normalize(v) for v in values} == {normalize(w) for w in params.expected.split()}
        if ok:
            return Verdict.conforme(observed, expected, Msg("sshd applique {key} = {expected}.",
                                                            key=key, expected=params.expected))
        return Verdict.non_conforme(observed, expected,
                                    Msg("sshd applique {key} = {values} au lieu de {expected}.",
                                        key=key, values=" ".join(values),
                                        expected=params.expected))
