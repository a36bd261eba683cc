"""Discord's REST rate limits: per-route buckets keyed by the major parameter, and a global limit.

https://discord.com/developers/docs/topics/rate-limits: every response of a limited
route carries ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``, ``-Reset-After`` and
``-Bucket``; a request over the limit gets ``429`` with ``retry_after`` (seconds) and
``global``, and the ``Retry-After`` header. Buckets are per route *and* per major
parameter (``channel_id``, ``guild_id``, ``webhook_id`` + token), so one busy channel
never slows another. Interaction callbacks are not bound by the global limit.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

# Discord's API answers through Google's front end; discord.py takes a 429 without this
# header for a Cloudflare ban and gives up instead of waiting.
VIA = "1.1 google"
MAJOR = ("channel_id", "guild_id", "application_id", "token")
# Routes exempt from the global limit (Discord: interaction endpoints).
NOT_GLOBAL = ("POST /interactions/{interaction_id}/{token}/callback",)


@dataclass
class _Window:
    limit: int
    per: float
    used: int = 0
    reset_at: float = 0.0


@dataclass
class RateLimits:
    """Route limits (`"POST /channels/{channel_id}/messages": (5, 5.0)`) and a global one.

    Attributes:
        routes: limit and window (seconds) per route template; other routes are unlimited.
        global_limit: requests per second across all limited and unlimited routes (None: off).
        hits: every 429 answered, as (route, bucket key, global).
        exhausted: every time a bucket's last request was used up, as (route, bucket key).
    """

    routes: dict[str, tuple[int, float]] = field(default_factory=dict)
    # Limits of single buckets, by (route, major parameter value): e.g. one busy channel.
    buckets: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    global_limit: int | None = None
    hits: list[tuple[str, str, bool]] = field(default_factory=list)
    exhausted: list[tuple[str, str]] = field(default_factory=list)
    _windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    _global: _Window | None = None

    def check(self, route: str, params: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Count a request; the 429 (status, body, headers) when it is over a limit, else None."""
        now = time.monotonic()
        if self.global_limit is not None and route not in NOT_GLOBAL:
            g = self._global or _Window(self.global_limit, 1.0)
            self._global = g
            if now >= g.reset_at:
                g.used, g.reset_at = 0, now + g.per
            if g.used >= g.limit:
                after = g.reset_at - now
                self.hits.append((route, "global", True))
                return 429, {"message": "You are being rate limited.", "retry_after": round(after, 3),
                             "global": True, "code": 0}, {
                    "Retry-After": f"{after:.3f}", "Via": VIA, "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global"}
            g.used += 1
        key = "/".join(params.get(k, "") for k in MAJOR)
        limit = self._limit(route, params)
        if limit is None:
            return None
        w = self._windows.setdefault((route, key), _Window(*limit))
        if now >= w.reset_at:
            w.used, w.reset_at = 0, now + w.per
        if w.used >= w.limit:
            after = w.reset_at - now
            self.hits.append((route, key, False))
            return 429, {"message": "You are being rate limited.", "retry_after": round(after, 3),
                         "global": False, "code": 0}, {
                "Retry-After": f"{after:.3f}", "Via": VIA, "X-RateLimit-Scope": "user",
                **self._headers(route, w, now)}
        w.used += 1
        if w.used == w.limit:
            self.exhausted.append((route, key))
        return None

    def reset(self) -> None:
        """Forget every bucket's count (limits stay)."""
        self._windows.clear()
        self._global = None

    def _limit(self, route: str, params: dict[str, str]) -> tuple[int, float] | None:
        for k in MAJOR:
            if (route, params.get(k, "")) in self.buckets:
                return self.buckets[(route, params[k])]
        return self.routes.get(route)

    def headers(self, route: str, params: dict[str, str]) -> dict[str, str]:
        """The `X-RateLimit-*` headers of a response on `route`."""
        if self._limit(route, params) is None:
            return {}
        key = "/".join(params.get(k, "") for k in MAJOR)
        w = self._windows.get((route, key))
        return self._headers(route, w, time.monotonic()) if w is not None else {}

    @staticmethod
    def _headers(route: str, w: _Window, now: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(w.limit),
            "X-RateLimit-Remaining": str(max(0, w.limit - w.used)),
            "X-RateLimit-Reset": f"{time.time() + (w.reset_at - now):.3f}",
            "X-RateLimit-Reset-After": f"{max(0.0, w.reset_at - now):.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(route.encode()).hexdigest()[:16],
        }

    def least_time(self, route: str, per_key: int) -> float:
        """The least seconds the limits allow for `per_key` requests in each bucket of `route`."""
        limit, per = self.routes[route]
        return max(0, (per_key - 1) // limit) * per
