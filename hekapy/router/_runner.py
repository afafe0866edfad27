"""One filter or output inside the router: its queue, worker and counters.

Who runs the plugin depends on ``threaded``:

* an inline runner has no queue: the router hands it each pack with
  :meth:`Runner.process` on the thread that routes (the caller of
  ``inject``/``feed``, or the event loop under asyncio), so its
  back-pressure is immediate;
* a threaded runner owns a bounded FIFO and a worker thread that takes
  packs from it in order, so a plugin whose hook releases the GIL (Lua
  through lupa, blocking IO) runs while the router goes on routing.

When a threaded runner's queue is full, ``on_full="block"`` makes the
router wait for the plugin and counts the time as ``wait_ns``;
``on_full="drop"`` throws the pack away and counts it in ``dropped``.
A disk-spilling policy would plug in at :meth:`Runner.try_put` /
:meth:`Runner.put_wait`: they are the only places that decide what
happens to a pack the queue cannot take.

An inline runner whose plugin offers ``direct_target()`` and that has
no ``message_signer`` keeps what it returns in ``direct``, and the
router's compiled loop serves the plugin itself, counting there:

* a Lua sandbox filter gives a DirectCall: the loop calls the script;
  failures come back through :meth:`Runner._direct_outcome`;
* a FileOutput writing framed protobuf gives a FrameSink: the loop
  appends framed records to it and the router hands the block to the
  plugin (:meth:`Runner.flush_sink`) when the chunk is done.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from hekapy._errors import PluginExit, PluginFailure, SandboxTerminated
from hekapy._impl import impl
from hekapy._pack import Pack

if TYPE_CHECKING:
    from hekapy.router._router import Router

log = logging.getLogger("hekapy.router")

_STOP = object()
_FrameSink: Any = getattr(impl, "FrameSink", type(None))

# Time one process_message call in this many (timing every call would
# cost more than a cheap plugin itself).
TIME_EVERY = 8
_perf_ns = time.perf_counter_ns


class Runner:
    """The router's handle on one filter or output (see module doc)."""

    __slots__ = (
        "_busy",
        "_process_message",
        "_queue",
        "_thread",
        "capacity",
        "current",
        "direct",
        "sink",
        "dropped",
        "failed",
        "final_timer",
        "injected",
        "kind",
        "matched",
        "matcher",
        "name",
        "next_timer",
        "on_full",
        "plugin",
        "process_ns",
        "processed",
        "router",
        "signer",
        "state",
        "threaded",
        "ticker_interval",
        "timed",
        "timer_events",
        "timer_failures",
        "wait_ns",
    )

    def __init__(
        self,
        router: Router,
        plugin: Any,
        kind: str,
        matcher: Any,
        signer: str | None,
        ticker_interval: float,
        queue_size: int,
        on_full: str,
        threaded: bool,
    ) -> None:
        if on_full not in ("block", "drop"):
            raise ValueError(
                f"on_full must be 'block' or 'drop', got {on_full!r}"
            )
        if queue_size < 1:
            raise ValueError(
                f"queue_size must be at least 1, got {queue_size!r}"
            )
        self.router = router
        self.plugin = plugin
        self.name: str = plugin.name
        self.kind = kind
        self.matcher = matcher
        self.signer = signer
        self.ticker_interval = ticker_interval
        self.capacity = queue_size
        self.on_full = on_full
        self.threaded = threaded
        self.final_timer = False
        self.state = "new"
        self.current: Pack | None = None
        self.matched = self.processed = self.failed = 0
        self.injected = self.dropped = 0
        self.wait_ns = self.process_ns = self.timed = 0
        self._process_message = plugin.process_message
        self.timer_events = self.timer_failures = 0
        self.next_timer = (
            time.monotonic() + ticker_interval if ticker_interval > 0 else None
        )
        self._queue: queue.Queue[Any] | None = (
            queue.Queue(queue_size) if threaded else None
        )
        self._thread: threading.Thread | None = None
        self._busy = False
        self.direct: Any = None
        self.sink = False

    # -- queue -----------------------------------------------------------

    def queue_length(self) -> int:
        q = self._queue
        return 0 if q is None else q.qsize()

    def try_put(self, pack: Pack) -> bool:
        """Queue ``pack`` if there is room or the policy drops it.

        False means the router must wait (:meth:`put_wait`).  Only for
        threaded runners; the router hands inline ones each pack with
        :meth:`process`.
        """
        q = self._queue
        assert q is not None
        try:
            q.put_nowait(pack)
            return True
        except queue.Full:
            if self.on_full == "drop":
                self.dropped += 1
                return True
            return False

    def put_wait(self, pack: Pack) -> None:
        """Wait until the queue takes ``pack``; count the time waited."""
        q = self._queue
        assert q is not None
        t0 = _perf_ns()
        self.router.blocked_on = self.name
        try:
            if self.state == "running":
                q.put(pack)
            else:
                self.dropped += 1
        finally:
            self.router.blocked_on = None
            self.wait_ns += _perf_ns() - t0

    def has_work(self) -> bool:
        q = self._queue
        return q is not None and q.unfinished_tasks > 0

    # -- running the plugin ------------------------------------------------

    def start(self, context: Any) -> None:
        """Start the plugin, and the worker thread of a threaded runner."""
        self.plugin.start(context)
        self.state = "running"
        make = getattr(self.plugin, "direct_target", None)
        if make is not None and not self.threaded and self.signer is None:
            d = make()
            if d is not None:
                self.sink = isinstance(d, _FrameSink)
                d.on_outcome = (
                    self._sink_fallback if self.sink else self._direct_outcome
                )
                self.direct = d
        if self._queue is not None:
            self._thread = threading.Thread(
                target=self._work, name=f"hekapy-{self.name}", daemon=True
            )
            self._thread.start()

    def process(self, pack: Pack) -> None:
        """Hand one pack to the plugin; a failure never escapes.

        One call in ``TIME_EVERY`` is timed for ``avg_process_ns``.
        """
        if self.state != "running":
            self.dropped += 1
            return
        self.current = pack
        n = self.processed = self.processed + 1
        if n % TIME_EVERY != 1:
            self._call(pack)
        else:
            t0 = _perf_ns()
            self._call(pack)
            self.process_ns += _perf_ns() - t0
            self.timed += 1
        self.current = None

    def _call(self, pack: Pack) -> None:
        try:
            self._process_message(pack)
        except Exception as exc:
            self._failed(exc)

    def _direct_outcome(self, r: Any, err: Any) -> None:
        try:
            self.plugin._direct_outcome(r, err)
        except Exception as exc:
            self._failed(exc)

    def _sink_fallback(self, raw: bytes, view: Any) -> None:
        # A record the FrameSink would not frame: the plugin's own path.
        self.matched += 1
        self.process(Pack(raw, None, 0, view))

    def flush_sink(self) -> None:
        """Hand what the FrameSink collected to ``plugin.write_frames``."""
        data, n = self.direct.take()
        if not n:
            return
        try:
            self.plugin.write_frames(data, n)
        except Exception as exc:
            self.failed += n - 1
            self._failed(exc, "write_frames")

    def _failed(self, exc: Exception,
                hook: str = "process_message") -> None:
        self.failed += 1
        if isinstance(exc, PluginFailure):
            log.debug("%s: %s failed: %s", self.name, hook, exc)
        elif isinstance(exc, (SandboxTerminated, PluginExit)):
            self.router._terminated(self, exc)
        else:
            log.error("%s: %s raised", self.name, hook, exc_info=exc)

    def fire_timer(self, now: float | None = None) -> None:
        """Call the plugin's ``timer_event`` and schedule the next one."""
        if self.state != "running":
            return
        now = time.monotonic() if now is None else now
        self.next_timer = now + self.ticker_interval
        self.timer_events += 1
        try:
            self.plugin.timer_event(time.time_ns())
        except PluginFailure as exc:
            self.timer_failures += 1
            log.debug("%s: timer_event failed: %s", self.name, exc)
        except (SandboxTerminated, PluginExit) as exc:
            self.timer_failures += 1
            self.router._terminated(self, exc)
        except Exception:
            self.timer_failures += 1
            log.exception("%s: timer_event raised", self.name)

    def _work(self) -> None:
        q = self._queue
        assert q is not None
        while True:
            timeout = None
            if self.next_timer is not None:
                timeout = max(0.0, self.next_timer - time.monotonic())
            try:
                item = q.get(timeout=timeout)
            except queue.Empty:
                self.fire_timer()
                if self.state == "terminated":
                    return
                continue
            if item is _STOP:
                q.task_done()
                return
            self._busy = True
            self.process(item)
            self._busy = False
            q.task_done()
            if self.state == "terminated":
                return

    def join_queue(self) -> None:
        """Wait until a threaded runner has processed everything queued."""
        if self._queue is not None and self.state == "running":
            self._queue.join()

    def stop(self, final_timer: bool) -> None:
        """Stop the worker (after its queue), then the plugin."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self.state == "running":
            if final_timer:
                self.fire_timer()
            self.state = "stopped"
            self.retire_direct()
            try:
                self.plugin.stop()
            except Exception:
                log.exception("%s: stop raised", self.name)

    def retire_direct(self) -> None:
        """Stop the compiled loop from serving this plugin.

        What a FrameSink already holds stays there for the plugin's own
        stop to write.
        """
        d = self.direct
        if d is not None:
            d.active = False

    def discard_queue(self) -> int:
        """Drop every queued pack (after a termination); return the count."""
        n = 0
        q = self._queue
        while q is not None:
            try:
                item = q.get_nowait()
            except queue.Empty:
                break
            q.task_done()
            if item is _STOP:
                q.put_nowait(_STOP)
                break
            n += 1
        self.dropped += n
        return n

    def stats(self) -> dict[str, Any]:
        """This runner's counters as plain values."""
        n, matched = self.processed, self.matched
        timed, process_ns = self.timed, self.process_ns
        d = self.direct
        if d is not None:
            n += d.calls
            matched += d.calls
            timed += d.timed
            process_ns += d.process_ns
        return {
            "kind": self.kind,
            "state": self.state,
            "threaded": self.threaded,
            "matcher": getattr(self.matcher, "expression", None),
            "matched": matched,
            "processed": n,
            "failed": self.failed,
            "injected": self.injected,
            "dropped": self.dropped,
            "queue_length": self.queue_length(),
            "queue_capacity": self.capacity if self.threaded else 0,
            "on_full": self.on_full,
            "wait_seconds": self.wait_ns / 1e9,
            "avg_process_ns": process_ns // timed if timed else 0,
            "timer_events": self.timer_events,
            "timer_failures": self.timer_failures,
        }
