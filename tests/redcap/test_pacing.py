"""The rate limiter spaces requests evenly, so no minute ever holds more than the limit."""

from __future__ import annotations

from registry.redcap.pacing import RateLimiter, limiter_for


class _FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sent: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_no_sliding_minute_exceeds_the_limit():
    t = _FakeTime()
    limiter = RateLimiter(120, clock=t.clock, sleep=t.sleep)
    for _ in range(500):
        limiter.acquire()
        t.sent.append(t.now)
    assert max(sum(1 for s in t.sent if start <= s < start + 60) for start in t.sent) <= 120
    assert abs((t.sent[-1] - t.sent[0]) - 499 * 0.5) < 1e-6  # and no slower than needed


def test_sites_on_one_host_share_one_limiter():
    a = limiter_for("http://127.0.0.1:8765/api/", 600)
    assert limiter_for("http://127.0.0.1:9999/api/", 600) is a
    assert limiter_for("http://redcap.example.org/api/", 600) is not a
