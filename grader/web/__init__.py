"""The local web view (``grader serve``): sessions, runs, evidence records and the jury's annotation forms.

It reads the session stores on every request and renders the same pages as the written
reports (:mod:`reports.html`), with links to its own addresses and, on each candidate's
record, forms to add an observation (on the candidate, a criterion or a check) or a decision
that retains another status for a check with its justification. A form posts, the store
records the annotation (the automated result is never changed) and the page comes back at
the new annotation.

Bound to 127.0.0.1 by default. Every serve has a secret, loopback included: the address
printed at start carries it (or ``GRADER_WEB_TOKEN``), a cookie keeps it. Annotations may be
signed only by the jury members named at start (``--jury``), chosen from a list; with none
named, the view is read-only. Any address other than loopback needs a certificate and its key
(``--tls-cert``/``--tls-key``): HTTPS only. See :mod:`grader.web.app` for the guards and
:mod:`grader.web.server` for why the standard library's threaded server is enough here.
"""

from __future__ import annotations

from grader.web.app import WebConfig, create_app, find_sessions, jury_names
from grader.web.server import TOKEN_ENV, Served, access_token, is_loopback, make_server, tls_context

__all__ = ["TOKEN_ENV", "Served", "WebConfig", "access_token", "create_app", "find_sessions", "is_loopback",
           "jury_names", "make_server", "tls_context"]
