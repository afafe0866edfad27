"""Embed a hekapy Router: a Lua filter and a Python output.

Run from the project root: ``PYTHONPATH=. python examples/embed_router.py``

Ten web requests go through the router.  A Lua sandbox filter counts
them and sums their bytes; when the router closes, the filter's final
timer reports the totals with ``inject_payload``.  A Python output
prints that report and every request of Severity 3 or less.  At the end
the script prints the router's self-report.
"""

from __future__ import annotations

import json

from hekapy import Field, Message, Pack, Router
from hekapy.plugins import Output
from hekapy.sandbox import SandboxFilter

TOTALS_LUA = """
require "string"

local count, bytes = 0, 0

function process_message()
    count = count + 1
    bytes = bytes + (read_message("Fields[bytes]") or 0)
    return 0
end

function timer_event(ns)
    inject_payload("txt", "totals",
                   string.format("%d requests, %d bytes", count, bytes))
end
"""


class Printer(Output):
    """Prints the messages its matcher selects."""

    def process_message(self, pack: Pack) -> None:
        m = pack.message
        print(f"{self.name}: {m.type} from {m.logger}: {m.payload}")


def main() -> dict[str, object]:
    router = Router(hostname="example")
    router.add_filter(
        SandboxFilter("totals", {"source": TOTALS_LUA}),
        "Type == 'web.request'",
        ticker_interval=60,
        timer_event_on_shutdown=True,
    )
    router.add_output(
        Printer("printer"), "Type == 'heka.sandbox-output' || Severity <= 3"
    )
    for i in range(10):
        router.inject(
            Message.new(
                type="web.request",
                logger="web",
                severity=3 if i == 7 else 6,
                payload=f"GET /page/{i}",
                fields=[Field("bytes", 100 * i)],
            )
        )
    router.close()
    report = router.report()
    print(json.dumps(report["plugins"], indent=2, sort_keys=True))
    return report


if __name__ == "__main__":
    main()
