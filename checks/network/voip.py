"""Telephony (CP5.4 « La téléphonie est fonctionnelle »): the IPBX answers SIP, and phones are registered.

Two checks, two proofs that reading ``pjsip.conf`` cannot give:

* :class:`SipOptions`: the grader sends its own SIP OPTIONS to the IPBX (the ``sip`` channel,
  :mod:`grader.transports.sip`) and expects a 200 answer to *that* request; the Server or
  User-Agent header and the round trip are the evidence.
* :class:`ExtensionRegistered`: the registrar's own table, read over SSH: Asterisk's
  ``pjsip show contacts`` (chan_pjsip, FreePBX's default) or ``sip show peers`` (chan_sip), or
  Kamailio's ``kamcmd ul.dump``. Conforme when extension N has a live registration *from the
  expected phone's address*: an extension configured right but registered from another host (the
  wrong phone, a softphone left on a laptop, a neighbour who took the account) passes any reading
  of the configuration and fails here.

Which address a registrar shows for a contact: Kamailio's ``Received`` (the packet's source, when
the configuration records it: ``fix_nated_register``) or else the Contact URI's host; chan_sip's
``Host`` (the address the peer registered from); chan_pjsip's contact URI (the packet's source
when ``rewrite_contact=yes``, FreePBX's default; the phone's own claim otherwise). The evidence says
which one was read.

Outputs are read back with pure functions (:func:`parse_pjsip_contacts`, :func:`parse_sip_peers`,
:func:`parse_ul_dump`), tested on outputs in the published formats (tests/fixtures/voip).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from checks._common.text import clip, limited, reason_of, said
from checks.network._common import Address
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.sip import options
from grader.probes.ssh import ssh

Registrar = Literal["pjsip", "chan_sip", "kamailio"]
COMMANDS: dict[str, str] = {
    "pjsip": "/usr/sbin/asterisk -rx 'pjsip show contacts'",
    "chan_sip": "/usr/sbin/asterisk -rx 'sip show peers'",
    "kamailio": "/usr/sbin/kamcmd ul.dump",
}
_EXTENSION = re.compile(r"^[A-Za-z0-9_.+*#-]{1,64}$")


# --- SIP OPTIONS ------------------------------------------------------------------------------------

class SipOptions(Check):
    """L'IPBX répond en SIP : une requête OPTIONS du correcteur sur le port {port} ({transport}) reçoit une réponse 200.

    Active probe from the grader (``sip`` channel): one OPTIONS outside any dialog, with a Call-ID,
    tag and branch drawn for this run; only a response echoing them counts (a forged or stale
    answer on the shared network is counted as ignored). Conforme on a 200 answer; the Server or
    User-Agent header and the round-trip time are recorded. Another final answer (403, 404, 405...)
    is non conforme; a datagram or connection refused at once (nothing listens) too; silence is
    ``erreur``, since over UDP a filter and a dead service look alike.
    """

    id = "voip.sip_options"
    platform = "any"
    transport = "sip"
    usually_serves = ("CP5.4",)

    class Params(CheckParams):
        port: int = Field(default=5060, ge=1, le=65535)
        transport: Literal["udp", "tcp"] = "udp"
        address: Address | None = None
        timeout: float = Field(default=3.0, gt=0, le=20)
        server_contains: str | None = None  # e.g. "Asterisk", "FPBX": what the Server/User-Agent must name

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"options": options(params.port, params.transport, params.address, params.timeout)}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["options"]
        expected = (Msg("réponse SIP/2.0 200 à notre OPTIONS (port {port}/{transport}), en-tête Server ou User-Agent "
                        "contenant « {server} »", port=params.port, transport=params.transport,
                        server=params.server_contains) if params.server_contains else
                    Msg("réponse SIP/2.0 200 à notre OPTIONS (port {port}/{transport})", port=params.port,
                        transport=params.transport))
        if r.exit_code == -1:
            return Verdict.non_conforme(clip(str(r.stderr)), expected,
                                        Msg("Aucun service SIP ne répond sur le port {port}/{transport} de l'IPBX.",
                                            port=params.port, transport=params.transport))
        try:
            record = json.loads(r.stdout)
            status, reason = int(record["status"]), str(record.get("reason") or "")
        except (ValueError, KeyError, TypeError) as exc:
            return Verdict.erreur(Msg("réponse de la sonde SIP illisible : {error}", error=str(exc)),
                                  observed=clip(r.stdout), expected=expected)
        software = record.get("server") or record.get("user_agent")
        header = "Server" if record.get("server") else "User-Agent"
        observed = Msg("SIP/2.0 {status} {reason} de {peer} en {rtt} ms ; {header} : {software}{ignored}",
                       status=status, reason=reason, peer=record.get("peer", "?"), rtt=record.get("rtt_ms", "?"),
                       header=header, software=software or Msg("(absent)"),
                       ignored=Msg(" ; {n} message(s) étranger(s) à notre requête ignoré(s)", n=record["ignored"])
                       if record.get("ignored") else "")
        if status != 200:
            return Verdict.non_conforme(observed, expected,
                                        Msg("L'IPBX répond en SIP mais refuse la requête OPTIONS ({status} {reason}).",
                                            status=status, reason=reason))
        if params.server_contains and params.server_contains.lower() not in str(software or "").lower():
            return Verdict.non_conforme(observed, expected,
                                        Msg("Le serveur SIP qui répond n'est pas celui attendu (« {wanted} » absent de "
                                            "l'en-tête {header}).", wanted=params.server_contains, header=header))
        return Verdict.conforme(observed, expected, Msg("L'IPBX répond en SIP (200 à notre OPTIONS)."))


# --- registrations ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Contact:
    """One registration as a registrar shows it."""

    extension: str
    uri: str
    address: str  # the host the registration is attributed to (see ``source``)
    source: str  # which field ``address`` was read from: received | host | uri
    status: str | Msg  # as printed (Avail, OK (9 ms), ...), or the remaining lifetime for Kamailio
    live: bool  # counted: not expired, not unreachable
    user_agent: str = ""

    def describe(self) -> Msg:
        return Msg("{extension} depuis {address} ({source} ; {status})", extension=self.extension,
                   address=self.address or "?", source=_SOURCES.get(self.source, self.source), status=self.status)


_SOURCES: dict[str, str | Msg] = {"received": Msg("adresse source reçue"), "host": Msg("hôte vu par chan_sip"),
                                  "uri": Msg("URI de contact")}


def _uri_host(uri: str) -> str:
    """The host part of a SIP URI (``sip:101@10.0.0.5:5060;ob`` → ``10.0.0.5``)."""
    rest = uri.split(":", 1)[1] if uri.lower().startswith(("sip:", "sips:")) else uri
    rest = rest.split("@", 1)[-1]
    rest = re.split(r"[;?>]", rest, maxsplit=1)[0]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


_PJSIP_LINE = re.compile(r"^\s*Contact:\s+(?P<aor>[^/\s]+)/(?P<uri>\S+)\s+(?P<hash>[0-9a-f]+)\s+(?P<status>\S+)"
                         r"\s+(?P<rtt>\S+)\s*$")
#: chan_pjsip's short labels (ast_sip_get_contact_short_status_label): Unavail = qualify got no answer.
_PJSIP_LIVE = {"Avail", "NonQual", "Unknown"}


def parse_pjsip_contacts(text: str) -> list[Contact]:
    """``pjsip show contacts`` (res_pjsip/location.c: ``Contact:  <aor>/<uri> <hash> <status> <rtt>``).

    ValueError when the output is not that listing (an error message, another command's output).
    """
    if "No objects found" in text:
        return []
    if "<Aor/ContactUri" not in text and "Objects found" not in text:
        raise ValueError(Msg("sortie de « pjsip show contacts » non reconnue"))
    contacts = []
    for line in text.splitlines():
        m = _PJSIP_LINE.match(line)
        if m is None or m["aor"].startswith("<"):
            continue
        contacts.append(Contact(m["aor"], m["uri"], _uri_host(m["uri"]), "uri", f"{m['status']} {m['rtt']}",
                                m["status"] in _PJSIP_LIVE))
    return contacts


def parse_sip_peers(text: str) -> list[Contact]:
    """``sip show peers`` (chan_sip): columns placed by the header line; ``(Unspecified)`` = not registered."""
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("Name/username")), None)
    if header is None:
        raise ValueError(Msg("sortie de « sip show peers » non reconnue"))
    head = lines[header]
    host_at, port_at, status_at = head.find("Host"), head.find("Port"), head.find("Status")
    described = head.find("Description")
    if min(host_at, port_at, status_at) < 0:
        raise ValueError(Msg("en-tête de « sip show peers » incomplet"))
    contacts = []
    for line in lines[header + 1:]:
        if re.match(r"^\d+ sip peers", line) or not line.strip():
            continue
        name = line[:host_at].strip()
        host = line[host_at:].split()[0] if line[host_at:].strip() else ""
        status = line[status_at:described if described > status_at else None].strip()
        extension = name.split("/", 1)[0]
        registered = host not in ("", "(Unspecified)")
        live = registered and not status.startswith(("UNREACHABLE", "UNKNOWN"))
        port = line[port_at:status_at].strip()
        contacts.append(Contact(extension, f"{host}:{port}" if registered else "", host if registered else "", "host",
                                status or "?", live))
    return contacts


def _ul_fields(text: str) -> list[dict[str, str]]:
    """The ``Contact: { ... }`` blocks of ``kamcmd ul.dump`` as dicts, each with the AoR it belongs to."""
    out: list[dict[str, str]] = []
    aor = ""
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("AoR:"):
            aor = line[4:].strip()
        elif line == "Contact: {":
            current = {"AoR": aor}
        elif current is not None and line == "}":
            out.append(current)
            current = None
        elif current is not None and ":" in line:
            key, _, value = line.partition(":")
            current[key.strip()] = value.strip()
    return out


def _ul_json(text: str) -> list[dict[str, str]] | None:
    """The contacts of ``kamctl ul show`` (JSON-RPC answer), or None when ``text`` is not JSON."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    out = []
    result = data.get("result", data) if isinstance(data, dict) else {}
    if not isinstance(result, dict) or not isinstance(result.get("Domains"), list):
        raise ValueError(Msg("réponse JSON de Kamailio sans table « Domains » : {text}", text=clip(text, 120)))  # noqa: TRY004 - bad input, not a bad call
    for domain in result["Domains"]:
        for aor in ((domain.get("Domain") or {}).get("AoRs") or []) if isinstance(domain, dict) else []:
            info = aor.get("Info", {}) if isinstance(aor, dict) else {}
            for contact in info.get("Contacts") or []:
                fields = contact.get("Contact", {}) if isinstance(contact, dict) else {}
                out.append({"AoR": str(info.get("AoR", "")), **{k: str(v) for k, v in fields.items()}})
    return out


def parse_ul_dump(text: str) -> list[Contact]:
    """``kamcmd ul.dump`` (Kamailio usrloc, binrpc tree) or ``kamctl ul show`` (JSON): one Contact per binding.

    ``Expires`` is seconds left, ``permanent``, ``expired`` or ``deleted`` (ul_rpc.c); the last two
    are not counted. ``Received`` (the packet's source, when the configuration records it) wins
    over the Contact URI's host.
    """
    fields = _ul_json(text)
    if fields is None:
        if "Domains: {" not in text:
            raise ValueError(Msg("sortie de « kamcmd ul.dump » non reconnue"))
        fields = _ul_fields(text)
    contacts = []
    for f in fields:
        uri = f.get("Address", "")
        received = f.get("Received", "")
        if received and not received.startswith("["):
            address, source = _uri_host(received), "received"
        else:
            address, source = _uri_host(uri), "uri"
        expires = f.get("Expires", "")
        live = expires == "permanent" or expires.isdigit()
        status = Msg("expire dans {seconds} s", seconds=expires) if expires.isdigit() else expires or "?"
        contacts.append(Contact(f["AoR"].split("@", 1)[0], uri, address, source, status, live,
                                f.get("User-Agent", "")))
    return contacts


PARSERS = {"pjsip": parse_pjsip_contacts, "chan_sip": parse_sip_peers, "kamailio": parse_ul_dump}


def _extension(value: str) -> str:
    if not _EXTENSION.match(value):
        raise ValueError("numéro de poste invalide (lettres, chiffres, _ . + * # -)")
    return value


#: A parameter naming an extension (what a registrar files it under), checked when the rubric loads.
Extension = Annotated[str, AfterValidator(_extension)]


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower() == b.lower()


class ExtensionRegistered(Check):
    """Le poste {extension} est enregistré auprès de l'IPBX, depuis l'adresse du poste attendu ({address}).

    One SSH probe on the IPBX, by ``registrar``: ``asterisk -rx "pjsip show contacts"`` (chan_pjsip,
    FreePBX), ``asterisk -rx "sip show peers"`` (chan_sip) or ``kamcmd ul.dump`` (Kamailio); the
    host's ``sudo`` must be on for Asterisk's control socket. Conforme when extension ``extension``
    has a live registration (not expired, not unreachable by the registrar's own qualify) whose
    address is ``address`` when given. Registered only from another address is non conforme: the
    extension is configured, but the phone the exam expects is not the one using it.
    """

    id = "voip.extension_registered"
    platform = "linux"
    transport = "ssh"
    usually_serves = ("CP5.4",)

    class Params(CheckParams):
        extension: Extension
        address: Address | None = None
        registrar: Registrar = "pjsip"

    @classmethod
    def sentence_values(cls, params: object) -> dict[str, object]:
        values = super().sentence_values(params)
        address = values.get("address")
        values["address"] = address or Msg("toute adresse")
        return values

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"registrations": ssh(COMMANDS[params.registrar])}

    def judge(self, params: Params, results: Mapping[str, ProbeResult]) -> Verdict:
        r = results["registrations"]
        command = COMMANDS[params.registrar]
        expected = (Msg("poste {extension} enregistré depuis {address} (non expiré)", extension=params.extension,
                        address=params.address) if params.address else
                    Msg("poste {extension} enregistré (non expiré)", extension=params.extension))
        if r.exit_code != 0:
            return Verdict.erreur(Msg("lecture des enregistrements impossible (« {command} », code {code})",
                                      command=command, code=r.exit_code),
                                  observed=clip(r.stderr.strip() or r.stdout.strip()), expected=expected)
        try:
            contacts = PARSERS[params.registrar](r.stdout)
        except ValueError as exc:
            return Verdict.erreur(Msg("sortie de « {command} » illisible : {exc}", command=command,
                                      exc=reason_of(exc)), observed=clip(r.stdout), expected=expected)
        mine = [c for c in contacts if c.extension == params.extension]
        live = [c for c in mine if c.live]
        shown = (said(limited([c.describe() for c in mine])) if mine else
                 Msg("aucun enregistrement du poste {extension} ({count} au total)", extension=params.extension,
                     count=len(contacts)))
        if not live:
            why = (Msg("Le poste {extension} n'est pas enregistré (enregistrement expiré ou injoignable).",
                       extension=params.extension) if mine else
                   Msg("Le poste {extension} n'est pas enregistré auprès de l'IPBX.", extension=params.extension))
            return Verdict.non_conforme(shown, expected, why)
        if params.address is None:
            return Verdict.conforme(shown, expected, Msg("Le poste {extension} est enregistré.",
                                                         extension=params.extension))
        good = [c for c in live if _same_address(c.address, params.address)]
        if not good:
            return Verdict.non_conforme(shown, expected,
                                        Msg("Le poste {extension} est enregistré, mais depuis {elsewhere} et non depuis "
                                            "le poste attendu ({address}).", extension=params.extension,
                                            elsewhere=", ".join(sorted({c.address for c in live})),
                                            address=params.address))
        return Verdict.conforme(shown, expected, Msg("Le poste {extension} est enregistré depuis {address}.",
                                                     extension=params.extension, address=params.address))
