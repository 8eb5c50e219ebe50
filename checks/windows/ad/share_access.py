"""A share's permissions proved by using them: one domain user lists and reads it, another is refused."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from checks._common.text import clip, reason_of
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.smb_as import access_as, parse_output

#: A refusal a user meets at the share: the server said no to *this* account (not « no such share »).
DENIALS = {"STATUS_ACCESS_DENIED", "STATUS_PRIVILEGE_NOT_HELD"}
#: The share's root cannot be found: no such share (Samba answers the DFS lookup smbclient makes first
#: with STATUS_NOT_FOUND, Windows the tree connect with STATUS_BAD_NETWORK_NAME).
NO_SHARE = {"STATUS_BAD_NETWORK_NAME", "STATUS_NOT_FOUND"}


class ShareAccessAs(Check):
    """Le partage {share} est lisible par {allowed_credentials} et refusé à {denied_credentials}.

    Functional proof on the file server (``smb_as`` channel), nothing written: for each rubric
    credential of ``allowed_credentials`` (a domain user and its test password) a session of its own lists
    the share's root and reads the first bytes of ``file``; for each of ``denied_credentials`` the same is
    tried and must be refused by the server (``STATUS_ACCESS_DENIED`` at the share or on the file).
    Conforme when every allowed user lists and reads and every denied user is refused. A share
    that does not exist, an allowed user refused (at logon, at the share or on the file), a
    denied user who gets in: non conforme, per user. A denied user whose *logon* fails proves
    nothing about the share (their password may differ from the rubric's): erreur, unless another
    user already made the check non conforme. A server that cannot be reached is injoignable.
    """

    id = "smb.access_as"
    platform = "any"
    transport = "smb_as"
    usually_serves = ("CP8.3",)
    example = ("{share: compta, file: lisezmoi.txt, allowed_credentials: [alice], "
               "denied_credentials: [bob]}")

    class Params(CheckParams):
        share: str = Field(min_length=1)
        file: str | None = None  # read as every user (relative to the share's root); else the root is only listed
        allowed_credentials: list[str] = Field(default_factory=list)  # rubric credentials that must list and read
        denied_credentials: list[str] = Field(default_factory=list)  # rubric credentials that must be refused

        @model_validator(mode="after")
        def _someone(self) -> ShareAccessAs.Params:
            if not self.allowed_credentials and not self.denied_credentials:
                raise ValueError("indiquez au moins un compte dans « allowed_credentials » ou « denied_credentials »")
            if set(self.allowed_credentials) & set(self.denied_credentials):
                raise ValueError("un même compte ne peut être à la fois dans « allowed_credentials » et « denied_credentials »")
            return self

    @classmethod
    def sentence_values(cls, params: Any) -> dict[str, Any]:
        values = dict(super().sentence_values(params))
        return {**values, **{key: "—" for key in ("allowed_credentials", "denied_credentials")
                            if not values.get(key)}}

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {f"{role}:{name}": access_as(name, params.share, params.file)
                for role, names in (("allowed", params.allowed_credentials), ("denied", params.denied_credentials))
                for name in names}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        seen: list[Msg] = []
        wrong: list[Msg] = []
        unknown: list[Msg] = []
        for key, result in results.items():
            role, _, name = key.partition(":")
            try:
                data = parse_output(result)
            except ValueError as exc:
                return Verdict.erreur(Msg("réponse SMB illisible pour {name} : {exc}", name=name,
                                          exc=reason_of(exc)), observed=clip(result.stdout))
            said = _said(data)
            seen.append(Msg("{user} : {said}", user=data.get("user", name), said=said))
            session, listed, read = data["session"], data.get("list", {}), data.get("read")
            if not session.get("ok"):
                if role == "allowed":
                    wrong.append(Msg("{user} ne peut pas ouvrir de session ({status})", user=data.get("user", name),
                                     status=session.get("status", "?")))
                else:
                    unknown.append(Msg("{user} n'a pas pu ouvrir de session ({status}) : le refus du partage n'est "
                                       "pas prouvé", user=data.get("user", name), status=session.get("status", "?")))
                continue
            if listed.get("status") in NO_SHARE:
                wrong.append(Msg("le partage {share} n'existe pas", share=params.share))
                continue
            got_in = bool(listed.get("ok")) or bool(read and read.get("ok"))
            if role == "allowed" and not (listed.get("ok") and (read is None or read.get("ok"))):
                wrong.append(Msg("{user} n'a pas l'accès attendu : {said}", user=data.get("user", name), said=said))
            elif role == "denied" and got_in:
                wrong.append(Msg("{user} accède au partage alors qu'il devrait être refusé : {said}",
                                 user=data.get("user", name), said=said))
            elif role == "denied" and not _denied(listed, read):
                unknown.append(Msg("{user} : ni accès ni refus explicite ({said})", user=data.get("user", name),
                                   said=said))
        observed = Msg("{items}", items=tuple(seen))
        expected = Msg("{share} : lecture pour {allowed} ; refus pour {denied}", share=params.share,
                       allowed=", ".join(params.allowed_credentials) or "—",
                       denied=", ".join(params.denied_credentials) or "—")
        if wrong:
            return Verdict.non_conforme(observed, expected, Msg("Droits du partage {share} : {items}.",
                                                                share=params.share, items=tuple(wrong)))
        if unknown:
            return Verdict.erreur(Msg("Droits du partage {share} non prouvés : {items}.", share=params.share,
                                      items=tuple(unknown)), observed, expected)
        return Verdict.conforme(observed, expected, Msg("Le partage {share} s'ouvre pour les comptes autorisés et "
                                                        "se refuse aux autres.", share=params.share))


def _denied(listed: Mapping[str, Any], read: Mapping[str, Any] | None) -> bool:
    """The server refused the account at the share or on the file (not: the file is absent)."""
    return listed.get("status") in DENIALS or bool(read and read.get("status") in DENIALS)


def _said(data: Mapping[str, Any]) -> Msg:
    """What one account met, step by step, in the jury's words."""
    session = data["session"]
    if not session.get("ok"):
        return Msg("session refusée ({status})", status=session.get("status", "?"))
    listed = data.get("list", {})
    said = (Msg("liste {count} entrée(s)", count=listed.get("count", 0)) if listed.get("ok")
            else Msg("liste refusée ({status})", status=listed.get("status", "?")))
    read = data.get("read")
    if read is None:
        return said
    if read.get("ok"):
        head = base64.b64decode(read.get("base64", "")).decode("utf-8", "replace")
        return Msg("{listed}, lecture : « {head} »", listed=said, head=clip(head, 40, squeeze=True))
    return Msg("{listed}, lecture refusée ({status})", listed=said, status=read.get("status", "?"))
