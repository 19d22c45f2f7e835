"""Rate limits per client: how often one address may post feedback or try an admin token.

A client is the address the request comes from (behind nginx on loopback, uvicorn takes it from
X-Forwarded-For, which it trusts from 127.0.0.1 only). Counts live in this process: behind N
replicas a client gets up to N times the limit, which still bounds a flood; they are forgotten
on restart, which costs an attacker a restart it cannot cause.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from fastapi import HTTPException, Request

MAX_CLIENTS = 10_000  # clients remembered at once (the least recently seen are forgotten)


class RateLimit:
    """At most `count` events per `seconds` for each key (a sliding window); thread-safe."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count = count
        self.seconds = seconds
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str, record: bool = True) -> float:
        """Seconds `key` must wait before its next event (0: now); with `record`, an event
        allowed now is counted."""
        now = time.monotonic()
        with self._lock:
            events = self._events.pop(key, None) or deque()
            while events and events[0] <= now - self.seconds:
                events.popleft()
            wait = events[0] + self.seconds - now if len(events) >= self.count else 0.0
            if record and not wait:
                events.append(now)
            if events:
                self._events[key] = events  # (re)inserted last: the most recently seen
                if len(self._events) > MAX_CLIENTS:
                    self._events.popitem(last=False)
            return wait


def client(request: Request) -> str:
    return request.client.host if request.client else ""


def too_many(wait: float, what: str) -> HTTPException:
    """The 429 of a client that must wait `wait` seconds."""
    seconds = max(1, math.ceil(wait))
    return HTTPException(
        429, f"{what}: try again in {seconds} s", headers={"Retry-After": str(seconds)}
    )


def limited(limit: RateLimit, what: str) -> Callable[[Request], None]:
    """A dependency that counts a request of its client, and refuses it (429) past `limit`."""

    def check(request: Request) -> None:
        wait = limit.wait(client(request))
        if wait:
            raise too_many(wait, what)

    return check
