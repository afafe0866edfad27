"""Self-report: the router's counters as a dict and as Heka messages.

The dict (``Router.report()``) uses hekapy's own snake_case names.  The
``heka.all-report`` message carries the same numbers in the shape Heka's
dashboard reads: a JSON object with the sections ``globals``,
``inputs``, ``splitters``, ``decoders``, ``filters``, ``outputs`` and
``encoders``, each a list of ``{"Name": ..., "<Metric>": {"value": v,
"representation": r}}`` entries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hekapy._message import Field, Message

if TYPE_CHECKING:
    from hekapy.router._router import Router
    from hekapy.router._runner import Runner

# hekapy counter -> (Heka metric name, representation)
_HEKA_NAMES = (
    ("queue_capacity", "InChanCapacity", "count"),
    ("queue_length", "InChanLength", "count"),
    ("matched", "MatchCount", "count"),
    ("processed", "ProcessMessageCount", "count"),
    ("failed", "ProcessMessageFailures", "count"),
    ("injected", "InjectMessageCount", "count"),
    ("dropped", "DropCount", "count"),
    ("avg_process_ns", "ProcessMessageAvgDuration", "ns"),
    ("wait_ns", "RouterWaitDuration", "ns"),
    ("timer_events", "TimerEventCount", "count"),
)

# Names the sandbox's ``stats`` may use -> Heka metric and representation;
# counts the router keeps itself are not repeated.
_ROUTER_KEEPS = frozenset(("process_count", "failures", "inject_count"))
_SANDBOX_NAMES = {
    "memory": ("Memory", "B"),
    "max_memory": ("MaxMemory", "B"),
    "max_instructions": ("MaxInstructions", "count"),
    "max_output": ("MaxOutput", "B"),
}


def _plugin_stats(runner: Runner) -> dict[str, Any]:
    st = runner.stats()
    own = getattr(runner.plugin, "stats", None)
    if callable(own):
        own = own()
    if isinstance(own, Mapping):
        st["stats"] = dict(own)
    return st


def build_report(
    router: Router,
    runners: Iterable[Runner],
) -> dict[str, Any]:
    """The dict returned by ``Router.report()``."""
    plugins = {r.name: _plugin_stats(r) for r in runners}
    total_wait = sum(p["wait_seconds"] for p in plugins.values())
    return {
        "router": {
            "routed": router.routed,
            "injected": router.injected,
            "decode_failures": router.decode_failures,
            "pending": len(router._pending),
            "blocked_on": router.blocked_on,
            "wait_seconds": total_wait,
            "max_message_loops": router.max_message_loops,
            "uptime_seconds": time.time() - router.started,
            "terminations": list(router.terminations),
            "plugins": len(plugins),
            "framing": dict(router._reader.counters),
            "buffered_bytes": router._reader.buffered,
        },
        "plugins": plugins,
    }


def _metric(value: Any, representation: str) -> dict[str, Any]:
    return {"value": value, "representation": representation}


def _entry(name: str, st: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": name}
    for key, heka, rep in _HEKA_NAMES:
        if key == "wait_ns":
            out[heka] = _metric(int(st["wait_seconds"] * 1e9), rep)
        else:
            out[heka] = _metric(st[key], rep)
    for key, value in (st.get("stats") or {}).items():
        heka, rep = _SANDBOX_NAMES.get(key, (key, "count"))
        if key not in _ROUTER_KEEPS and isinstance(value, (int, float)):
            out[heka] = _metric(value, rep)
    return out


def report_payload(report: Mapping[str, Any]) -> dict[str, Any]:
    """The ``heka.all-report`` JSON object for a ``Router.report()``."""
    r = report["router"]
    sections: dict[str, list[dict[str, Any]]] = {
        "globals": [
            {
                "Name": "Router",
                "InChanCapacity": _metric(0, "count"),
                "InChanLength": _metric(r["pending"], "count"),
                "ProcessMessageCount": _metric(r["routed"], "count"),
                "InjectMessageCount": _metric(r["injected"], "count"),
                "DecodeFailures": _metric(r["decode_failures"], "count"),
                "BlockedOn": _metric(r["blocked_on"] or "", ""),
            }
        ],
        "inputs": [],
        "splitters": [],
        "decoders": [],
        "filters": [],
        "outputs": [],
        "encoders": [],
    }
    for name, st in report["plugins"].items():
        sections[st["kind"] + "s"].append(_entry(name, st))
    return sections


def report_message(
    report: Mapping[str, Any],
    hostname: str,
    pid: int,
) -> Message:
    """A ``heka.all-report`` message (Logger ``hekad``) for ``report``."""
    payload = json.dumps(report_payload(report), separators=(",", ":"))
    return Message.new(
        type="heka.all-report",
        logger="hekad",
        severity=6,
        hostname=hostname,
        pid=pid,
        payload=payload,
    )


def terminated_message(
    name: str,
    type_name: str,
    reason: str,
    sandbox: bool,
    hostname: str,
    pid: int,
) -> Message:
    """The message routed when a plugin stops for good.

    A sandbox gives ``heka.sandbox-terminated`` with the reason as
    payload; any other plugin ``heka.terminated`` with a payload naming
    the plugin, its type and the error.  Both carry ``Fields[plugin]``.
    """
    if sandbox:
        try:
            from hekapy.sandbox import termination_message
        except ImportError:
            pass
        else:
            msg: Message = termination_message(name, reason, hostname)
            return msg
        mtype, payload = "heka.sandbox-terminated", reason
    else:
        mtype = "heka.terminated"
        payload = f"{name} (type {type_name}) terminated. Error: {reason}"
    return Message.new(
        type=mtype,
        logger="hekad",
        severity=7,
        hostname=hostname,
        pid=pid,
        payload=payload,
        fields=[Field("plugin", name)],
    )
