"""``guard-gateway broker-config``: broker accounts and ACLs from the site file's GPS terminals.

Device identity is the broker credential: each terminal gets its own account, allowed to
publish only under its own topics and to read only its own downlink; the gateway's account
reads every device topic and writes the downlinks. Nothing else may publish or subscribe.

Accounts (one per GPS device of the site file):

* ``<prefix>/<id>/...`` terminals: user name = device id; publish ``<prefix>/<id>/json``,
  ``.../nmea``, ``.../jt808``; read ``<prefix>/<id>/jt808/down``.
* OwnTracks phones (id ``<user>/<device>``): user name = ``<user>``, since the app publishes on
  ``owntracks/%u/%d`` with its login as ``%u``; publish ``owntracks/<user>/<device>`` and its
  sub-topics, read ``owntracks/<user>/<device>/cmd``. Each phone needs its own ``<user>``.
* The gateway (``--gateway-user``, default ``guard-gateway``): read every filter the gateway
  subscribes to, write ``<prefix>/+/jt808/down``.
* With ``--partitions N`` (N > 1, docs/scaling.md), also one account per partition client,
  ``<gateway-user>-p00`` ... ``-p<N-1>``, with the gateway's rights and password: the broker
  makes the user name the client id, so each partition's persistent session keeps its own id
  whichever process connects it. Their rights are not narrowed to the partition's own devices:
  those change with every site load, which would then need a new ACL on the broker each time.

Every user name is one account and one client: the broker configuration makes each client's id
its user name (``use_username_as_clientid``), so no client can take over another's session by
its client id (a terminal connecting as the gateway's client id with a clean session would
otherwise end the gateway's persistent session and drop its queued fixes).

Passwords: a device's ``secret_ref`` names where its MQTT password is (``env:NAME``: the
environment variable ``NAME``; ``file:/path``: the file's first line), and the gateway's comes
from ``--gateway-secret`` in the same form. A device without one is refused unless
``--generate`` is given: then a random password (24 bytes, URL-safe) is made for it and written,
with the others generated in this run, to ``generated-passwords.txt`` (mode 0600) for the
operator to load into the terminals. Passwords are never printed or logged.

Output (``--out DIR``): ``mosquitto/passwords`` (PBKDF2-SHA512 ``$7$`` lines exactly as
``mosquitto_passwd`` writes them, mode 0600), ``mosquitto/acl`` (``user`` blocks),
``mosquitto/auth.conf`` (the lines to add to ``mosquitto.conf``); ``emqx/users.json`` (EMQX 5
built-in database import file, SHA-256 with prefix salt, mode 0600), ``emqx/acl.conf`` (EMQX 5
file authorization rules), ``emqx/auth.hocon`` (the authenticator and authorizer settings).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drivers.gps.topics import subscription_filters
from gateway.clock import SystemClock
from gateway.cluster.partitions import partition_client_id
from gateway.errors import ConfigError
from gateway.site.loader import validate_site_file

__all__ = [
    "BrokerAccount",
    "broker_accounts",
    "cmd_broker_config",
    "emqx_acl",
    "emqx_users",
    "mosquitto_acl",
    "mosquitto_hash",
    "mosquitto_passwords",
    "write_broker_config",
]

MOSQUITTO_ITERATIONS = 101
"""``mosquitto_passwd``'s PBKDF2-SHA512 iteration count (2.0), with a 12-byte salt."""
_GENERATED_FILE = "generated-passwords.txt"


@dataclass(frozen=True)
class BrokerAccount:
    """One broker login and what it may do: ``publish`` topics, ``read`` filters."""

    username: str
    password: str = field(repr=False)
    publish: tuple[str, ...]
    read: tuple[str, ...]


def resolve_secret(ref: str, environ: Mapping[str, str], where: str) -> str:
    """The password ``ref`` (``env:NAME`` or ``file:/path``) names; ``ConfigError`` naming
    ``where`` and the reference (never a value) when it is missing or empty."""
    kind, _, name = ref.partition(":")
    if kind == "env":
        value = environ.get(name, "")
        if not value:
            raise ConfigError(f"{where}: environment variable {name!r} is not set or empty")
        return value
    if kind == "file":
        try:
            lines = Path(name).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {name}: {exc.strerror}") from None
        if not lines or not lines[0]:
            raise ConfigError(f"{where}: {name} holds no password on its first line")
        return lines[0]
    raise ConfigError(f"{where}: secret_ref {ref!r} is neither env:NAME nor file:/path")


def _device_rights(device_id: str, prefix: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The user name, publish topics and read filters of one GPS device."""
    if "/" in device_id:
        user, phone = device_id.split("/", 1)
        base = f"owntracks/{user}/{phone}"
        return user, (base, f"{base}/#"), (f"{base}/cmd",)
    base = f"{prefix.strip('/')}/{device_id}"
    return device_id, (f"{base}/json", f"{base}/nmea", f"{base}/jt808"), (f"{base}/jt808/down",)


def _check_username(name: str, where: str) -> None:
    # mosquitto's password file splits a line at its first ':'.
    if ":" in name:
        raise ConfigError(f"{where}: a broker user name cannot hold ':' ({name!r})")


def broker_accounts(
    devices: Sequence[tuple[str, str | None]],
    *,
    prefix: str,
    gateway_user: str,
    gateway_secret: str | None,
    environ: Mapping[str, str],
    generate: bool,
    partitions: int = 1,
) -> tuple[list[BrokerAccount], dict[str, str]]:
    """The accounts for ``devices`` (GPS device id, its ``secret_ref``) and the gateway.

    Returns the accounts (gateway first, then by user name) and the passwords generated here
    (user name → password). Raises ``ConfigError`` listing every device without a usable
    password, and for user names that clash.
    """
    _check_username(gateway_user, "--gateway-user")
    rights: dict[str, tuple[str | None, tuple[str, ...], tuple[str, ...]]] = {}
    owner: dict[str, str] = {gateway_user: "the gateway"}
    partition_users = (
        [partition_client_id(gateway_user, p) for p in range(partitions)] if partitions > 1 else []
    )
    owner |= {user: "a partition of the gateway" for user in partition_users}
    problems: list[str] = []
    for device_id, ref in devices:
        user, publish, read = _device_rights(device_id, prefix)
        where = f"device {device_id!r}"
        try:
            _check_username(user, where)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if user in owner:
            # One account, one client: the broker makes the user name the client id.
            problems.append(f"{where}: broker user {user!r} is taken by {owner[user]}")
            continue
        owner[user] = f"device {device_id!r}"
        rights[user] = (ref, publish, read)
    generated: dict[str, str] = {}

    def password(user: str, ref: str | None, where: str) -> str:
        if ref is not None:
            return resolve_secret(ref, environ, where)
        if not generate:
            raise ConfigError(f"{where}: no secret_ref (give one, or --generate to make one)")
        generated[user] = secrets.token_urlsafe(24)
        return generated[user]

    accounts: list[BrokerAccount] = []
    try:
        gateway_password = password(gateway_user, gateway_secret, "--gateway-secret")
        for user in [gateway_user, *partition_users]:
            accounts.append(
                BrokerAccount(
                    user,
                    gateway_password,
                    publish=(f"{prefix.strip('/')}/+/jt808/down",),
                    read=tuple(subscription_filters(prefix)),
                )
            )
    except ConfigError as exc:
        problems.append(str(exc))
    for user in sorted(rights):
        ref, topics, filters = rights[user]
        try:
            secret = password(user, ref, f"broker user {user!r}")
            accounts.append(BrokerAccount(user, secret, topics, filters))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("cannot make the broker accounts:\n  " + "\n  ".join(problems))
    return accounts, generated


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """``$7$101$<salt>$<hash>`` as ``mosquitto_passwd`` (2.x) writes it: PBKDF2-HMAC-SHA512,
    101 iterations, a 12-byte random salt, both base64 with padding."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, MOSQUITTO_ITERATIONS)
    encode = base64.b64encode
    return f"$7${MOSQUITTO_ITERATIONS}${encode(salt).decode()}${encode(digest).decode()}"


def mosquitto_passwords(accounts: Sequence[BrokerAccount]) -> str:
    """The ``password_file`` text: one ``user:hash`` line per account."""
    return "".join(f"{a.username}:{mosquitto_hash(a.password)}\n" for a in accounts)


def mosquitto_acl(accounts: Sequence[BrokerAccount]) -> str:
    """The ``acl_file`` text: a ``user`` block per account; nothing is allowed outside them."""
    blocks = []
    for account in accounts:
        lines = [f"user {account.username}"]
        lines += [f"topic write {topic}" for topic in account.publish]
        lines += [f"topic read {topic}" for topic in account.read]
        blocks.append("\n".join(lines) + "\n")
    return "# generated by guard-gateway broker-config\n\n" + "\n".join(blocks)


def emqx_users(accounts: Sequence[BrokerAccount]) -> str:
    """EMQX 5 built-in database import file (``.json``): ``user_id``, ``password_hash``
    (hex SHA-256 of salt + password), ``salt``, ``is_superuser`` (always false)."""
    users = []
    for account in accounts:
        salt = secrets.token_hex(16)
        digest = hashlib.sha256((salt + account.password).encode("utf-8")).hexdigest()
        users.append(
            {
                "user_id": account.username,
                "password_hash": digest,
                "salt": salt,
                "is_superuser": False,
            }
        )
    return json.dumps(users, indent=2) + "\n"


def emqx_acl(accounts: Sequence[BrokerAccount]) -> str:
    """EMQX 5 file authorization rules (``acl.conf``), ending in ``{deny, all}``."""

    def topics(items: Sequence[str]) -> str:
        return ", ".join(json.dumps(t, ensure_ascii=False) for t in items)

    rules = ["%% generated by guard-gateway broker-config"]
    for account in accounts:
        who = f"{{username, {json.dumps(account.username, ensure_ascii=False)}}}"
        rules.append(f"{{allow, {who}, publish, [{topics(account.publish)}]}}.")
        rules.append(f"{{allow, {who}, subscribe, [{topics(account.read)}]}}.")
    rules.append("{deny, all}.")
    return "\n".join(rules) + "\n"


def _mosquitto_conf(directory: Path) -> str:
    return (
        "# add to mosquitto.conf (generated by guard-gateway broker-config)\n"
        "allow_anonymous false\n"
        "use_username_as_clientid true\n"
        f"password_file {directory / 'passwords'}\n"
        f"acl_file {directory / 'acl'}\n"
    )


def _emqx_hocon(directory: Path) -> str:
    return f"""# add to base.hocon (generated by guard-gateway broker-config); import the users:
#   curl -u KEY:SECRET -F filename=@{directory / "users.json"} \\
#     'http://EMQX:18083/api/v5/authentication/password_based%3Abuilt_in_database/import_users'
authentication = [
  {{
    mechanism = password_based
    backend = built_in_database
    user_id_type = username
    password_hash_algorithm {{ name = sha256, salt_position = prefix }}
  }}
]
mqtt {{ use_username_as_clientid = true }}
authorization {{
  no_match = deny
  deny_action = ignore
  sources = [{{ type = file, enable = true, path = "{directory / "acl.conf"}" }}]
}}
"""


def _write(path: Path, text: str, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if private:
        # Created 0600 from the start: a password hash is never readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, 0o600)
    else:
        path.write_text(text, encoding="utf-8")


def write_broker_config(
    accounts: Sequence[BrokerAccount], generated: Mapping[str, str], out: Path
) -> list[Path]:
    """Write every file (module docstring) under ``out``; returns their paths."""
    out = out.resolve()
    mosquitto, emqx = out / "mosquitto", out / "emqx"
    files = {
        mosquitto / "passwords": (mosquitto_passwords(accounts), True),
        mosquitto / "acl": (mosquitto_acl(accounts), False),
        mosquitto / "auth.conf": (_mosquitto_conf(mosquitto), False),
        emqx / "users.json": (emqx_users(accounts), True),
        emqx / "acl.conf": (emqx_acl(accounts), False),
        emqx / "auth.hocon": (_emqx_hocon(emqx), False),
    }
    if generated:
        lines = "".join(f"{user} {password}\n" for user, password in sorted(generated.items()))
        header = "# broker user and generated password; give each to its terminal, then delete\n"
        files[out / _GENERATED_FILE] = (header + lines, True)
    for path, (text, private) in files.items():
        _write(path, text, private=private)
    return list(files)


def cmd_broker_config(args: argparse.Namespace) -> int:
    """``broker-config SITE --out DIR``: write the broker accounts and ACLs (module docstring)."""
    try:
        checked = validate_site_file(args.site, SystemClock().now())
        devices = [
            (device.id, device.secret_ref)
            for site in checked
            for device in site.entry.devices
            if device.kind == "gps"
        ]
        accounts, generated = broker_accounts(
            devices,
            prefix=args.prefix,
            gateway_user=args.gateway_user,
            gateway_secret=args.gateway_secret,
            environ=os.environ,
            generate=args.generate,
            partitions=args.partitions,
        )
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    paths = write_broker_config(accounts, generated, args.out)
    gateway_accounts = args.partitions + 1 if args.partitions > 1 else 1
    print(
        f"{len(accounts)} broker accounts ({len(accounts) - gateway_accounts} for terminals), "
        "files:"
    )
    for path in paths:
        print(f"  {path}")
    if generated:
        print(f"{len(generated)} passwords generated: see {args.out.resolve() / _GENERATED_FILE}")
    return 0
