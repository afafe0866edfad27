"""Pure-Python twin of the router's hot loop (``route_chunk``).

One call takes a chunk of a Heka framed stream and, for every complete
record: indexes it in ``view``, asks ``matchers.match_list(view)`` (a
``hekapy.matcher.MatcherSet``) which plugins want it, and when any do
hands ``deliver(raw, signer, hits, view)`` the message bytes, the
ascending list of matcher indices and a view of the bytes that keeps
the index already built.  A record whose message bytes do not decode
goes to ``reject(error)`` and the loop goes on with the next one.  With
``matchers`` None, records are only counted.  ``direct`` and ``pending``
are accepted for the compiled loop's sake: sandboxes are only called
directly from C, so here every hit goes through ``deliver``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hekapy._errors import DecodeError


def route_chunk(
    reader: Any,
    data: bytes,
    view: Any,
    matchers: Any,
    deliver: Callable[[bytes, str | None, list[int], Any], None],
    reject: Callable[[DecodeError], None],
    direct: Any = None,
    pending: Any = None,
) -> int:
    """Route the records ``data`` completes; return how many there were."""
    n = 0
    evaluate = None if matchers is None else matchers.match_list
    # Records not yet handed out stay in the reader if a callback raises.
    for rec in reader._records(data):
        n += 1
        if evaluate is None:
            continue
        try:
            view.reset(rec.message)
            hits = evaluate(view)
        except DecodeError as exc:
            # Fields are read lazily, so the matcher may be the first to
            # find a broken one: the record is rejected alone.
            reject(exc)
            continue
        if hits:
            deliver(rec.message, rec.signer, hits, view.clone(rec.message))
    return n
