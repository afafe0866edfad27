"""Turn a :class:`~hekapy.daemon.config.Config` into running plugins.

Threads of a running daemon:

* one per input, running ``input.run(host)``; records are split,
  decoded and routed on that thread (``Router.inject`` serialises the
  inputs), so a busy filter or output slows the inputs down, as in Heka;
  filters and outputs without their own thread run there too;
* filters and outputs with ``threaded = true`` (the default for network
  outputs) have a worker and a bounded queue of ``plugin_chansize``;
* the service thread: routes what threaded plugins injected, fires the
  timers of inline plugins, and carries out reload and report requests
  made by signals.

Shutdown (a signal, or every input finished under ``--run-once``):
inputs are stopped and joined, then the router drains and stops the
filters (final timers fire where configured, sandbox state is
preserved) and the outputs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hekapy._errors import ConfigError
from hekapy.daemon.config import Config, ConfigErrors, PluginSpec
from hekapy.daemon.host import DecoderTerminated, InputHost
from hekapy.plugins._api import PluginContext

log = logging.getLogger("hekapy.daemon")

# The end of a location naming a configuration section: "... [name]".
_SECTION = re.compile(r" \[[^\]]*\]\Z")

_FO_KEYS = (
    "message_matcher",
    "matcher_dialect",
    "message_signer",
    "ticker_interval",
)


def _instance(spec: PluginSpec, name: str | None = None) -> Any:
    return spec.cls(name or spec.name, dict(spec.config))


def _at(exc: ConfigError, spec: PluginSpec) -> ConfigError:
    """``exc`` said at ``spec``'s section, unless it names a section.

    A plugin names itself its own way ("sandbox 'x'"); in the daemon
    the file and section say more.
    """
    if _SECTION.search(exc.where):
        return exc
    return ConfigError(exc.what, spec.where)


@contextmanager
def _located(spec: PluginSpec) -> Iterator[None]:
    """Report a plugin's own mistakes at its section, not its user's."""
    try:
        yield
    except ConfigError as exc:
        raise _at(exc, spec) from None
    except (ValueError, TypeError, OSError) as exc:
        raise ConfigError(str(exc), spec.where) from None


def _no_inject(message: Any) -> None:
    raise ConfigError("this plugin may not inject messages")


@dataclass
class _InputRun:
    spec: PluginSpec
    plugin: Any
    host: InputHost
    thread: threading.Thread | None = None
    error: str = ""


@dataclass
class Pipeline:
    """Every plugin of a configuration, wired to one router."""

    config: Config
    run_once: bool = False
    inputs: list[_InputRun] = field(default_factory=list)
    router: Any = None
    exit_code: int = 0

    def __post_init__(self) -> None:
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.report_requested = threading.Event()
        self.inputs_finished = threading.Event()
        self.routed = 0
        self.started = time.time()
        self._router_thread: threading.Thread | None = None
        self._routed_names: set[str] = set()
        self.routed_plugins: dict[str, Any] = {}
        self.terminated: list[str] = []

    # -- building ----------------------------------------------------

    def _context(self, name: str, inject: Any = None) -> PluginContext:
        g = self.config.globals
        return PluginContext(
            name,
            inject or _no_inject,
            hostname=g["hostname"],
            pid=os.getpid(),
            base_dir=g["base_dir"],
        )

    def make_decoder(self, ref: str, owner: str) -> Any:
        """A started decoder instance (sub-decoders attached) or None.

        Raises
        ------
        hekapy.ConfigError
            Located at the decoder's own section.
        """
        if not ref:
            return None
        spec = self.config.plugins[ref]
        with _located(spec):
            dec = _instance(spec, f"{owner}-{ref}")
        if spec.type == "MultiDecoder":
            dec.sub_decoders = [
                self.make_decoder(s, owner) for s in spec.config["subs"]
            ]
        with _located(spec):
            dec.start(self._context(dec.name, self.route))
        return dec

    def make_encoder(self, ref: str, owner: str) -> Any:
        """A started encoder instance (errors located at its section)."""
        spec = self.config.plugins[ref]
        with _located(spec):
            enc = _instance(spec, f"{owner}-{ref}")
            enc.start(self._context(enc.name))
        return enc

    def _splitter_factory(self, ref: str) -> Any:
        spec = self.config.plugins[ref]
        limit = self.config.globals["max_message_size"]

        def make() -> Any:
            s = _instance(spec)
            s.max_message_size = limit
            return s

        return make

    def route(self, message: Any) -> None:
        """Route a pack, message or protobuf bytes; count it."""
        self.router.inject(message)
        self.routed += 1

    def route_framed(self, data: bytes, count: int) -> None:
        """Route ``count`` messages given as whole framed records."""
        self.routed += self.router.feed(data)

    def build_router(self) -> Any:
        from hekapy.router import Router

        g = self.config.globals
        return Router(
            max_message_loops=g["max_message_loops"],
            queue_size=g["plugin_chansize"],
            matcher_dialect=g["matcher_dialect"],
            hostname=g["hostname"],
            report_interval=float(g["report_interval"]),
            max_message_size=g["max_message_size"],
            base_dir=g["base_dir"],
        )

    def _add_routed(self, spec: PluginSpec) -> None:
        plugin = _instance(spec)
        cfg = spec.config
        if spec.category == "Output":
            if cfg.get("encoder"):
                plugin.encoder = self.make_encoder(cfg["encoder"], spec.name)
            if hasattr(plugin, "max_message_size"):
                plugin.max_message_size = self.config.globals[
                    "max_message_size"
                ]
        self.routed_plugins[spec.name] = plugin
        add = (
            self.router.add_filter
            if spec.category == "Filter"
            else self.router.add_output
        )
        add(
            plugin,
            cfg["message_matcher"],
            matcher_dialect=cfg["matcher_dialect"],
            message_signer=cfg["message_signer"] or None,
            ticker_interval=cfg["ticker_interval"] or 0,
            threaded=self._threaded(spec, plugin),
            timer_event_on_shutdown=bool(
                cfg.get("timer_event_on_shutdown", False)
            ),
        )
        self._routed_names.add(spec.name)

    def _check(self, spec: PluginSpec) -> None:
        """Create a plugin, starting nothing.

        Every section is made on its own, decoders, encoders and
        splitters included; Lua sandboxes also load their script (and
        drop it again), so a missing file or a syntax error is reported
        here.
        """
        if spec.category not in ("Filter", "Output", "Input"):
            # Decoders, encoders and splitters are made on their own too,
            # so one that nothing uses is checked as well.
            with _located(spec):
                _load_script(_instance(spec))
            return
        _load_script(_instance(spec))
        cfg = spec.config
        if spec.category in ("Filter", "Output"):
            from hekapy.router._matching import compile_matcher

            compile_matcher(cfg["message_matcher"], cfg["matcher_dialect"])

    @staticmethod
    def _threaded(spec: PluginSpec, plugin: Any) -> bool:
        value = spec.config.get("threaded")
        if value is None:
            return bool(getattr(plugin, "prefers_thread", False))
        return bool(value)

    def _add_input(self, spec: PluginSpec) -> None:
        cfg = spec.config
        plugin = _instance(spec)
        splitter = cfg.get("splitter") or "NullSplitter"
        host = InputHost(
            spec.name,
            cfg,
            self._splitter_factory(splitter),
            self.make_decoder(cfg.get("decoder") or "", spec.name),
            self.route,
            self.config.globals["hostname"],
            self.run_once,
            logging.getLogger(f"hekapy.{spec.name}"),
            self.route_framed,
        )
        sspec = self.config.plugins[splitter]
        host.splitter_message_bytes = bool(
            sspec.config.get("use_message_bytes")
        )
        plugin.start(self._context(spec.name, self.route))
        self.inputs.append(_InputRun(spec, plugin, host))

    def build(self, check: bool = False) -> None:
        """Instantiate and start every plugin; collect every failure.

        With ``check`` the plugins are only created, not started: no
        file is opened and no socket bound.

        Raises
        ------
        ConfigErrors
            Listing each plugin that could not be created or started.
        """
        errors: list[ConfigError] = []
        self.router = self.build_router()
        for spec in self.config.plugins.values():
            if spec.category not in ("Filter", "Output", "Input") and not (
                check and spec.explicit
            ):
                continue
            try:
                if check:
                    self._check(spec)
                elif spec.category == "Input":
                    self._add_input(spec)
                else:
                    self._add_routed(spec)
            except ConfigError as exc:
                errors.append(_at(exc, spec))
            except (ValueError, TypeError, OSError) as exc:
                errors.append(ConfigError(str(exc), spec.where))
            except Exception as exc:
                errors.append(
                    ConfigError(f"{type(exc).__name__}: {exc}", spec.where)
                )
        if errors:
            self._abort()
            # A decoder's mistake found through each input that uses it
            # is said once.
            unique = list({str(e): e for e in errors}.values())
            raise ConfigErrors(unique)

    def _abort(self) -> None:
        for run in self.inputs:
            try:
                run.plugin.stop()
            except Exception:
                pass
        if self.router is not None:
            self.router.close()

    # -- running -----------------------------------------------------

    def _run_input(self, run: _InputRun) -> None:
        try:
            run.plugin.run(run.host)
        except DecoderTerminated as exc:
            run.error = str(exc)
            log.error(
                "input %s stopped because its decoder terminated; "
                "shutting down",
                run.spec.name,
            )
            self.exit_code = 1
            self.stop_requested.set()
        except Exception as exc:
            run.error = f"{type(exc).__name__}: {exc}"
            log.error("input %s terminated: %s", run.spec.name, run.error)
            if not run.spec.config.get("can_exit"):
                self.exit_code = 1
                self.stop_requested.set()

    def _service_loop(self) -> None:
        router = self.router
        while not self.inputs_finished.wait(0.05):
            router.pump()
            router.tick()
            self._service()

    def _inputs_done(self) -> bool:
        return all(
            r.thread is None or not r.thread.is_alive() for r in self.inputs
        )

    def _service(self) -> None:
        self._check_terminations()
        if self.reload_requested.is_set():
            self.reload_requested.clear()
            self.reload()
        if self.report_requested.is_set():
            self.report_requested.clear()
            self.log_report()

    def _check_terminations(self) -> None:
        terms = getattr(self.router, "terminations", [])
        for t in terms[len(self.terminated) :]:
            name = str(t.get("name") or t.get("plugin") or "?")
            self.terminated.append(name)
            spec = self.config.plugins.get(name)
            reason = t.get("reason") or t.get("error") or ""
            log.error("plugin %s terminated: %s", name, reason)
            if (
                spec is not None
                and not spec.config.get("can_exit")
                and not spec.type.startswith("Sandbox")
            ):
                log.error(
                    "%s may not exit (can_exit = false); shutting down", name
                )
                self.stop_requested.set()

    def start(self) -> None:
        """Start the service thread and every input."""
        self._router_thread = threading.Thread(
            target=self._service_loop, name="hekapy-service", daemon=True
        )
        self._router_thread.start()
        for run in self.inputs:
            run.thread = threading.Thread(
                target=self._run_input,
                args=(run,),
                name=f"input-{run.spec.name}",
                daemon=True,
            )
            run.thread.start()

    def wait(self, progress: bool = False) -> int:
        """Run until stopped (or, under ``--run-once``, inputs end).

        Returns the exit status: 0, or 1 when a plugin terminated.
        """
        last = 0.0
        while not self.stop_requested.is_set():
            if self.run_once and self._inputs_done():
                break
            if (
                self._router_thread is not None
                and not self._router_thread.is_alive()
            ):
                break
            self.stop_requested.wait(0.1)
            if progress and time.monotonic() - last >= 0.5:
                last = time.monotonic()
                self._progress()
        return self.shutdown(progress)

    def _progress(self) -> None:
        recs = sum(r.host.counters["records"] for r in self.inputs)
        took = max(time.time() - self.started, 1e-9)
        sys.stderr.write(
            f"\r{recs} records read, {self.routed} routed, "
            f"{recs / took:.0f} records/s "
        )
        sys.stderr.flush()

    def shutdown(self, progress: bool = False) -> int:
        """Stop inputs, then drain and close the router."""
        for run in self.inputs:
            run.plugin.stop()
        for run in self.inputs:
            if run.thread is not None:
                run.thread.join(10)
                if run.thread.is_alive():
                    log.error(
                        "input %s did not stop within 10 s", run.spec.name
                    )
        self.stop_requested.set()
        self.inputs_finished.set()
        if self._router_thread is not None:
            self._router_thread.join()
        self.router.close()
        self._check_terminations()
        if progress:
            self._progress()
            sys.stderr.write("\n")
        for run in self.inputs:
            c = run.host.counters
            log.info(
                "input %s: %d records, %d messages, %d decode "
                "failures, %d garbage bytes, %d auth failures, %d "
                "oversized",
                run.spec.name,
                c["records"],
                c["messages"],
                c["decode_failures"],
                c["garbage_bytes"],
                c["auth_failures"],
                c["oversized"],
            )
            if run.error:
                self.exit_code = 1
        if self.terminated:
            self.exit_code = 1
        return self.exit_code

    def results(self) -> list[str]:
        """Where the file outputs wrote, one line each."""
        out = []
        for name, plugin in self.routed_plugins.items():
            path = getattr(plugin, "current_path", "")
            if path:
                n = getattr(plugin, "written", 0)
                out.append(f"{name}: {n} messages in {path}")
        return out

    # -- signals' work -----------------------------------------------

    def reload(self) -> None:
        """Restart every sandbox filter with its script read again.

        Each is removed after its queue is processed (its state is
        preserved when ``preserve_data`` is set) and added again from
        its configuration.
        """
        for spec in self.config.of("Filter"):
            if (
                not spec.type.startswith("Sandbox")
                or spec.name not in self.router.plugins
            ):
                continue
            try:
                self.router.remove(spec.name, drain=True)
                self._add_routed(spec)
                log.info("reloaded %s", spec.name)
            except Exception as exc:
                log.error("reloading %s failed: %s", spec.name, exc)

    def report(self) -> dict[str, Any]:
        """The router's report plus the inputs' counters."""
        rep = dict(self.router.report())
        rep["inputs"] = [
            dict(r.host.counters, Name=r.spec.name) for r in self.inputs
        ]
        return rep

    def log_report(self) -> None:
        """Write the full report to the log, one line per section."""
        for key, value in self.report().items():
            log.info(
                "report %s: %s",
                key,
                json.dumps(value, default=str, sort_keys=True),
            )


def state_dirs(config: Config) -> list[Path]:
    """Directories the daemon writes state into."""
    return [Path(config.globals["base_dir"])]


def _load_script(plugin: Any) -> None:
    check = getattr(plugin, "check", None)
    if callable(check):
        check()
