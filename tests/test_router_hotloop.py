"""route_chunk, the router's hot loop: both twins, same results."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from hekapy import DecodeError, Field, Message, Signer, frame
from hekapy._purepath import _router as pure_router


def _route_chunk(impl: ModuleType) -> Any:
    fn = getattr(impl, "route_chunk", None)
    if fn is None:
        if impl.__name__.endswith("_purepath"):
            return pure_router.route_chunk
        pytest.skip("this build of the fast path has no route_chunk")
    return fn


def stream() -> tuple[bytes, Signer]:
    ops = Signer("ops", "k", 1)
    parts = []
    for n in range(20):
        m = Message(
            type="t", severity=n % 8, payload=str(n), fields=[Field("n", n)]
        )
        parts.append(frame(m.encode(), ops if n % 5 == 0 else None))
        if n == 7:
            parts.append(frame(b"\x0a\x09short"))
    return b"garbage" + b"".join(parts), ops


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_route_chunk_delivers_matches_and_rejects_bad_records(
    impl: ModuleType, chunk: int
) -> None:
    data, ops = stream()
    reader = impl.StreamReader(signers=[ops])
    view = impl.MessageView(Message(type="x").encode())
    got: list[tuple[int, str | None, Any]] = []
    bad: list[DecodeError] = []

    class Matchers:
        def match_list(self, v: Any) -> list[int]:
            return [v.severity] if v.severity in (0, 3) else []

    def deliver(raw: bytes, signer: str | None, hits: Any,
                view: Any) -> None:
        # The view handed on shows the delivered bytes, already indexed.
        assert view.raw == raw
        assert view.read_field(b"n") == Message.decode(raw).field("n")
        got.append((Message.decode(raw).field("n"), signer, hits))

    route = _route_chunk(impl)
    total = 0
    for pos in range(0, len(data), chunk):
        total += route(
            reader,
            data[pos : pos + chunk],
            view,
            Matchers(),
            deliver,
            bad.append,
        )
    assert total == 21
    assert got == [
        (0, "ops", [0]),
        (3, None, [3]),
        (8, None, [0]),
        (11, None, [3]),
        (16, None, [0]),
        (19, None, [3]),
    ]
    assert len(bad) == 1
    assert reader.counters["garbage_bytes"] == 7


def test_route_chunk_with_a_matcher_set_and_with_none(
    impl: ModuleType,
) -> None:
    from hekapy.matcher import Matcher, MatcherSet

    data, ops = stream()
    mset = MatcherSet(
        [Matcher("Severity == 3"), Matcher("Fields[n] < 2"), Matcher("FALSE")]
    )
    route = _route_chunk(impl)
    got: list[tuple[int, Any]] = []

    def deliver(raw: bytes, signer: str | None, hits: Any,
                view: Any) -> None:
        got.append((Message.decode(raw).field("n"), hits))

    reader = impl.StreamReader(signers=[ops])
    view = impl.MessageView(b"")
    assert route(reader, data, view, mset, deliver, lambda e: None) == 21
    assert got == [(0, [1]), (1, [1]), (3, [0]), (11, [0]), (19, [0])]
    reader = impl.StreamReader(signers=[ops])
    assert route(reader, data, view, None, deliver, lambda e: None) == 21
    assert len(got) == 5
