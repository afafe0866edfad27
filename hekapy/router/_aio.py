"""Driving the router from asyncio: ``Router.run`` and ``ainject``.

A mixin of :class:`hekapy.Router`; it only uses the router's routing
primitives (``pump``, ``tick``, ``drain``, ``_route``) and its locks.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from hekapy._message import Message
from hekapy._pack import Pack, to_pack

if TYPE_CHECKING:
    from hekapy.router._runner import Runner


class AsyncDriver:
    """The asyncio half of :class:`hekapy.Router`."""

    _loop: asyncio.AbstractEventLoop | None
    _wakeup: asyncio.Event | None
    _async_lock: asyncio.Lock | None
    _closed: bool
    _stop_requested: bool
    _route_lock: Any

    if TYPE_CHECKING:

        def pump(self, limit: int = -1) -> int: ...

        def tick(self, now: float | None = None) -> None: ...

        def drain(self) -> None: ...

        def _route(self, pack: Pack) -> list[Runner] | None: ...

        def _next_deadline(self) -> float | None: ...

    def _wake(self) -> None:
        loop = self._loop
        ev = self._wakeup
        if loop is not None and ev is not None:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:
                pass

    async def run(self, *, batch: int = 64) -> None:
        """Drive the router on the running event loop until stopped.

        Routes what threaded plugins inject in slices of ``batch``
        messages, yielding to the loop between slices, and fires timers
        and reports.  Returns after :meth:`stop` or :meth:`close`, once
        everything queued was processed.
        """
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        try:
            while True:
                self._wakeup.clear()
                if self.pump(batch):
                    self.tick()
                    await asyncio.sleep(0)
                    continue
                self.tick()
                if self._stop_requested or self._closed:
                    break
                deadline = self._next_deadline()
                timeout = (
                    None
                    if deadline is None
                    else max(0.0, deadline - time.monotonic())
                )
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
            await asyncio.to_thread(self.drain)
        finally:
            self._loop = None
            self._wakeup = None

    async def ainject(self, message: Message | Pack | bytes) -> None:
        """Route one message without blocking the event loop on queues.

        Inline plugins run right here, on the loop; a full queue of a
        threaded plugin is waited for in a worker thread.  Concurrent
        callers are routed one at a time, so each plugin still sees
        messages in order.
        """
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        if self._closed:
            raise ValueError("router is closed")
        pack = to_pack(message)
        async with self._async_lock:
            with self._route_lock:
                blocked = self._route(pack)
            for r in blocked or ():
                await asyncio.to_thread(r.put_wait, pack)
            self.pump()
        self._wake()
