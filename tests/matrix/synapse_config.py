"""The ``homeserver.yaml`` of the test Synapse (`tests.matrix.synapse.SynapseServer`):
loopback only, no federation, no open registration, every rate limit raised.

Facts learned while writing it (Synapse 1.163.2):

- Every ``rc_*`` limiter in ``synapse/config/ratelimiting.py`` is raised (see
  `RATE_LIMITS`). The defaults bite quickly in tests: ``rc_login.address``
  allows a burst of 5 logins per IP (every test user logs in from
  127.0.0.1), ``rc_message`` 10 messages, ``rc_room_creation`` 10 rooms.
  ``rc_federation`` has its own shape (window/sleep/reject/concurrent) and
  ``rc_remote_media_downloads`` is set through ``remote_media_download_*``.
- ``caches.sync_response_cache_duration`` keeps its default (2 minutes):
  Synapse answers a repeated ``/sync`` with the same parameters and ``since``
  token from a cache for that long, so a retried request loses nothing. A
  benchmark that syncs twice from the same token gets the same (stale)
  answer; nio always moves on to ``next_batch``.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import yaml

SERVER_NAME = "localhost"
HOST = "127.0.0.1"

# Far above anything a test or benchmark does; keyed like homeserver.yaml.
_UNLIMITED = {"per_second": 100_000, "burst_count": 100_000}
RATE_LIMITS: dict[str, Any] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_registration_token_validity": _UNLIMITED,
    "rc_login": {
        "address": _UNLIMITED,
        "account": _UNLIMITED,
        "failed_attempts": _UNLIMITED,
    },
    "rc_admin_redaction": _UNLIMITED,
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_3pid_validation": _UNLIMITED,
    "rc_invites": {
        "per_room": _UNLIMITED,
        "per_user": _UNLIMITED,
        "per_issuer": _UNLIMITED,
    },
    "rc_third_party_invite": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_profile": _UNLIMITED,
    # Federation is off (empty whitelist); raised anyway so no limiter is left at default.
    "rc_federation": {
        "window_size": 1000,
        "sleep_limit": 100_000,
        "sleep_delay": 1,
        "reject_limit": 100_000,
        "concurrent": 100_000,
    },
    # The `rc_remote_media_downloads` limiter is configured under these two names.
    "remote_media_download_per_second": "1G",
    "remote_media_download_burst_count": "10G",
}

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "file": {
            "class": "logging.FileHandler",
            "formatter": "plain",
            "filename": "",  # filled in per server
        }
    },
    "root": {"level": "WARNING", "handlers": ["file"]},
    "disable_existing_loggers": False,
}

NONCE_KEY = "org.commons_bot.test_instance"


def write_config(workdir: Path, *, port: int, base_url: str, log_path: Path, shared_secret: str,
                 macaroon_secret: str, form_secret: str, nonce: str) -> Path:
    """Write the signing key (once), the log config and ``homeserver.yaml`` into `workdir`.

    Returns:
        The path of ``homeserver.yaml``.
    """
    signing_key = workdir / f"{SERVER_NAME}.signing.key"
    if not signing_key.exists():
        # Synapse's key file is "<alg> <version> <unpadded base64 ed25519 seed>".
        seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        signing_key.write_text(f"ed25519 a_test {seed}\n")
    log_config = dict(LOG_CONFIG)
    log_config["handlers"] = {"file": {**LOG_CONFIG["handlers"]["file"], "filename": str(log_path)}}
    (workdir / "log.yaml").write_text(yaml.safe_dump(log_config))

    config: dict[str, Any] = {
        "server_name": SERVER_NAME,
        "public_baseurl": f"{base_url}/",
        "pid_file": str(workdir / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": [HOST],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {
            "name": "sqlite3",
            "args": {"database": str(workdir / "homeserver.db")},
        },
        "log_config": str(workdir / "log.yaml"),
        "media_store_path": str(workdir / "media_store"),
        "signing_key_path": str(signing_key),
        "trusted_key_servers": [],
        "federation_domain_whitelist": [],
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": macaroon_secret,
        "form_secret": form_secret,
        "report_stats": False,
        "enable_registration": False,
        "serve_client_wellknown": True,
        "extra_well_known_client_content": {NONCE_KEY: nonce},
        **RATE_LIMITS,
    }
    path = workdir / "homeserver.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
