"""The ``zabbix`` lab flavor: a real Zabbix 6.0 server (Debian's packages), provisioned once.

Debian 12 ships Zabbix 6.0 (``zabbix-server-pgsql``, ``zabbix-frontend-php``, ``zabbix-agent``):
the server on PostgreSQL 15, the frontend and its JSON-RPC API (``/zabbix/api_jsonrpc.php``) under
apache2 with mod_php. What an administrator does once — create the database and load Debian's
schema, write the server's and the frontend's configuration, and, in the frontend as Admin, create
the grader's read-only account and its API token — is the same for every candidate, so it is done
once (in a chroot on an overlay over the flavor's base tree, inside a network namespace of its own
so that PostgreSQL and PHP's server listen on a loopback nobody else sees) and kept as a cached
layer (see :func:`grader.lab.base.ensure_flavor`), as the Samba DC is.

The grader's account is what the README asks a proctor to make: a user ``grader`` with the
« User role » (read-only by type), in a user group ``Lecteurs grader`` with read rights on the
host groups, and an API token (6.0: Administration → General → API tokens) that the lab copies to its state directory
(mode 0600). Admin's password is changed to a random one kept at /root/lab-zabbix-admin.password.

Per server, before boot (:func:`prepare`): its HTTPS certificate, issued by the lab's CA. After
boot, :func:`create_host` defines a candidate's host through the API, as Admin, as a candidate
would in the frontend. The candidates' machines are ``zabbix-agent`` hosts (same base tree, the
server's daemons disabled): :func:`plant_agent` writes their agent's configuration.

Availability is decided by the server's pollers: the server here is configured to sync its
configuration cache every 5 s (``CacheUpdateFrequency``) and to give up on an unreachable agent
after 5 s (``UnreachablePeriod``), so that a lab test sees a host go green or red in seconds, not
minutes; the agent items' own intervals are set per host by the test.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from grader.errors import LabError
from grader.lab.base import PACKAGES as BASE_PACKAGES
from grader.lab.base import REQUIRED_FILES as BASE_REQUIRED
from grader.lab.base import Flavor, Progress, run, say

PACKAGES: tuple[str, ...] = BASE_PACKAGES + (
    "postgresql", "zabbix-server-pgsql", "zabbix-frontend-php", "php-pgsql", "libapache2-mod-php", "zabbix-agent",
)
REQUIRED_FILES = BASE_REQUIRED + ("usr/sbin/zabbix_server", "usr/sbin/zabbix_agentd", "usr/share/zabbix/api_jsonrpc.php",
                                  "usr/share/zabbix-server-pgsql/schema.sql.gz", "usr/bin/pg_ctlcluster")
RECIPE = 4
PG_VERSION = "15"
ADMIN_PASSWORD_FILE = "/root/lab-zabbix-admin.password"
TOKEN_FILE = "/root/lab-zabbix-token"  # in the layer, mode 0600; copied to the lab's state dir (TOKEN_STATE)
TOKEN_STATE = "zabbix-token"
READER = "grader"
READER_GROUP = "Lecteurs grader"
CANDIDATE_GROUP = "Serveurs TSSR"
CERT_DIR = "/etc/ssl/zabbix"
SERVER_TUNING = """# PostgreSQL through its socket, as the OS user zabbix (peer authentication): no password on disk.
DBHost=
# Lab: quick configuration sync and quick verdicts on unreachable agents (seconds, not minutes).
CacheUpdateFrequency=5
UnreachablePeriod=5
UnreachableDelay=2
UnavailableDelay=5
StartPollers=3
StartPollersUnreachable=1
StartPingers=1
StartDiscoverers=1
StartHTTPPollers=1
StartTimers=1
StartEscalators=1
StartAlerters=1
StartPreprocessors=2
StartLLDProcessors=1
StartDBSyncers=2
Timeout=3
"""
PHP_INI = "max_execution_time = 300\nmax_input_time = 300\nmemory_limit = 256M\npost_max_size = 16M\n"
SITE = f"""<VirtualHost *:443>
    ServerName zabbix
    DocumentRoot /var/www/html
    SSLEngine on
    SSLCertificateFile {CERT_DIR}/cert.pem
    SSLCertificateKeyFile {CERT_DIR}/key.pem
</VirtualHost>
"""

# Run inside the chroot, in a network namespace of its own (loopback only): the database, the
# schema, the configuration files, then the frontend's API as Admin for the grader's account.
_PROVISION = r"""
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 LC_ALL=C.UTF-8
ip link set lo up
mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
pg_ctlcluster {pg} main start
su postgres -c "psql -q -v ON_ERROR_STOP=1" <<SQL
CREATE ROLE zabbix LOGIN PASSWORD '$DB_PASSWORD';
CREATE DATABASE zabbix OWNER zabbix ENCODING 'UTF8' TEMPLATE template0;
SQL
for part in schema images data; do
    zcat /usr/share/zabbix-server-pgsql/$part.sql.gz | su zabbix -s /bin/sh -c "psql -q -v ON_ERROR_STOP=1 zabbix" >/dev/null
done
# Statistics for the planner: without them, linking a template runs a join for minutes on a fresh database.
su zabbix -s /bin/sh -c "psql -q -v ON_ERROR_STOP=1 -c ANALYZE zabbix"
php -S 127.0.0.1:8080 -t /usr/share/zabbix >/tmp/php-s.log 2>&1 &
PHP=$!
python3 /root/provision-api.py
kill $PHP
pg_ctlcluster {pg} main stop
"""

_API = r"""
import json, os, time, urllib.request
URL = "http://127.0.0.1:8080/api_jsonrpc.php"
def call(method, params, auth=None):
    body = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
    if auth:
        body["auth"] = auth
    req = urllib.request.Request(URL, json.dumps(body).encode(), {"Content-Type": "application/json-rpc"})
    answer = json.load(urllib.request.urlopen(req, timeout=30))
    if "error" in answer:
        raise SystemExit(f"{method}: {answer['error']}")
    return answer["result"]
for _ in range(100):
    try:
        call("apiinfo.version", {})
        break
    except OSError:
        time.sleep(0.1)
admin = call("user.login", {"username": "Admin", "password": "zabbix"})
group = call("hostgroup.create", {"name": os.environ["CANDIDATE_GROUP"]}, admin)["groupids"][0]
groups = [g["groupid"] for g in call("hostgroup.get", {"output": ["groupid"]}, admin)]
usrgrp = call("usergroup.create", {"name": os.environ["READER_GROUP"], "gui_access": 3,
                                   "rights": [{"id": g, "permission": 2} for g in groups]}, admin)["usrgrpids"][0]
user = call("user.create", {"username": os.environ["READER"], "passwd": os.environ["READER_PASSWORD"], "roleid": "1",
                            "usrgrps": [{"usrgrpid": usrgrp}]}, admin)["userids"][0]
token = call("token.create", {"name": "grader", "userid": user,
                              "description": "Lecture seule (correcteur)"}, admin)["tokenids"][0]
secret = call("token.generate", [token], admin)[0]["token"]
call("user.update", {"userid": "1", "passwd": os.environ["ADMIN_PASSWORD"]}, admin)
fd = os.open(os.environ["TOKEN_FILE"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, (secret + "\n").encode())
os.close(fd)
print(json.dumps({"group": group, "usrgrp": usrgrp, "user": user, "token": token}))
"""


def _frontend_conf(db_password: str) -> str:
    return ("<?php\n// Zabbix frontend (lab): PostgreSQL on the server itself.\n"
            "$DB['TYPE'] = 'POSTGRESQL';\n$DB['SERVER'] = '127.0.0.1';\n$DB['PORT'] = '5432';\n"
            f"$DB['DATABASE'] = 'zabbix';\n$DB['USER'] = 'zabbix';\n$DB['PASSWORD'] = '{db_password}';\n"
            "$DB['SCHEMA'] = '';\n$DB['ENCRYPTION'] = false;\n$DB['KEY_FILE'] = '';\n$DB['CERT_FILE'] = '';\n"
            "$DB['CA_FILE'] = '';\n$DB['VERIFY_HOST'] = false;\n$DB['CIPHER_LIST'] = '';\n$DB['VAULT_URL'] = '';\n"
            "$DB['VAULT_DB_PATH'] = '';\n$DB['VAULT_TOKEN'] = '';\n$DB['DOUBLE_IEEE754'] = true;\n"
            "$ZBX_SERVER = '127.0.0.1';\n$ZBX_SERVER_PORT = '10051';\n$ZBX_SERVER_NAME = 'TSSR';\n"
            "$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;\n")


def _secret_file(path: Path, value: str) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")


def _enable(root: Path, kind: str, name: str) -> None:
    """``a2enmod``/``a2enconf``/``a2ensite`` by hand: the links they make."""
    sub = {"mods": ("mods-available", "mods-enabled"), "conf": ("conf-available", "conf-enabled"),
           "sites": ("sites-available", "sites-enabled")}[kind]
    source = root / "etc/apache2" / sub[0] / name
    if not source.exists():
        raise LabError(f"apache2 : {sub[0]}/{name} absent")
    link = root / "etc/apache2" / sub[1] / name
    if not link.is_symlink():
        link.symlink_to(f"../{sub[0]}/{name}")


def provision(root: Path, progress: Progress = None) -> None:
    """Once, into the cached layer: database, schema, configuration, the grader's account and token."""
    say(progress, "Zabbix 6.0 : base PostgreSQL, schéma, frontal, compte de lecture et jeton d'API…")
    db_password = secrets.token_urlsafe(18)
    admin_password = secrets.token_urlsafe(15) + "-Zb7"
    _secret_file(root / ADMIN_PASSWORD_FILE.lstrip("/"), admin_password)
    conf = root / "etc/zabbix/zabbix_server.conf.d/lab.conf"
    conf.write_text(SERVER_TUNING)
    php_conf = root / "etc/zabbix/zabbix.conf.php"
    php_conf.write_text(_frontend_conf(db_password))
    run(["chroot", root, "/bin/chown", "root:www-data", "/etc/zabbix/zabbix.conf.php"], what="zabbix.conf.php")
    php_conf.chmod(0o640)
    (root / "root/provision-api.py").write_text(_API)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DB_PASSWORD": db_password, "ADMIN_PASSWORD": admin_password,
           "READER": READER, "READER_GROUP": READER_GROUP, "CANDIDATE_GROUP": CANDIDATE_GROUP,
           "READER_PASSWORD": secrets.token_urlsafe(18) + "-Rd3", "TOKEN_FILE": TOKEN_FILE}
    proc = run(["unshare", "--net", "--", "chroot", root, "/bin/sh", "-c", _PROVISION.replace("{pg}", PG_VERSION)],
               what="provisionnement de Zabbix", timeout=600, env=env)
    say(progress, f"Zabbix : {proc.stdout.strip()[-300:]}")
    (root / "root/provision-api.py").unlink()
    (root / "tmp/php-s.log").unlink(missing_ok=True)
    for kind, name in (("mods", "ssl.load"), ("mods", "ssl.conf"), ("mods", "socache_shmcb.load"),
                       ("conf", "zabbix-frontend-php.conf")):
        _enable(root, kind, name)
    (root / "etc/apache2/sites-available/zabbix-ssl.conf").write_text(SITE)
    # What the frontend's setup asks of PHP (linking a template is long work for one request).
    (root / "etc/php/8.2/apache2/conf.d/99-zabbix.ini").write_text(PHP_INI)
    _enable(root, "sites", "zabbix-ssl.conf")
    if not (root / TOKEN_FILE.lstrip("/")).exists():
        raise LabError("provisionnement de Zabbix incomplet : jeton d'API absent")


def token_path(state_dir: Path) -> Path:
    return Path(state_dir) / TOKEN_STATE


def prepare(root: Path, spec: Any, lab: Any) -> None:
    """A Zabbix server before boot: its HTTPS certificate (lab CA), the token copied to the lab's state dir."""
    from grader.lab.samba import issue_certificate

    certs = root / CERT_DIR.lstrip("/")
    certs.mkdir(parents=True, exist_ok=True)
    key, cert, _ca = issue_certificate(lab.state_dir, spec.ip, (spec.own_hostname,))
    (certs / "cert.pem").write_bytes(cert)
    _secret_file(certs / "key.pem", "")
    (certs / "key.pem").write_bytes(key)
    token = (root / TOKEN_FILE.lstrip("/")).read_text().strip()
    state = token_path(lab.state_dir)
    state.parent.mkdir(parents=True, exist_ok=True)
    # Several servers (the demo's candidates) are prepared side by side and share the layer's token: each
    # writes its own file and renames it over the state's, never two creations of one file at once.
    mine = state.with_name(f".{state.name}.{spec.name}")
    _secret_file(mine, token)
    os.replace(mine, state)


# --- agents, and hosts defined through the API once the server runs -------------------------------

SERVER_UNITS = ("postgresql.service", "zabbix-server.service", "apache2.service")


def plant_agent(root: Path, *, server: str, hostname: str) -> None:
    """A candidate's machine with zabbix-agent answering ``server`` (its ``Server=``); the server's daemons off."""
    conf = root / "etc/zabbix/zabbix_agentd.conf.d/tssr.conf"
    conf.write_text(f"# Agent Zabbix (salle TSSR)\nServer={server}\nServerActive={server}\nHostname={hostname}\n")
    conf.chmod(0o644)
    for unit in SERVER_UNITS:
        (root / "etc/systemd/system/multi-user.target.wants" / unit).unlink(missing_ok=True)


def api(shell: Any, method: str, params: Any, auth: str | None = None) -> Any:
    """One JSON-RPC call inside the booted server (its own loopback, plain HTTP: nothing leaves the host)."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
    if auth:
        body["auth"] = auth
    proc = shell.run("/usr/bin/curl", "-sS", "--max-time", "240", "-H", "Content-Type: application/json-rpc",
                     "--data-binary", "@-", "http://127.0.0.1/zabbix/api_jsonrpc.php", input=json.dumps(body),
                     timeout=250)
    if proc.returncode != 0:
        raise LabError(f"API Zabbix ({method}) : {proc.stderr.strip()[-300:]}")
    answer = json.loads(proc.stdout)
    if "error" in answer:
        raise LabError(f"API Zabbix ({method}) : {answer['error']}")
    return answer["result"]


def admin_login(shell: Any) -> str:
    password = shell.run("/bin/cat", ADMIN_PASSWORD_FILE).stdout.strip()
    return str(api(shell, "user.login", {"username": "Admin", "password": password}))


def create_host(shell: Any, auth: str, name: str, ip: str, *, templates: tuple[str, ...] = (),
                items: tuple[dict[str, Any], ...] = (), triggers: tuple[dict[str, Any], ...] = ()) -> str:
    """A host with an agent interface on ``ip``, linked ``templates``, its own ``items`` and ``triggers``."""
    group = api(shell, "hostgroup.get", {"filter": {"name": [CANDIDATE_GROUP]}, "output": ["groupid"]}, auth)
    linked = api(shell, "template.get", {"filter": {"host": list(templates)}, "output": ["templateid"]}, auth) \
        if templates else []
    if len(linked) != len(templates):
        raise LabError(f"modèles Zabbix introuvables : {', '.join(templates)}")
    hostid = api(shell, "host.create", {
        "host": name, "groups": [{"groupid": group[0]["groupid"]}], "templates": linked,
        "interfaces": [{"type": 1, "main": 1, "useip": 1, "ip": ip, "dns": "", "port": "10050"}]}, auth)["hostids"][0]
    interface = api(shell, "hostinterface.get", {"hostids": [hostid], "output": ["interfaceid"]}, auth)[0]["interfaceid"]
    for item in items:
        api(shell, "item.create", {"hostid": hostid, "interfaceid": interface, "type": 0, **item}, auth)
    for trigger in triggers:
        api(shell, "trigger.create", trigger, auth)
    return str(hostid)


ZABBIX = Flavor("zabbix", PACKAGES, REQUIRED_FILES, recipe=RECIPE, provision=provision, prepare=prepare,
                ports=(443,), description="serveur Zabbix 6.0 (PostgreSQL, frontal PHP, API JSON-RPC)")
ZABBIX_AGENT = Flavor("zabbix-agent", PACKAGES, REQUIRED_FILES,
                      description="serveur Debian avec l'agent Zabbix (zabbix-agent)")
