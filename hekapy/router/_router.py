"""The in-process router: plugins, routing, injection, shutdown.

Routing one message:

1. the message becomes a :class:`hekapy.Pack` (raw bytes, lazy view);
2. the match table evaluates every plugin's matcher once, through one
   ``MatcherSet`` (filters first, then outputs, in the order added);
3. for each selected plugin whose ``message_signer`` (if any) equals
   the pack's signer, the pack is appended to that plugin's bounded
   queue; a full queue makes the router wait for that plugin (or drop,
   when the plugin says so), and the time waited is counted.

Messages injected by plugins are checked at once (loop count, circular
reference) and queued on the router; they are routed by the thread that
drives the router, never from inside a plugin's hook, so a plugin that
injects while the router waits on it cannot deadlock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from functools import partial
from typing import Any

from hekapy._errors import DecodeError, InjectError, SandboxTerminated
from hekapy._impl import MessageView, StreamReader, impl
from hekapy._message import Message
from hekapy._pack import Pack, to_pack
from hekapy.plugins._api import PluginContext
from hekapy.router._aio import AsyncDriver
from hekapy.router._matching import MatchTable, compile_matcher
from hekapy.router._report import (
    build_report,
    report_message,
    terminated_message,
)
from hekapy.router._runner import Runner

log = logging.getLogger("hekapy.router")

_route_chunk: Any = getattr(impl, "route_chunk", None)
if _route_chunk is None:
    from hekapy._purepath._router import route_chunk as _route_chunk

_TICK_EVERY = 256
_DROPS = ("garbage_bytes", "bad_headers", "oversized", "auth_failures")


class Router(AsyncDriver):
    """An embeddable Heka router: filters and outputs fed by matchers.

    Parameters
    ----------
    max_message_loops:
        How many times a message may be re-injected by filters; one more
        raises :class:`hekapy.InjectError` in the injecting plugin.
        0 counts as 1, as in Heka.
    queue_size:
        Default capacity of each threaded plugin's queue (Heka's
        ``plugin_chansize``).
    matcher_dialect:
        Default dialect of ``message_matcher`` expressions.
    hostname, pid:
        Stamped on the messages the router makes (reports,
        terminations) and handed to plugins.
    report_interval:
        Seconds between ``heka.all-report`` messages routed by the
        router itself; 0 sends none (see :meth:`send_report`).
    signers, max_message_size:
        Used by :meth:`feed` to read framed streams.
    base_dir:
        Handed to plugins as the place to keep state.

    Notes
    -----
    Synchronous use: :meth:`inject` (or :meth:`feed`) routes messages;
    plugins added with ``threaded=False`` run on the caller's thread as
    each message reaches them, threaded ones on their own worker;
    :meth:`drain` waits until everything is processed and :meth:`close`
    drains and stops everything.  Under asyncio, ``await router.run()``
    routes what threaded plugins inject, fires timers and reports on
    the caller's loop until :meth:`close` (or :meth:`stop`) is called,
    and ``await router.ainject(msg)`` routes without blocking the loop
    on a full queue.
    """

    def __init__(
        self,
        *,
        max_message_loops: int = 4,
        queue_size: int = 30,
        matcher_dialect: str = "heka",
        hostname: str | None = None,
        pid: int | None = None,
        report_interval: float = 0.0,
        signers: Iterable[Any] = (),
        max_message_size: int = 65536,
        base_dir: str = ".",
    ) -> None:
        self.max_message_loops = max(1, int(max_message_loops))
        self.queue_size = queue_size
        self.matcher_dialect = matcher_dialect
        self.hostname = socket.gethostname() if hostname is None else hostname
        self.pid = os.getpid() if pid is None else pid
        self.report_interval = report_interval
        self.base_dir = base_dir
        self.blocked_on: str | None = None
        self.routed = self.injected = self.decode_failures = 0
        self.terminations: list[dict[str, Any]] = []
        self._filters: list[Runner] = []
        self._outputs: list[Runner] = []
        self._by_name: dict[str, Runner] = {}
        self._dead: list[Runner] = []
        self._table = MatchTable(())
        self._pending: deque[Pack] = deque()
        self._lock = threading.RLock()
        self._route_lock = threading.RLock()
        self._closed = False
        self._stop_requested = False
        self._wakeup: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._async_lock: asyncio.Lock | None = None
        self._countdown = _TICK_EVERY
        self._next_report = (
            time.monotonic() + report_interval if report_interval > 0 else None
        )
        self._reader = StreamReader(
            max_message_size=max_message_size, signers=tuple(signers)
        )
        self._view = MessageView(b"")
        self._last_pack: Pack | None = None
        self.started = time.time()

    # -- plugins -----------------------------------------------------------

    def add_filter(
        self,
        plugin: Any,
        message_matcher: str,
        **options: Any,
    ) -> None:
        """Add a filter; see :meth:`add_output` for the options."""
        self._add(plugin, "filter", message_matcher, **options)

    def add_output(
        self,
        plugin: Any,
        message_matcher: str,
        *,
        matcher_dialect: str | None = None,
        message_signer: str | None = None,
        ticker_interval: float = 0,
        queue_size: int | None = None,
        on_full: str = "block",
        threaded: bool = False,
        timer_event_on_shutdown: bool = False,
    ) -> None:
        """Add an output (or, through :meth:`add_filter`, a filter).

        Parameters
        ----------
        plugin:
            A started-on-add plugin object with ``name``,
            ``start(context)``, ``process_message(pack)``,
            ``timer_event(ns)`` and ``stop()`` (see
            :class:`hekapy.plugins.Filter`).
        message_matcher:
            Which messages the plugin receives.
        matcher_dialect:
            ``"heka"`` or ``"lua_sandbox"``; the router's default
            otherwise.
        message_signer:
            Only messages whose verified signer has this name are
            delivered.
        ticker_interval:
            Seconds between ``timer_event`` calls; 0 for none.
        threaded:
            Run the plugin on its own worker thread, fed by a bounded
            queue.  Otherwise the plugin runs on the routing thread as
            each message is routed (no queue).
        queue_size:
            Capacity of a threaded plugin's queue.
        on_full:
            What the router does when a threaded plugin's queue is full:
            ``"block"`` waits for the plugin (Heka's behaviour) and
            counts the time waited; ``"drop"`` drops the message and
            counts it.
        timer_event_on_shutdown:
            Call ``timer_event`` once more when the plugin stops.

        Raises
        ------
        ValueError
            When a plugin of that name exists or an option is invalid.
        hekapy.MatcherSyntaxError
            When the matcher does not parse.
        """
        self._add(
            plugin,
            "output",
            message_matcher,
            matcher_dialect=matcher_dialect,
            message_signer=message_signer,
            ticker_interval=ticker_interval,
            queue_size=queue_size,
            on_full=on_full,
            threaded=threaded,
            timer_event_on_shutdown=timer_event_on_shutdown,
        )

    def _add(
        self,
        plugin: Any,
        kind: str,
        message_matcher: str,
        *,
        matcher_dialect: str | None = None,
        message_signer: str | None = None,
        ticker_interval: float = 0,
        queue_size: int | None = None,
        on_full: str = "block",
        threaded: bool = False,
        timer_event_on_shutdown: bool = False,
    ) -> None:
        if self._closed:
            raise ValueError("router is closed")
        name = plugin.name
        if name in self._by_name:
            raise ValueError(f"a plugin named {name!r} is already routed")
        matcher = compile_matcher(
            message_matcher, matcher_dialect or self.matcher_dialect
        )
        runner = Runner(
            self,
            plugin,
            kind,
            matcher,
            message_signer,
            float(ticker_interval or 0),
            queue_size or self.queue_size,
            on_full,
            threaded,
        )
        runner.final_timer = bool(timer_event_on_shutdown)
        context = PluginContext(
            name,
            lambda m: self._inject_from(runner, m),
            hostname=self.hostname,
            pid=self.pid,
            base_dir=self.base_dir,
        )
        runner.start(context)
        with self._lock:
            self._by_name[name] = runner
            (self._filters if kind == "filter" else self._outputs).append(
                runner
            )
            self._rebuild()

    def remove(self, name: str, *, drain: bool = True) -> None:
        """Stop routing to plugin ``name`` and stop it.

        With ``drain`` the messages already queued for it are processed
        first (and its final timer fires if configured); otherwise they
        are dropped and counted.

        Raises
        ------
        KeyError
            When no plugin has that name.

        Notes
        -----
        Call it from outside the plugins' hooks: it waits until no
        message is being routed, so an inline plugin is never stopped
        while it handles one.
        """
        with self._route_lock:
            runner = self._detach(name)
            if not drain:
                runner.discard_queue()
            if not runner.threaded:
                runner.stop(drain and runner.final_timer)
                self._route_pending()
                return
        runner.stop(drain and runner.final_timer)

    def _detach(self, name: str) -> Runner:
        with self._lock:
            runner = self._by_name.pop(name)
            group = self._filters if runner.kind == "filter" else self._outputs
            group.remove(runner)
            self._rebuild()
        return runner

    def _rebuild(self) -> None:
        self._table = MatchTable(self._filters + self._outputs)

    @property
    def plugins(self) -> list[str]:
        """Names of the routed plugins, in routing order."""
        return [r.name for r in self._table.runners]

    def plugin(self, name: str) -> Any:
        """The plugin object routed as ``name`` (KeyError if none)."""
        return self._by_name[name].plugin

    # -- routing ----------------------------------------------------------

    def inject(self, message: Message | Pack | bytes) -> None:
        """Route one message, waiting for full queues as configured.

        Accepts a :class:`hekapy.Message`, a :class:`hekapy.Pack` or
        protobuf bytes.  Messages plugins injected meanwhile are routed
        too; due timers and reports fire every few hundred calls.

        Raises
        ------
        ValueError
            After :meth:`close`.
        """
        if self._closed:
            raise ValueError("router is closed")
        pack = to_pack(message)
        with self._route_lock:
            self._route_wait(pack)
            if self._pending:
                self._route_pending()
            self._countdown -= 1
            if self._countdown <= 0:
                self._countdown = _TICK_EVERY
                self.tick()

    def feed(self, data: bytes) -> int:
        """Route every complete record of a Heka framed stream chunk.

        Records keep their verified signer (see ``signers``); bytes of
        an incomplete record are kept for the next call.  Each record is
        indexed in place and copied only when some plugin wants it.
        With the compiled fast path, inline Lua sandbox filters are
        called and FileOutputs fed without Python in between (see
        docs/router.md).  What cannot be routed is counted in
        ``report()["router"]["framing"]``.  Returns the number of
        records read.

        Raises
        ------
        ValueError
            After :meth:`close`.
        """
        if self._closed:
            raise ValueError("router is closed")
        with self._route_lock:
            table = self._table
            drops = self._framing_drops()
            try:
                n: int = _route_chunk(
                    self._reader,
                    data,
                    self._view,
                    table.matcher_set,
                    partial(self._deliver, table.runners),
                    self._reject,
                    table.direct,
                    self._pending,
                )
            finally:
                self._last_pack = None
                for r in table.sinks:
                    r.flush_sink()
                self._report_drops(drops)
            self.routed += n
            if self._pending:
                self._route_pending()
            self._countdown -= n
            if self._countdown <= 0:
                self._countdown = _TICK_EVERY
                self.tick()
            return n

    def _reject(self, exc: DecodeError) -> None:
        self.decode_failures += 1
        log.warning("message dropped, it does not decode: %s", exc)

    def _framing_drops(self) -> tuple[int, ...]:
        c = self._reader.counters
        return tuple(c[k] for k in _DROPS)

    def _report_drops(self, before: tuple[int, ...]) -> None:
        # What feed's framing threw away, said as it happens (counted in
        # report()["router"]["framing"]).
        now = self._framing_drops()
        parts = [f"{n - b} {k.replace('_', ' ')}"
                 for k, n, b in zip(_DROPS, now, before, strict=True)
                 if n > b]
        if parts:
            log.warning("feed dropped %s", ", ".join(parts))

    def _deliver(
        self,
        runners: tuple[Runner, ...],
        raw: bytes,
        signer: str | None,
        hits: list[int],
        view: MessageView | None = None,
        flush: bool = True,
    ) -> None:
        # The body of _put, inlined: this runs for every wanted record.
        # ``flush`` False leaves injected messages queued: the compiled
        # loop has more plugins to serve this record first, and calls
        # again with the same bytes, which get the same Pack.
        pack = self._last_pack
        if pack is None or pack.raw is not raw:
            pack = self._last_pack = Pack(raw, signer, 0, view)
        blocked = None
        for i in hits:
            r = runners[i]
            if r.state != "running" or (
                r.signer is not None and r.signer != signer
            ):
                continue
            r.matched += 1
            if not r.threaded:
                r.process(pack)
            elif not r.try_put(pack):
                if blocked is None:
                    blocked = [r]
                else:
                    blocked.append(r)
        if blocked:
            for r in blocked:
                r.put_wait(pack)
        if flush and self._pending:
            self._route_pending()

    def _route(self, pack: Pack) -> list[Runner] | None:
        table = self._table
        self.routed += 1
        try:
            hits = table.hits(pack.view)
        except DecodeError as exc:
            self.decode_failures += 1
            log.warning("message dropped, it does not decode: %s", exc)
            return None
        return self._put(pack, hits, table.runners)

    def _put(
        self, pack: Pack, hits: Iterable[int], runners: tuple[Runner, ...]
    ) -> list[Runner] | None:
        blocked = None
        for i in hits:
            r = runners[i]
            if r.state != "running" or (
                r.signer is not None and r.signer != pack.signer
            ):
                continue
            r.matched += 1
            if not r.threaded:
                r.process(pack)
            elif not r.try_put(pack):
                if blocked is None:
                    blocked = [r]
                else:
                    blocked.append(r)
        return blocked

    def _route_wait(self, pack: Pack) -> None:
        blocked = self._route(pack)
        if blocked:
            for r in blocked:
                r.put_wait(pack)

    def _route_pending(self) -> None:
        pending = self._pending
        while pending:
            self._route_wait(pending.popleft())

    def _inject_from(
        self, runner: Runner, message: Message | Pack | bytes
    ) -> None:
        parent = runner.current
        loops = (parent.loop_count if parent is not None else 0) + 1
        if isinstance(message, Pack):
            # a new pack: the one given may still be on its way elsewhere
            pack = Pack(message.raw, None, loops)
        else:
            pack = to_pack(message, loops)
        if loops > self.max_message_loops:
            raise InjectError(
                f"exceeded MaxMsgLoops: loop count {loops!r} is over "
                f"max_message_loops {self.max_message_loops!r} in plugin "
                f"{runner.name!r}"
            )
        if runner.kind == "filter" and runner.matcher.matches(pack.view):
            raise InjectError(
                "creates a circular reference (matches this plugin's "
                f"message_matcher {runner.matcher.expression!r}) in "
                f"plugin {runner.name!r}"
            )
        runner.injected += 1
        self.injected += 1
        self._pending.append(pack)
        self._wake()

    # -- driving ---------------------------------------------------------

    def _runners(self) -> tuple[Runner, ...]:
        return self._table.runners

    def pump(self, limit: int = -1) -> int:
        """Route up to ``limit`` injected messages (all when negative).

        Returns how many were routed.
        """
        pending = self._pending
        done = 0
        with self._route_lock:
            while pending and done != limit:
                self._route_wait(pending.popleft())
                done += 1
        return done

    def drain(self) -> None:
        """Process everything queued, including what that injects.

        Returns when no plugin has work left and nothing waits to be
        routed.  Threaded plugins are waited for.
        """
        while True:
            self.pump()
            for r in self._runners():
                if r.threaded:
                    r.join_queue()
            if not self._pending and not any(
                r.has_work() for r in self._runners()
            ):
                return

    def tick(self, now: float | None = None) -> None:
        """Fire the inline plugins' due timers and a due report.

        Threaded plugins keep their own time.
        """
        with self._route_lock:
            self._tick(time.monotonic() if now is None else now)

    def _tick(self, now: float) -> None:
        for r in self._runners():
            if (
                not r.threaded
                and r.next_timer is not None
                and r.next_timer <= now
            ):
                r.fire_timer(now)
        nr = self._next_report
        if nr is not None and nr <= now:
            self._next_report = now + self.report_interval
            self.send_report()
        if self._pending:
            self._route_pending()

    def _next_deadline(self) -> float | None:
        times = [
            r.next_timer
            for r in self._runners()
            if not r.threaded and r.next_timer is not None
        ]
        if self._next_report is not None:
            times.append(self._next_report)
        return min(times) if times else None

    def close(self) -> None:
        """Drain, stop every plugin (filters first), then refuse work.

        Final timers fire for plugins added with
        ``timer_event_on_shutdown``; what they inject is still routed
        to the plugins not yet stopped.  The stopped plugins stay in
        :meth:`report` (state ``"stopped"``).
        """
        if self._closed:
            return
        self._stop_requested = True
        self.drain()
        left = self._reader.buffered
        if left:
            log.warning(
                "%d bytes of an unfinished record fed to the router were "
                "dropped at close",
                left,
            )
        with self._route_lock:
            for r in self._runners():
                r.stop(r.final_timer)
                self._route_pending()
            self._closed = True
        self._wake()

    def stop(self) -> None:
        """Ask a running :meth:`run` to return (after draining)."""
        self._stop_requested = True
        self._wake()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- self-report -----------------------------------------------------

    def report(self) -> dict[str, Any]:
        """Counters of the router and of every plugin, as plain values.

        ``report()["plugins"][name]`` holds ``matched``, ``processed``,
        ``failed``, ``injected``, ``dropped``, ``queue_length``,
        ``queue_capacity``, ``wait_seconds`` (time the router spent
        waiting for this plugin's queue), ``avg_process_ns`` and the
        plugin's own ``stats`` when it has any; plugins that terminated
        stay listed with ``state`` ``"terminated"``.
        ``report()["router"]`` holds the totals and ``blocked_on``: the
        plugin the router is waiting for right now, or None.
        """
        return build_report(self, self._runners() + tuple(self._dead))

    def report_message(self) -> Message:
        """The report as a ``heka.all-report`` message (JSON payload)."""
        return report_message(self.report(), self.hostname, self.pid)

    def send_report(self) -> None:
        """Route a ``heka.all-report`` message now."""
        self._pending.append(Pack.from_message(self.report_message()))

    def _terminated(self, runner: Runner, exc: BaseException) -> None:
        """A plugin stopped for good: unroute it, announce it."""
        sandbox = isinstance(exc, SandboxTerminated)
        reason = str(getattr(exc, "reason", exc))
        with self._lock:
            if self._by_name.get(runner.name) is runner:
                self._detach(runner.name)
            self._dead.append(runner)
        runner.state = "terminated"
        runner.retire_direct()
        lost = runner.discard_queue()
        log.error(
            "%s terminated (%d queued messages dropped): %s",
            runner.name,
            lost,
            reason,
        )
        self.terminations.append(
            {
                "name": runner.name,
                "reason": reason,
                "dropped": lost,
                "time": time.time(),
            }
        )
        msg = terminated_message(
            runner.name,
            type(runner.plugin).__name__,
            reason,
            sandbox,
            self.hostname,
            self.pid,
        )
        self._pending.append(Pack.from_message(msg))
        self._wake()
        try:
            runner.plugin.stop()
        except Exception:
            log.exception("%s: stop raised", runner.name)
