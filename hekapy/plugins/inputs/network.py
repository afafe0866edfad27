"""TcpInput and UdpInput: listeners on a local address."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Mapping
from typing import Any

from hekapy._errors import ConfigError
from hekapy.plugins._api import Input
from hekapy.plugins.outputs.tcp import split_address, tls_context


def _family(net: str, host: str) -> socket.AddressFamily:
    if net.endswith("6") or (net in ("tcp", "udp") and ":" in host):
        return socket.AF_INET6
    return socket.AF_INET


class TcpInput(Input):
    """Accepts TCP (optionally TLS) connections, one stream each.

    The default splitter is HekaFramingSplitter and the default decoder
    ProtobufDecoder.  ``bound_address`` holds the address actually bound
    (useful with port 0).  A connection that sends garbage only costs
    its own stream; the listener goes on.
    """

    config_schema = {
        "address": "",
        "net": "tcp",
        "use_tls": False,
        "tls": {},
        "keep_alive": False,
        "keep_alive_period": 7200,
        "splitter": "HekaFramingSplitter",
        "decoder": "ProtobufDecoder",
    }

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        cfg = self.config
        if cfg["net"] not in ("tcp", "tcp4", "tcp6", "unix"):
            raise ConfigError(
                f"net must be tcp, tcp4, tcp6 or unix, got {cfg['net']!r}"
            )
        if not cfg["address"]:
            raise ConfigError("'address' is required")
        if cfg["net"] != "unix":
            self.address = split_address(cfg["address"])
        self._tls = tls_context(cfg["tls"], True) if cfg["use_tls"] else None
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.bound_address: Any = None
        self.connections = 0

    def _listen(self) -> socket.socket:
        cfg = self.config
        if cfg["net"] == "unix":
            path = cfg["address"]
            if os.path.exists(path):
                os.unlink(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
        else:
            host, port = self.address
            sock = socket.socket(_family(cfg["net"], host), socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        sock.listen(64)
        sock.settimeout(0.2)
        return sock

    def start(self, context: Any) -> None:
        super().start(context)
        self._sock = self._listen()
        self.bound_address = self._sock.getsockname()
        context.logger.info("listening on %s", _show(self.bound_address))

    def run(self, host: Any) -> None:
        if self._sock is None:
            raise RuntimeError("run() before start()")
        workers: list[threading.Thread] = []
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self.connections += 1
            t = threading.Thread(
                target=self._serve,
                args=(conn, peer, host),
                name=f"{self.name}-conn",
                daemon=True,
            )
            t.start()
            workers.append(t)
            workers = [w for w in workers if w.is_alive()]
        for t in workers:
            t.join(5)
        self._sock.close()

    def _serve(self, conn: socket.socket, peer: Any, host: Any) -> None:
        if self.config["keep_alive"]:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        try:
            if self._tls is not None:
                conn.settimeout(10)
                conn = self._tls.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            if self.context is not None:
                self.context.logger.warning(
                    "TLS handshake with %s failed: %s", _show(peer), exc
                )
            conn.close()
            return
        conn.settimeout(0.2)
        with self._lock:
            self._conns.add(conn)
        stream = host.stream(_show(peer))
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                stream.feed(data)
        finally:
            stream.close()
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def stop(self) -> None:
        self._stop.set()


def _show(addr: Any) -> str:
    if isinstance(addr, tuple):
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


class UdpInput(Input):
    """Receives datagrams; each is split on its own.

    ``net`` is "udp", "udp4", "udp6" or "unixgram".  The default
    splitter is NullSplitter (one datagram, one record).
    """

    config_schema = {"address": "", "net": "udp", "splitter": "NullSplitter"}

    def __init__(
        self, name: str, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, config)
        cfg = self.config
        if cfg["net"] not in ("udp", "udp4", "udp6", "unixgram"):
            raise ConfigError(
                f"net must be udp, udp4, udp6 or unixgram, got {cfg['net']!r}"
            )
        if not cfg["address"]:
            raise ConfigError("'address' is required")
        if cfg["net"] != "unixgram":
            self.address = split_address(cfg["address"])
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self.bound_address: Any = None
        self.datagrams = 0

    def start(self, context: Any) -> None:
        super().start(context)
        cfg = self.config
        if cfg["net"] == "unixgram":
            if os.path.exists(cfg["address"]):
                os.unlink(cfg["address"])
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(cfg["address"])
        else:
            host, port = self.address
            sock = socket.socket(_family(cfg["net"], host), socket.SOCK_DGRAM)
            sock.bind((host, port))
        sock.settimeout(0.2)
        self._sock = sock
        self.bound_address = sock.getsockname()
        context.logger.info("listening on %s", _show(self.bound_address))

    def run(self, host: Any) -> None:
        if self._sock is None:
            raise RuntimeError("run() before start()")
        stream = host.stream(self.name)
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            self.datagrams += 1
            stream.feed(data)
            stream.close()
        self._sock.close()

    def stop(self) -> None:
        self._stop.set()
