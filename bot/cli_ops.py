"""`python -m bot notify ...` and `python -m bot backup PATH`: tools for running the shop.

notify: sends one signed payment hint to the running bot's webhook (for a node's -walletnotify or
-blocknotify). Exit 0 when the bot answered 202; 1 otherwise (status and reason printed); 2 when
WEBHOOK_SECRET is not set. The event id is a random UUID unless --event-id is given: a node notifies
the same transaction several times (mempool, first block, and via -blocknotify at every depth), and
each of those must trigger a check, so ids derived from txid and address would swallow the useful ones.
A hint is idempotent anyway; the id only stops a captured request from being replayed.

backup: a consistent copy of the SQLite database through SQLite's online backup API, safe while the
bot runs. Exit 0 done; 1 failed; 2 DATABASE_URL is PostgreSQL (use pg_dump).
"""

import argparse
import json
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from config import ConfigError, Settings
from models.enums import Chain
from processing.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

WILDCARD_HOSTS = {"", "0.0.0.0", "::"}  # noqa: S104 - hosts the server binds to, never connected to


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    notify = commands.add_parser("notify", help="send a signed payment hint to the running bot's webhook")
    notify.add_argument("--chain", type=Chain, choices=list(Chain), required=True)
    notify.add_argument("--address", required=True)
    notify.add_argument("--txid", help="for the log only: the bot checks the address, not the transaction")
    notify.add_argument("--url", help="default: http://PROCESSING_HOST:PROCESSING_PORT + WEBHOOK_PATH")
    notify.add_argument("--event-id", help="default: a random UUID; reuse one to make a retry a no-op")
    notify.add_argument("--timeout", type=float, default=30, help="seconds (default 30)")
    notify.set_defaults(func=send_hint)
    backup = commands.add_parser("backup", help="copy the SQLite database to PATH, also while the bot runs")
    backup.add_argument("path", type=Path)
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    backup.set_defaults(func=backup_database)


def default_webhook_url(settings: Settings) -> str:
    host = settings.processing_host
    host = "127.0.0.1" if host in WILDCARD_HOSTS else f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.processing_port}{settings.webhook_path}"


def send_hint(args: argparse.Namespace, settings: Settings) -> int:
    secret = settings.webhook_secret.get_secret_value()
    if not secret:
        raise ConfigError("WEBHOOK_SECRET: set it to the running bot's value (see README.md, 'Payment webhook')")
    url = args.url or default_webhook_url(settings)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--url: expected an http:// or https:// URL, got {url!r}")
    body = json.dumps(
        {
            "event_id": args.event_id or str(uuid.uuid4()),
            "chain": args.chain.value,
            "address": args.address,
            "txid": args.txid,
        }
    ).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - checked
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310 - scheme checked above
            status, reply = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, reply = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        print(f"error: cannot reach {url}: {reason}", file=sys.stderr)
        return 1
    if status == 202:
        print(f"202 {_reason(reply)}")
        return 0
    print(f"error: {url} answered {status}: {_reason(reply)}", file=sys.stderr)
    return 1


def _reason(reply: bytes) -> str:
    try:
        data = json.loads(reply)
    except ValueError:
        return reply[:200].decode(errors="replace").strip()
    if isinstance(data, dict):
        return str(data.get("error") or data.get("status") or data)[:200]
    return str(data)[:200]


def backup_database(args: argparse.Namespace, settings: Settings) -> int:
    source = settings.sqlite_path
    if source is None:
        print(
            "error: DATABASE_URL is PostgreSQL; back it up with pg_dump, e.g. "
            "`pg_dump --format=custom --file=shop.dump shop` (see README.md, 'Backups')",
            file=sys.stderr,
        )
        return 2
    target: Path = args.path
    if not source.is_file():
        print(f"error: {source} does not exist", file=sys.stderr)
        return 1
    if target.exists() and (not args.force or target.resolve() == source.resolve()):
        print(f"error: {target} exists; pass --force to replace it (never the database itself)", file=sys.stderr)
        return 1
    partial = target.with_name(target.name + ".partial")  # a crash never leaves a half backup under PATH
    try:
        partial.unlink(missing_ok=True)
        _copy_sqlite(source, partial)
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as e:
        partial.unlink(missing_ok=True)
        print(f"error: backup failed: {e}", file=sys.stderr)
        return 1
    print(f"backed up {source} to {target} ({target.stat().st_size} bytes)")
    return 0


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy through the online backup API: a consistent snapshot even while the bot writes (WAL)."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        (check,) = dst.execute("PRAGMA integrity_check").fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check of the copy: {check}")
    finally:
        dst.close()
        src.close()
