"""Web sites, requested by the grader itself (functional proof from the grader's network position)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import Field, field_validator

from checks._common.text import clip
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.http import http

# Failures that say more about the grader's side than about the site: name resolution
# (the grader's resolver) and certificate verification (a self-signed certificate is common
# in exam labs and the http probe cannot be told to accept it).
_GRADER_SIDE = ("gaierror", "SSLCertVerificationError", "CertificateError")


class HttpAnswers(Check):
    """Le site {url} répond (code HTTP {status}).

    The grader sends the request itself (redirections are followed, no proxy). A refused or
    reset connection means the site does not answer: not conforme, with the error as
    observation (a timeout is ``erreur``: a filter or the grader's own network may be the
    cause; so are a name the grader cannot resolve and a certificate it cannot verify). The final status code must equal ``status``; when ``contains`` is given, that
    exact text must appear in the body (case-sensitive). A body too long to be read entirely
    that does not contain the text in its first part is ``erreur``.
    """

    id = "linux.http_answers"
    platform = "linux"
    transport = "http"

    class Params(CheckParams):
        url: str
        status: int = Field(default=200, ge=100, le=599)
        contains: str | None = None

        @field_validator("url")
        @classmethod
        def _url(cls, value: str) -> str:
            if not re.match(r"^https?://[^\s/?#]+(?:[/?#]\S*)?$", value):
                raise ValueError("URL http:// ou https:// attendue, sans espace")
            return value

        @field_validator("contains")
        @classmethod
        def _contains(cls, value: str | None) -> str | None:
            if value is not None and not value:
                raise ValueError("texte attendu vide")
            return value

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"page": http(params.url)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["page"]
        expected: str | Msg = f"HTTP {params.status}"
        if params.contains:
            expected = Msg("HTTP {status}, contenant « {text} »", status=params.status, text=params.contains)
        if r.exit_code == -1:
            error = r.stderr.strip()
            if error.startswith(_GRADER_SIDE):
                return Verdict.erreur(Msg("le correcteur n'a pas pu établir l'échange : {error}",
                                          error=clip(error, 200)),
                                      observed=clip(error, 200), expected=expected)
            return Verdict.non_conforme(clip(error, 200) or Msg("connexion impossible"), expected,
                                        Msg("Le site {url} ne répond pas.", url=params.url))
        if r.exit_code is None or not 100 <= r.exit_code <= 599:
            return Verdict.erreur(Msg("réponse HTTP sans code exploitable"), observed=clip(r.stderr), expected=expected)
        status_line = r.stderr.split("\n", 1)[0].strip() or f"HTTP {r.exit_code}"
        if r.exit_code != params.status:
            location = _header(r.stderr, "location") if 300 <= r.exit_code < 400 else None
            observed: str | Msg = (Msg("{status_line} vers {location}", status_line=status_line, location=location)
                                   if location else status_line)
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le site répond avec le code {code} au lieu de {status}.",
                                            code=r.exit_code, status=params.status))
        if params.contains is None:
            return Verdict.conforme(status_line, expected, Msg("Le site {url} répond ({code}).",
                                                               url=params.url, code=r.exit_code))
        if params.contains in r.stdout:
            return Verdict.conforme(Msg("{status_line}, texte trouvé", status_line=status_line), expected,
                                    Msg("Le site {url} répond avec le contenu attendu.", url=params.url))
        if r.truncated:
            return Verdict.erreur(Msg("page trop longue, lue en partie : texte non trouvé dans la partie lue"),
                                  observed=status_line, expected=expected)
        body = clip(r.stdout, 160, squeeze=True) if r.stdout.strip() else Msg("corps vide")
        return Verdict.non_conforme(Msg("{status_line}, texte absent ; début de la page : {body}",
                                        status_line=status_line, body=body), expected,
                                    Msg("La page de {url} ne contient pas le texte attendu.", url=params.url))


def _header(head: str, name: str) -> str | None:
    """A header's value in the channel's status line and headers (``stderr``), or None."""
    for line in head.split("\n")[1:]:
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() == name:
            return clip(value.strip(), 200)
    return None
