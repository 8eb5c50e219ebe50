"""The ``glpi`` channel's language: GLPI's REST API (``apirest.php``), read with a user token and an app token.

A probe is a *lookup*: what to find, as canonical JSON after a keyword. The channel answers all the
lookups of a host in one API session (``initSession`` ... ``killSession``) and writes, per lookup,
one JSON document in ``stdout``::

    {"clock": {"glpi": "2026-06-15 10:02:11", "utc": "2026-06-15T08:02:11+00:00"} | null,
     "total": 2, "items": [{"item": {...}, "sub": {"Ticket_User": [...], ...}, "names": {...}}],
     "errors": ["GET Ticket/12/TicketTask: 403 ERROR_RIGHT_MISSING"]}

``item`` is ``getItem`` of one match (raw ids, not ``expand_dropdowns``: an expanded user is their display
name, and a rubric names a login); ``names`` resolves the ids a judge needs (``"User/5"``: the user,
``"ITILCategory/3"``, ``"Location/2"``, ``"Profile/4"``, ``"Entity/0"``: their ``completename`` or
``name``); ``sub`` holds the ``getSubItems`` answers the lookup asks for. ``clock`` pairs GLPI's own
clock (``glpi_currenttime`` of ``getFullSession``, in GLPI's time zone, as its dates are) with the
HTTP ``Date`` of that same answer: a judge reads GLPI's dates in UTC with that offset, whatever the
server's time zone. ``null`` in a part, with its reason in ``errors``: that request failed.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from grader.model import Probe
from grader.probes.channel import ChannelOptions, ChannelSpec

#: What each lookup kind searches and reads: itemtype, the search option of its name, sub-items.
LOOKUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ticket": ("Ticket", ("Ticket_User", "ITILFollowup", "TicketTask", "ITILSolution", "Item_Ticket")),
    "kb": ("KnowbaseItem", ("KnowbaseItem_Profile", "Entity_KnowbaseItem", "Group_KnowbaseItem",
                            "KnowbaseItem_User")),
    "asset": ("", ("Item_Ticket",)),
}
#: Search options (``listSearchOptions``) GLPI gives every itemtype: 1 its name, 2 its id; 21: a ticket's
#: description (the only text a lookup searches besides names).
NAME, ID = 1, 2
TEXT = {"Ticket": 21}
#: Asset itemtypes a rubric may ask for (GLPI's ``$CFG_GLPI['asset_types']`` that carry a serial).
ASSET_TYPES = ("Computer", "Monitor", "NetworkEquipment", "Peripheral", "Phone", "Printer")
#: At most this many matches are read in full (the rest counted in ``total``).
MAX_MATCHES = 10


class GlpiOptions(ChannelOptions):
    """``hosts[].options.glpi`` in a rubric.

    ``credential``: the rubric credential holding the *user token* (``username``: the GLPI login of the
    grader's read-only account, the token in ``password_env``/``password_file``), else the host's own;
    ``app_credential``: the one holding the API client's *app token* (``username``: the API client's
    name), when the API client has one (it should); ``path``: where ``apirest.php`` is (``/glpi/apirest.php``
    for a Debian-style install); ``port``, ``scheme``, ``verify_tls``/``ca_file`` as for ``pve``: ``http``
    is accepted only towards a loopback address, a token never crosses a network in clear.
    """

    credential: str | None = None
    app_credential: str | None = None
    path: str = Field(default="/apirest.php", pattern=r"^/\S*apirest\.php$")
    port: int = Field(default=443, ge=1, le=65535)
    verify_tls: bool = True
    ca_file: str | None = None
    scheme: str = Field(default="https", pattern="^https?$")


CHANNEL = ChannelSpec("glpi", "grader.transports.glpi:GlpiChannel", Options=GlpiOptions, needs_credential=True)


def lookup(kind: str, itemtype: str, *, name: str | None = None, text: str | None = None,
           exact: bool = False, timeout: float = 60.0) -> Probe:
    """Find items of ``itemtype`` whose name contains (``exact``: is) ``name``, or whose text contains ``text``.

    ``kind`` (a key of :data:`LOOKUPS`) says which sub-items are read with each match.
    """
    if kind not in LOOKUPS:
        raise ValueError(f"unknown GLPI lookup {kind}")
    query: dict[str, Any] = {"itemtype": itemtype}
    if name is not None:
        query["name"] = name
    if text is not None:
        query["text"] = text
    if exact:
        query["exact"] = True
    return Probe("glpi", f"{kind} {json.dumps(query, sort_keys=True, ensure_ascii=False)}", timeout)


def parse_command(command: str) -> tuple[str, dict[str, Any]]:
    """(kind, query) of a lookup probe's command; ValueError when it is not one."""
    kind, _, raw = command.partition(" ")
    if kind not in LOOKUPS:
        raise ValueError(f"requête glpi inconnue : {kind}")
    query = json.loads(raw)
    itemtype = query.get("itemtype") if isinstance(query, dict) else None
    if not isinstance(itemtype, str) or not itemtype.isidentifier():
        raise ValueError("requête glpi sans itemtype valide")
    return kind, query
