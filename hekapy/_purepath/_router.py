"""Pure-Python twin of the router's hot loop (``route_frames``).

One call takes a chunk of a Heka framed stream and, for every complete
record: indexes it in ``view``, asks ``evaluate(view)`` which plugins
want it, and when any do hands ``deliver(raw, signer, hits)`` a copy of
the message bytes.  A record whose message bytes do not decode goes to
``reject(error)`` and the loop goes on with the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hekapy._errors import DecodeError


def route_frames(
    reader: Any,
    data: bytes,
    view: Any,
    evaluate: Callable[[Any], Any],
    deliver: Callable[[bytes, str | None, Any], None],
    reject: Callable[[DecodeError], None],
) -> int:
    """Route the records ``data`` completes; return how many there were."""
    records = reader.feed(data)
    for rec in records:
        try:
            view.reset(rec.message)
        except DecodeError as exc:
            reject(exc)
            continue
        hits = evaluate(view)
        if hits:
            deliver(rec.message, rec.signer, hits)
    return len(records)
