"""CounterFilter: throughput of the messages its matcher selects."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from hekapy._message import Field, Message
from hekapy._pack import Pack
from hekapy.plugins._api import Filter


class CounterFilter(Filter):
    """Counts messages and reports the rate on every timer event.

    Each report is a ``heka.counter-output`` message whose payload reads
    ``Got N messages. X.XX msg/sec`` (N since the previous report), with
    the total and the mean rate of the last ten reports as fields.
    """

    config_schema = {"ticker_interval": 5, "timer_event_on_shutdown": False}

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        self.count = 0
        self.total = 0
        self._last = time.monotonic()
        self.rates: deque[float] = deque(maxlen=10)

    def process_message(self, pack: Pack) -> None:
        self.count += 1

    def timer_event(self, ns: int) -> None:
        now = time.monotonic()
        span = max(now - self._last, 1e-9)
        rate = self.count / span
        self.rates.append(rate)
        self.total += self.count
        payload = f"Got {self.count} messages. {rate:.2f} msg/sec"
        self.count = 0
        self._last = now
        if self.context is None:
            return
        mean = sum(self.rates) / len(self.rates)
        self.context.inject(
            Message.new(
                type="heka.counter-output",
                logger=self.name,
                hostname=self.context.hostname,
                pid=self.context.pid,
                payload=payload,
                fields=[
                    Field("total", self.total),
                    Field("rate", rate, representation="msg/sec"),
                    Field("mean_rate", mean, representation="msg/sec"),
                ],
            )
        )
