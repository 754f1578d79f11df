"""Faults the sandbox can inject, and REDCap's per-address rate limit with its ban.

A fault is a `Fault(kind, count, after, content, ...)`: it lets `after` matching
requests through, then fires on the next `count` matching ones (`count=None`: for
ever). A request matches when it reaches `/api/` and, if `content` is set, has that
`content`, and, if `token` is set, carries that token (one site of several). Kinds:

- `latency`: wait `seconds` before answering (stacks with any other fault);
- `status`: answer HTTP `status` (default 500) with a short plain-text body;
- `html`: a proxy's 502 HTML error page (text/html);
- `echo`: answer HTTP `status` (default 500) with a plain-text body that quotes the
  request's parameters, the token among them, as a debugging proxy or a module's error
  page can (what the client's redaction is for);
- `ban`: ban the caller's address for good: this and every later request gets 429
  with REDCap's plain-text message (REDCAP_API.md §3);
- `truncate`: send the first `fraction` (default 0.5) of the real body, without a
  Content-Length, then close the connection;
- `drop`: close the connection without answering;
- `drop_rows`: a record export silently misses `fraction` (default 0.1, at least one)
  of its records, chosen with `seed`, as big exports under load do.

The rate limit counts `/api/` requests per address over the last 60 s of real
(monotonic) time, whatever clock stamps the data; the request over `per_minute`
bans the address permanently, as REDCap's "page hits per minute per IP" does.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BAN_MESSAGE", "FAULT_KINDS", "Decision", "Fault", "Faults", "PROXY_PAGE"]

FAULT_KINDS = ("latency", "status", "echo", "html", "ban", "truncate", "drop", "drop_rows")
BAN_MESSAGE = "Your IP address ({ip}) has been banned due to suspected abuse."
PROXY_PAGE = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
              "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
              "</body>\r\n</html>\r\n")


@dataclass
class Fault:
    """One fault rule; `seen` and `fired` count matching requests and firings."""

    kind: str
    count: int | None = 1
    after: int = 0
    content: str | None = None
    status: int = 500
    seconds: float = 0.0
    fraction: float | None = None
    seed: int = 0
    token: str | None = None
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {', '.join(FAULT_KINDS)})")
        if self.count is not None and self.count < 0 or self.after < 0:
            raise ValueError("fault count and after should be >= 0")
        if self.kind in ("status", "echo") and not 400 <= self.status <= 599:
            raise ValueError(f"fault status should be an HTTP error code, got {self.status}")

    @property
    def spent(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def drop(self, ids: list[str]) -> list[str]:
        """The ids left after dropping `fraction` of them (at least one when any)."""
        if not ids:
            return ids
        n = max(1, math.ceil(len(ids) * (0.1 if self.fraction is None else self.fraction)))
        gone = set(random.Random(self.seed).sample(ids, min(n, len(ids))))
        return [i for i in ids if i not in gone]


@dataclass
class Decision:
    """What to do with one request: wait, then act (None: answer normally)."""

    delay: float = 0.0
    fault: Fault | None = None


class Faults:
    """The fault rules, rate limit and banned addresses of one server (thread-safe)."""

    def __init__(self, rate_limit: int = 0, *,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._now = now
        self._rules: list[Fault] = []
        self._hits: dict[str, deque[float]] = {}
        self.rate_limit = rate_limit
        self.banned: set[str] = set()

    # -- the API tests use -------------------------------------------------------------
    def add(self, kind: str, *, count: int | None = 1, after: int = 0,
            content: str | None = None, status: int = 500, seconds: float = 0.0,
            fraction: float | None = None, seed: int = 0, token: str | None = None) -> Fault:
        """Add a rule and return it (its `seen`/`fired` counters update live)."""
        fault = Fault(kind, count=count, after=after, content=content, status=status,
                      seconds=seconds, fraction=fraction, seed=seed, token=token)
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every rule, lift every ban and forget the rate-limit history."""
        with self._lock:
            self._rules.clear()
            self.banned.clear()
            self._hits.clear()

    def set_rate_limit(self, per_minute: int) -> None:
        """Requests per minute per address before a permanent ban (0 = no limit)."""
        with self._lock:
            self.rate_limit = per_minute
            self._hits.clear()

    def ban(self, address: str) -> None:
        with self._lock:
            self.banned.add(address)

    @property
    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"faults": [f.as_dict() for f in self._rules],
                    "rate_limit": self.rate_limit, "banned": sorted(self.banned)}

    # -- the server's side -------------------------------------------------------------
    def is_banned(self, address: str) -> bool:
        """Count this request against the rate limit; True if the address is (now) banned."""
        with self._lock:
            if address in self.banned:
                return True
            if self.rate_limit > 0:
                now = self._now()
                hits = self._hits.setdefault(address, deque())
                hits.append(now)
                while hits and hits[0] <= now - 60:
                    hits.popleft()
                if len(hits) > self.rate_limit:
                    self.banned.add(address)
                    return True
            return False

    def decide(self, content: str, address: str, *, record_export: bool = False,
               token: str | None = None) -> Decision:
        """Advance the counters of the rules this request matches and pick what fires.

        `drop_rows` rules only match record exports (`record_export=True`)."""
        decision = Decision()
        with self._lock:
            for rule in self._rules:
                if rule.content is not None and rule.content != content:
                    continue
                if rule.token is not None and rule.token != token:
                    continue
                if rule.kind == "drop_rows" and not record_export:
                    continue
                rule.seen += 1
                if rule.seen <= rule.after or rule.spent:
                    continue
                if rule.kind == "latency":
                    rule.fired += 1
                    decision.delay += rule.seconds
                elif decision.fault is None:
                    rule.fired += 1
                    decision.fault = rule
                    if rule.kind == "ban":
                        self.banned.add(address)
        return decision
