"""An account that *works*: the domain's KDC gives it a ticket for the password the exam gave it."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from checks._common.text import clip, reason_of
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.kdc import as_exchange, parse_output

#: What each refusal of the KDC means for the jury (RFC 4120 §7.5.9 names).
REFUSALS = {
    "KDC_ERR_CLIENT_REVOKED": Msg("compte désactivé ou verrouillé"),
    "KDC_ERR_PREAUTH_FAILED": Msg("mot de passe refusé (ce n'est pas le mot de passe attendu)"),
    "KRB_AP_ERR_BAD_INTEGRITY": Msg("la réponse du KDC ne se déchiffre pas avec le mot de passe attendu"),
    "KDC_ERR_C_PRINCIPAL_UNKNOWN": Msg("compte inconnu du domaine"),
    "KDC_ERR_KEY_EXPIRED": Msg("mot de passe expiré (ou à changer à la prochaine ouverture de session)"),
    "KDC_ERR_POLICY": Msg("ouverture de session interdite par une stratégie du compte (horaires, postes)"),
}


class UserCanLogon(Check):
    """Le compte {credential} s'authentifie auprès du domaine avec son mot de passe de test.

    Functional proof, not a reading of the account's attributes: the grader makes the AS
    exchange a Windows logon starts with (``kdc`` channel) for the rubric credential
    ``credential`` (the user's name, ``alice@tssr.lan``, and the password the exam statement
    gave it, from a file or the environment: never in the rubric or the report). Conforme when
    the KDC gives a ticket *and* its answer decrypts with that password; a disabled or locked
    account, a wrong password, an unknown or expired account is non conforme, the KDC's reason
    quoted; a KDC that does not answer is injoignable. One wrong password is sent at most per
    run: it counts once towards the account's lockout threshold, like one mistyped logon.
    The KDC is the host itself (a DC), or ``options.kdc`` of the host.
    """

    id = "ad.user_can_logon"
    platform = "any"
    transport = "kdc"
    usually_serves = ("CP1.2",)
    example = "{credential: alice}"

    class Params(CheckParams):
        credential: str = Field(min_length=1)  # a rubric credential: the user and its test password

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"logon": as_exchange(params.credential)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        result = results["logon"]
        try:
            data = parse_output(result)
        except ValueError as exc:
            return Verdict.erreur(Msg("réponse Kerberos illisible : {exc}", exc=reason_of(exc)),
                                  observed=clip(result.stdout))
        expected = Msg("ticket Kerberos délivré à {principal} par le KDC {kdc} pour son mot de passe de test",
                       principal=data["principal"], kdc=data.get("kdc", "?"))
        if data["ticket"]:
            return Verdict.conforme(Msg("ticket obtenu (réponse du KDC déchiffrée avec le mot de passe de test)"),
                                    expected, Msg("Le compte {principal} s'authentifie auprès du domaine.",
                                                  principal=data["principal"]))
        code = str(data.get("code", "?"))
        meaning = REFUSALS.get(code, Msg("refus du KDC"))
        observed = Msg("refusé par le KDC : {code} — {meaning} ({detail})", code=code, meaning=meaning,
                       detail=clip(str(data.get("detail", "")), 160))
        return Verdict.non_conforme(observed, expected, Msg("Le compte {principal} ne peut pas ouvrir de session : "
                                                            "{meaning}.", principal=data["principal"],
                                                            meaning=meaning))
