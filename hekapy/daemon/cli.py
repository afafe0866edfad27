"""``hekapy-router``: the command line of the daemon.

Options take one or two dashes, as hekad's did (``-config PATH`` and
``--config PATH``).  Exit status: 0; 1 when a plugin terminated or the
daemon could not start; 2 for configuration mistakes (each printed on
its own line, then their count).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import hekapy
from hekapy.daemon import config as cfgmod
from hekapy.daemon import logsetup

log = logging.getLogger("hekapy.daemon")

# Used when no -config is given: read Heka framed protobuf on the
# loopback port hekad's examples use and print each message.
DEFAULT_CONFIG = """\
[hekad]
base_dir = "."

[DefaultTcpInput]
type = "TcpInput"
address = "127.0.0.1:5565"

[DefaultRstEncoder]
type = "RstEncoder"

[DefaultLogOutput]
type = "LogOutput"
message_matcher = "TRUE"
encoder = "DefaultRstEncoder"
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hekapy-router",
        description="Route Heka messages as configured in hekad-style "
        "TOML files.",
    )
    p.add_argument(
        "-config",
        "--config",
        metavar="PATH",
        help="a TOML file, or a directory whose *.toml files "
        "load in lexical order; without it a built-in "
        "pipeline prints what arrives on "
        "127.0.0.1:5565",
    )
    p.add_argument(
        "-version",
        "--version",
        action="store_true",
        help="print the version and exit",
    )
    p.add_argument(
        "-check",
        "--check",
        action="store_true",
        help="validate the configuration and exit",
    )
    p.add_argument(
        "-run-once",
        "--run-once",
        action="store_true",
        help="read every input to its end, drain, exit",
    )
    p.add_argument(
        "-log-level",
        "--log-level",
        default=None,
        choices=("debug", "info", "warning", "error"),
        help="overrides [hekad] log_level",
    )
    p.add_argument(
        "-print-default-config",
        "--print-default-config",
        action="store_true",
        help="print the built-in configuration and exit",
    )
    return p


def _errors(exc: cfgmod.ConfigErrors) -> int:
    for line in exc.lines():
        sys.stderr.write(line + "\n")
    return 2


def _pid_file(path: str) -> bool:
    """Write our pid; False when another live process holds the file."""
    p = Path(path)
    try:
        old = int(p.read_text().strip())
    except (OSError, ValueError):
        old = 0
    if old and old != os.getpid():
        try:
            os.kill(old, 0)
        except ProcessLookupError:
            pass
        except PermissionError:
            return False
        else:
            return False
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"{os.getpid()}\n")
    return True


def _install_signals(pipe: object) -> None:
    from hekapy.daemon.pipeline import Pipeline

    assert isinstance(pipe, Pipeline)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        pipe.stop_requested.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda s, f: pipe.reload_requested.set())
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, lambda s, f: pipe.report_requested.set())


def _sections(config: cfgmod.Config) -> int:
    """Plugins the configuration names (the built-in defaults aside)."""
    return sum(1 for s in config.plugins.values() if s.explicit)


def _check_rest(exc: cfgmod.ConfigErrors) -> cfgmod.ConfigErrors:
    """``exc`` plus what creating the sound sections finds."""
    from hekapy.daemon.pipeline import Pipeline

    assert exc.partial is not None
    errors = list(exc.errors)
    pipe = Pipeline(exc.partial)
    try:
        pipe.build(check=True)
    except cfgmod.ConfigErrors as more:
        errors += more.errors
    finally:
        if pipe.router is not None:
            pipe.router.close()
    return cfgmod.ConfigErrors(errors)


def main(argv: list[str] | None = None) -> int:
    """Run the daemon; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.version:
        sys.stdout.write(f"hekapy-router {hekapy.__version__}\n")
        return 0
    if args.print_default_config:
        sys.stdout.write(DEFAULT_CONFIG)
        return 0
    try:
        if args.config:
            config = cfgmod.load(args.config)
        else:
            config = cfgmod.load_string(DEFAULT_CONFIG)
    except cfgmod.ConfigErrors as exc:
        if args.check and exc.partial is not None:
            return _errors(_check_rest(exc))
        return _errors(exc)
    logsetup.configure(args.log_level or config.globals["log_level"])
    for w in config.warnings:
        log.warning("%s", w)
    from hekapy.daemon.pipeline import Pipeline

    pipe = Pipeline(config, run_once=args.run_once)
    pid_file = config.globals["pid_file"]
    if pid_file and not args.check and not _pid_file(pid_file):
        log.error(
            "pid file %s names a running process; not starting", pid_file
        )
        return 1
    if not args.check:
        _install_signals(pipe)
    try:
        try:
            pipe.build(check=args.check)
        except cfgmod.ConfigErrors as exc:
            return _errors(exc)
        if args.check:
            pipe.router.close()
            sys.stdout.write(
                f"configuration OK: {_sections(config)} plugins\n"
            )
            return 0
        where = args.config or "built-in configuration"
        log.info(
            "hekapy-router %s started with %s (%d plugins)",
            hekapy.__version__,
            where,
            _sections(config),
        )
        pipe.start()
        progress = args.run_once and sys.stderr.isatty()
        status = pipe.wait(progress=progress)
        log.info("stopped (exit status %d)", status)
        if args.run_once:
            for line in pipe.results():
                sys.stdout.write(line + "\n")
        return status
    finally:
        if pid_file and not args.check:
            try:
                Path(pid_file).unlink()
            except OSError:
                pass
