"""What an input runs against: streams that split, decode and route.

One :class:`InputHost` serves one input.  ``host.stream(label)`` gives a
:class:`Stream` with its own splitter; records it completes become
packs (the record itself when the splitter delivers message bytes, else
a new message whose payload is the record), go through the input's
decoder and are handed to ``route``, which routes them on the input's
thread, so a slow inline plugin slows the inputs down, as in Heka.

When the splitter cuts plain lines and the decoder can decode a block of
lines into a framed stream (``frame_lines``, as AccessLogDecoder does),
a stream hands the decoder each chunk's lines in one call and the
router the result in one ``route_framed`` call.  A line that does not
decode takes the per-record path, in its place among the others.

Everything thrown away is counted per input and reported in the log as
it happens: garbage between framed records, bad headers, failed
signatures, records over the size limit, decode failures.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from hekapy._errors import HekaError, SandboxTerminated
from hekapy._message import Field, Message
from hekapy._pack import Pack
from hekapy._wire import length_delimited, varint

LOGGED_FAILURES = 10

_DROP_COUNTERS = ("garbage_bytes", "bad_headers", "oversized", "auth_failures")


class DecoderTerminated(HekaError):
    """The input's decoder stopped for good; the input cannot go on."""


class InputHost:
    """Streams, decoding and counters for one input (see module doc)."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        make_splitter: Callable[[], Any],
        decoder: Any,
        route: Callable[[Pack], None],
        hostname: str,
        run_once: bool,
        log: logging.Logger,
        route_framed: Callable[[bytes, int], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.make_splitter = make_splitter
        self.decoder = decoder
        self.route = route
        self.route_framed = route_framed
        self.hostname = hostname
        self.run_once = run_once
        self.log = log
        self.lock = threading.Lock()
        self.decode_lock = threading.Lock()
        self._logger_field = length_delimited(4, name.encode())
        self._hostname_field = length_delimited(9, hostname.encode())
        self.counters = {
            "records": 0,
            "messages": 0,
            "decode_failures": 0,
            "garbage_bytes": 0,
            "bad_headers": 0,
            "oversized": 0,
            "auth_failures": 0,
            "streams": 0,
            "bytes": 0,
        }

    def stream(self, label: str) -> Stream:
        """A new stream (one file, connection or datagram source)."""
        with self.lock:
            self.counters["streams"] += 1
        return Stream(self, label, self.make_splitter())

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counters[key] += n

    def to_pack(self, record: bytes) -> Pack:
        if self.splitter_message_bytes:
            return Pack(bytes(record), getattr(record, "signer", None))
        return Pack(
            self._payload_message(bytes(record)),
            getattr(record, "signer", None),
        )

    def _payload_message(self, payload: bytes) -> bytes:
        """Protobuf bytes of a new message carrying ``payload``.

        Written directly, in the field order Heka's encoder uses: uuid
        (random, version 4), timestamp (now), logger (the input's
        name), payload, hostname.
        """
        u = bytearray(os.urandom(16))
        u[6] = (u[6] & 0x0F) | 0x40
        u[8] = (u[8] & 0x3F) | 0x80
        return b"".join(
            (
                b"\x0a\x10",
                u,
                b"\x10",
                varint(time.time_ns()),
                self._logger_field,
                b"\x32",
                varint(len(payload)),
                payload,
                self._hostname_field,
            )
        )

    splitter_message_bytes = False

    def handle(self, record: bytes, label: str) -> None:
        """Decode one record and route the result."""
        self.count("records")
        pack = self.to_pack(record)
        dec = self.decoder
        if dec is None:
            self.count("messages")
            self.route(pack)
            return
        try:
            with self.decode_lock:
                packs = dec.decode(pack)
        except SandboxTerminated as exc:
            self.log.error("decoder %s terminated: %s", dec.name, exc.reason)
            raise DecoderTerminated(str(exc)) from exc
        except Exception as exc:
            self.count("decode_failures")
            if self.config.get("log_decode_failures", True):
                self._log_failure(label, exc)
            if self.config.get("send_decode_failures"):
                self.route(self._failed(pack, str(exc)))
            return
        for p in packs:
            self.count("messages")
            self.route(p)

    def takes_blocks(self, splitter: Any) -> bool:
        """Whether streams cut by ``splitter`` may decode line blocks."""
        return (
            self.route_framed is not None
            and not self.splitter_message_bytes
            and hasattr(self.decoder, "frame_lines")
            and getattr(splitter, "splits_lines", False)
        )

    def handle_block(self, block: bytes, label: str, splitter: Any) -> None:
        """Decode a block of whole lines at once and route the result."""
        dec = self.decoder
        keep = bool(splitter.config.get("keep_truncated"))
        logger, hostname = self.name.encode(), self.hostname.encode()
        pos = 0
        while pos < len(block):
            with self.decode_lock:
                framed, decoded, oversized, truncated, pos, rec = (
                    dec.frame_lines(
                        block,
                        pos,
                        splitter.max_record_size,
                        keep,
                        splitter.max_message_size,
                        time.time_ns(),
                        logger,
                        hostname,
                    )
                )
            splitter.count_block(
                decoded + (rec is not None), oversized, truncated
            )
            if decoded:
                with self.lock:
                    self.counters["records"] += decoded
                    self.counters["messages"] += decoded
                assert self.route_framed is not None
                self.route_framed(framed, decoded)
            if rec is not None:
                self.handle(rec, label)

    def _log_failure(self, label: str, exc: Exception) -> None:
        n = self.counters["decode_failures"]
        if n <= LOGGED_FAILURES:
            self.log.warning("decode failure in stream %s: %s", label, exc)
        if n == LOGGED_FAILURES:
            self.log.warning(
                "further decode failures of %s are counted, not logged",
                self.name,
            )

    def _failed(self, pack: Pack, error: str) -> Pack:
        try:
            msg = pack.message
        except ValueError:
            msg = Message(
                uuid=uuid.uuid4().bytes,
                timestamp=time.time_ns(),
                logger=self.name,
                hostname=self.hostname,
                payload=pack.raw.decode("utf-8", "replace"),
            )
        msg.fields.append(Field("decode_failure", True))
        msg.fields.append(Field("decode_error", error[:500]))
        return Pack.from_message(msg, pack.signer)


class Stream:
    """One source's bytes: split, decode, route (see module doc)."""

    def __init__(self, host: InputHost, label: str, splitter: Any) -> None:
        self.host = host
        self.label = label
        self.splitter = splitter
        self._seen = dict.fromkeys(_DROP_COUNTERS, 0)
        self._blocks = host.takes_blocks(splitter)

    @property
    def pending(self) -> int:
        """Bytes held back, not yet part of a complete record."""
        return int(getattr(self.splitter, "buffered", 0))

    def feed(self, data: bytes) -> None:
        """Split ``data`` and route every record it completes."""
        self.host.count("bytes", len(data))
        if self._blocks:
            block, extra = self.splitter.take_block(data)
            if block:
                self.host.handle_block(block, self.label, self.splitter)
            for rec in extra:
                self.host.handle(rec, self.label)
        else:
            for rec in self.splitter.feed(data):
                self.host.handle(rec, self.label)
        self._report()

    def close(self) -> None:
        """End of the source: route what the splitter still delivers."""
        for rec in self.splitter.finish():
            self.host.handle(rec, self.label)
        self._report()

    def _counters(self) -> dict[str, int]:
        c = dict(getattr(self.splitter, "counters", {}))
        reader = getattr(self.splitter, "_reader", None)
        if reader is not None:
            c.update(
                {
                    k: v
                    for k, v in reader.counters.items()
                    if k in _DROP_COUNTERS
                }
            )
        return c

    def _report(self) -> None:
        now = self._counters()
        parts = []
        for key in _DROP_COUNTERS:
            delta = now.get(key, 0) - self._seen[key]
            if delta > 0:
                self._seen[key] += delta
                self.host.count(key, delta)
                parts.append(f"{delta} {key.replace('_', ' ')}")
        if parts:
            self.host.log.warning(
                "stream %s dropped %s", self.label, ", ".join(parts)
            )
