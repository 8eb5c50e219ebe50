"""A candidate's web proxy in the lab: squid on the router, two sites on the exam's WAN server.

The exam's WAN server (``srv-wan``, the « Internet » side) serves two name-based apache virtual
hosts: an allowed site (:data:`ALLOWED_SITE`) and the site the subject says to forbid
(:data:`BLOCKED_SITE`), each page with its own text, so a filter that does not work is visible:
the forbidden page is served. The candidate's router resolves both names to that server with its
dnsmasq (what squid asks: ``dns_nameservers 127.0.0.1``) and runs squid on its LAN address, port
3128, for the LAN only.

Planted states: the first candidate denies the forbidden domain before allowing the LAN; the
second writes the same rules in the wrong order (``http_access allow lan`` first: squid stops at
the first match, the deny is never reached), the classic mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from grader.lab import router

ALLOWED_SITE, BLOCKED_SITE = "www.example", "jeux.example"
ALLOWED_TEXT, BLOCKED_TEXT = "Portail de la formation TSSR", "Salle de jeux en ligne"
PORT = 3128
PAGE = """<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>Site {site} servi par le serveur WAN de l'examen.</p></body>
</html>
"""
VHOST = """<VirtualHost *:80>
    ServerName {site}
    DocumentRoot /var/www/{site}
</VirtualHost>
"""
SQUID_CONF = """# Proxy du LAN
http_port {address}:{port}
visible_hostname routeur
dns_nameservers 127.0.0.1
acl lan src {lan}
acl jeux dstdomain .{blocked}
acl Safe_ports port 80 443
http_access deny !Safe_ports
{rules}
http_access deny all
cache deny all
access_log daemon:/var/log/squid/access.log squid
coredump_dir /var/spool/squid
"""
RULES_GOOD = "http_access deny jeux\nhttp_access allow lan"
RULES_WRONG_ORDER = "http_access allow lan\nhttp_access deny jeux"


def _write(root: Path, path: str, text: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    target.write_text(text, encoding="utf-8")


def plant_router(root: Path, net: Mapping[str, str], *, block: bool) -> None:
    """squid on the router's LAN address (``net``: :func:`grader.lab.demo.segments`), the sites' names in dnsmasq.

    ``block``: the forbidden domain is denied before the LAN is allowed; else after (never reached).
    """
    rules = RULES_GOOD if block else RULES_WRONG_ORDER
    _write(root, "/etc/squid/squid.conf", SQUID_CONF.format(address=net["router_lan"], port=PORT, lan=net["lan"],
                                                           blocked=BLOCKED_SITE, rules=rules))
    _write(root, "/etc/dnsmasq.d/sites-wan.conf",
           "".join(f"host-record={site},{net['wan_server']}\n" for site in (ALLOWED_SITE, BLOCKED_SITE)))
    router.enable_unit(root, "squid.service", "multi-user.target")


def plant_wan_server(root: Path) -> None:
    """The exam's WAN server: its witness, and the allowed and forbidden sites as apache virtual hosts."""
    router.plant_witness(root)
    for site, title in ((ALLOWED_SITE, ALLOWED_TEXT), (BLOCKED_SITE, BLOCKED_TEXT)):
        _write(root, f"/var/www/{site}/index.html", PAGE.format(title=title, site=site))
    _write(root, "/etc/apache2/sites-available/sites-wan.conf",
           "".join(VHOST.format(site=site) for site in (ALLOWED_SITE, BLOCKED_SITE)))
    link = root / "etc/apache2/sites-enabled/sites-wan.conf"
    if not link.is_symlink():
        link.symlink_to("../sites-available/sites-wan.conf")
