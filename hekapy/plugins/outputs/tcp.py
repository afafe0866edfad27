"""TcpOutput: framed messages to a TCP peer, buffered on disk."""

from __future__ import annotations

import os
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hekapy._errors import ConfigError, PluginExit
from hekapy._pack import Pack
from hekapy.plugins.outputs._base import EncodingOutput, Retry
from hekapy.plugins.outputs._diskqueue import Cursor, DiskQueue


def split_address(
    address: str,
    default_port: int | None = None,
) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``) as a (host, port) pair."""
    host, sep, port = address.rpartition(":")
    if not sep:
        if default_port is None:
            raise ConfigError(f"address needs a port, got {address!r}")
        host, port = address, str(default_port)
    host = host.strip("[]")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"bad port in address {address!r}")
    return host or "0.0.0.0", int(port)


def tls_context(table: Mapping[str, Any], server: bool) -> ssl.SSLContext:
    """An SSL context from Heka's ``tls`` sub-table."""
    known = {
        "cert_file",
        "key_file",
        "root_cafile",
        "client_cafile",
        "insecure_skip_verify",
        "server_name",
        "client_auth",
        "min_version",
        "max_version",
        "prefer_server_ciphers",
        "session_tickets_disabled",
        "ciphers",
    }
    extra = set(table) - known
    if extra:
        raise ConfigError(
            f"unknown config setting {sorted(extra)[0]!r} in tls"
        )
    purpose = ssl.Purpose.CLIENT_AUTH if server else ssl.Purpose.SERVER_AUTH
    ctx = ssl.create_default_context(purpose)
    cert, key = table.get("cert_file"), table.get("key_file")
    try:
        if cert:
            ctx.load_cert_chain(cert, key or None)
        ca = table.get("client_cafile" if server else "root_cafile")
        if ca:
            ctx.load_verify_locations(ca)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS files: {exc}") from exc
    if server:
        auth = table.get("client_auth", "NoClientCert")
        if auth in ("RequireAndVerifyClientCert",):
            ctx.verify_mode = ssl.CERT_REQUIRED
    elif table.get("insecure_skip_verify"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class TcpOutput(EncodingOutput):
    """Sends framed messages over TCP and reconnects when the peer goes.

    With ``use_buffering`` (the default) every record is first appended
    to a disk queue under ``<base_dir>/output_queue/<name>``; a sender
    thread sends from the queue's cursor and commits the cursor only
    once the connection is seen healthy after the send, so a peer that
    goes away and comes back, or a restart, loses nothing (a record may
    be sent twice).
    """

    prefers_thread = True
    config_schema = {
        "address": "localhost:9125",
        "local_address": "",
        "use_tls": False,
        "tls": {},
        "ticker_interval": 300,
        "reconnect_after": 0,
        "keep_alive": False,
        "keep_alive_period": 7200,
        "use_buffering": True,
        "buffering": {},
        "retries": {},
        "encoder": "",
        "use_framing": None,
        "queue_directory": "",
    }
    path_options = ("queue_directory",)

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        cfg = self.config
        self.address = split_address(cfg["address"])
        self.local = (
            split_address(cfg["local_address"], 0)
            if cfg["local_address"]
            else None
        )
        self._tls = tls_context(cfg["tls"], False) if cfg["use_tls"] else None
        self.retry = Retry(cfg["retries"])
        buf = dict(cfg["buffering"])
        extra = set(buf) - {
            "max_file_size",
            "max_buffer_size",
            "full_action",
            "cursor_update_count",
        }
        if extra:
            raise ConfigError(
                f"unknown config setting {sorted(extra)[0]!r} in buffering"
            )
        self.max_file_size = int(buf.get("max_file_size", 512 << 20))
        self.max_buffer_size = int(buf.get("max_buffer_size", 0))
        self.full_action = buf.get("full_action", "shutdown")
        if self.full_action not in ("shutdown", "drop", "block"):
            raise ConfigError(
                f"full_action must be 'shutdown', 'drop' or 'block', got "
                f"{self.full_action!r}"
            )
        self.queue: DiskQueue | None = None
        self.sock: socket.socket | None = None
        self._sent_since_connect = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dead: PluginExit | None = None
        self.counters = {
            "sent": 0,
            "dropped": 0,
            "reconnects": 0,
            "resent_after_failure": 0,
        }

    # -- connection --------------------------------------------------

    def _connect(self) -> socket.socket:
        host, port = self.address
        sock = socket.create_connection(
            (host, port), timeout=5, source_address=self.local
        )
        if self.config["keep_alive"]:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=host)
        sock.settimeout(10)
        self._sent_since_connect = 0
        return sock

    def _alive(self) -> bool:
        sock = self.sock
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return True
            if isinstance(sock, ssl.SSLSocket):
                return bool(sock.recv(4096))
            return bool(sock.recv(4096, socket.MSG_PEEK))
        except (OSError, ValueError):
            return False

    def _drop_connection(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def _ensure_connected(self) -> bool:
        """Connect, waiting per ``retries``; False when told to stop."""
        while self.sock is None:
            try:
                self.sock = self._connect()
                self.retry.reset()
                return True
            except OSError as exc:
                wait = self.retry.next_wait()
                if wait is None:
                    raise PluginExit(
                        f"cannot connect to {self.config['address']!r}: {exc}"
                    ) from exc
                if self.context is not None and self.retry.attempts == 1:
                    self.context.logger.warning(
                        "cannot connect to %s: %s; retrying",
                        self.config["address"],
                        exc,
                    )
                if self._stop.wait(wait):
                    return False
        return True

    def _send(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)
        self._sent_since_connect += 1
        after = self.config["reconnect_after"]
        if after and self._sent_since_connect >= after:
            self._drop_connection()

    # -- plugin hooks ------------------------------------------------

    def start(self, context: Any) -> None:
        super().start(context)
        if not self.config["use_buffering"]:
            return
        qdir = self.config["queue_directory"] or os.path.join(
            context.base_dir, "output_queue", re.sub(r"\W", "_", self.name)
        )
        self.queue = DiskQueue(
            Path(qdir), self.max_file_size, self.max_message_size or 65536
        )
        self._thread = threading.Thread(
            target=self._sender, name=f"{self.name}-sender", daemon=True
        )
        self._thread.start()

    def process_message(self, pack: Pack) -> None:
        data = self.encode(pack)
        if data is None:
            return
        if self.dead is not None:
            raise self.dead
        q = self.queue
        if q is None:
            while True:
                if not self._ensure_connected():
                    raise PluginExit("stopped while reconnecting")
                try:
                    self._send(data)
                    self.counters["sent"] += 1
                    return
                except OSError:
                    self._drop_connection()
        if (
            self.max_buffer_size
            and q.size() + len(data) > self.max_buffer_size
        ):
            if self.full_action == "drop":
                self.counters["dropped"] += 1
                return
            if self.full_action == "shutdown":
                raise PluginExit("disk buffer is full")
            while q.size() + len(data) > self.max_buffer_size:
                if self._stop.wait(0.05):
                    break
        q.append(data)

    def _sender(self) -> None:
        try:
            self._send_loop()
        except PluginExit as exc:
            self.dead = exc
            if self.context is not None:
                self.context.logger.error(
                    "%s; records stay queued in %s",
                    exc,
                    self.queue and self.queue.dir,
                )

    def _send_loop(self) -> None:
        q = self.queue
        assert q is not None
        acked: Cursor = q.cursor
        sent: Cursor = acked
        while not self._stop.is_set():
            if not self._ensure_connected():
                break
            if not self._alive():
                self._failed(sent, acked)
                sent = acked
                continue
            if sent != acked:
                acked = sent
                q.commit(acked)
            records, nxt = q.read(sent)
            if not records:
                if nxt != sent:
                    sent = nxt
                    continue
                with q.lock:
                    if q.empty_at(sent):
                        q.lock.wait(0.05)
                continue
            try:
                for rec in records:
                    self._send(rec)
                    self.counters["sent"] += 1
                    if self.sock is None:
                        self._ensure_connected()
                sent = nxt
            except OSError:
                self._failed(sent, acked)
                sent = acked

    def _failed(self, sent: Cursor, acked: Cursor) -> None:
        self._drop_connection()
        self.counters["reconnects"] += 1
        if sent != acked:
            self.counters["resent_after_failure"] += 1
        if self.context is not None:
            self.context.logger.warning(
                "connection to %s lost; resending from the last "
                "confirmed record",
                self.config["address"],
            )

    def pending(self) -> int:
        """Bytes queued on disk and not yet confirmed sent."""
        return self.queue.size() if self.queue is not None else 0

    def stop(self) -> None:
        """Give the sender a moment to empty the queue, then stop.

        What is still queued stays on disk for the next start.
        """
        q = self.queue
        if q is not None:
            deadline = time.monotonic() + 2.0
            while (
                time.monotonic() < deadline
                and self.sock is not None
                and q.size() > 0
            ):
                time.sleep(0.02)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if q is not None:
            q.close()
        self._drop_connection()
