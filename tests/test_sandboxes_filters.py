"""The filters in sandboxes/filters/ through SandboxFilter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_sandbox_helpers import Collector, pack

from hekapy import Field, Message, PluginFailure
from hekapy.sandbox import SandboxFilter

ROOT = Path(__file__).resolve().parent.parent
FILTERS = ROOT / "sandboxes" / "filters"
NS = 10**9
T0 = 1_500_000_000 * NS  # a multiple of 60 s


def start(
    script: str,
    name: str = "f",
    collector: Collector | None = None,
    **config: Any,
) -> tuple[SandboxFilter, Collector]:
    top = {
        k: config.pop(k)
        for k in ("preserve_data", "state_directory")
        if k in config
    }
    f = SandboxFilter(
        name, {"filename": str(FILTERS / script), "config": config, **top}
    )
    c = collector or Collector()
    f.start(c.context)
    return f, c


def status_msg(status: Any, ts: int = T0, field: str = "status") -> Any:
    return pack(
        timestamp=ts, type="nginx.access", fields=[Field(field, status)]
    )


def cbuf(m: Message) -> tuple[dict[str, Any], list[list[str]]]:
    head, *lines = (m.payload or "").splitlines()
    return json.loads(head), [line.split("\t") for line in lines]


def report(f: SandboxFilter, c: Collector) -> Message:
    before = len(c.packs)
    f.timer_event(T0)
    assert len(c.packs) == before + 1
    return c.messages[-1]


# -- http_status.lua --------------------------------------------------------


def test_http_status_counts_classes_per_row() -> None:
    f, c = start("http_status.lua", name="http_status", rows=3, sec_per_row=60)
    statuses = [200, 201, 304, 404, 500, 503, 503, 101, 99, 600, "abc", "404"]
    for s in statuses:
        f.process_message(status_msg(s))
    f.process_message(status_msg(200, T0 + 60 * NS))
    m = report(f, c)
    assert m.type == "heka.sandbox-output"
    assert m.logger == "http_status"
    assert m.field("payload_type") == "cbuf"
    assert m.field("payload_name") == "HTTP Status"
    head, rows = cbuf(m)
    assert head["rows"] == 3
    assert head["seconds_per_row"] == 60
    assert head["time"] == T0 // NS - 60
    assert [ci["name"] for ci in head["column_info"]] == [
        "HTTP_1xx",
        "HTTP_2xx",
        "HTTP_3xx",
        "HTTP_4xx",
        "HTTP_5xx",
        "HTTP_UNKNOWN",
    ]
    assert {ci["unit"] for ci in head["column_info"]} == {"count"}
    assert rows == [
        ["nan"] * 6,
        ["1", "2", "1", "2", "3", "3"],
        ["nan", "1", "nan", "nan", "nan", "nan"],
    ]


def test_http_status_uses_the_configured_field() -> None:
    f, c = start("http_status.lua", rows=2, status_field="code")
    f.process_message(status_msg(404, field="code"))
    with pytest.raises(PluginFailure, match="Fields\\[code\\]"):
        f.process_message(status_msg(404))
    with pytest.raises(PluginFailure, match="Timestamp"):
        f.process_message(pack(fields=[Field("code", 200)]))
    _, rows = cbuf(report(f, c))
    assert rows[-1][3] == "1"
    assert f.failure_count == 2


def test_http_status_defaults() -> None:
    f, c = start("http_status.lua")
    f.process_message(status_msg(200))
    head, rows = cbuf(report(f, c))
    assert (head["rows"], head["seconds_per_row"]) == (1440, 60)
    assert len(rows) == 1440


def test_http_status_is_preserved(tmp_path: Path) -> None:
    cfg = {"rows": 4, "preserve_data": True, "state_directory": str(tmp_path)}
    f, _ = start("http_status.lua", name="hs", preservation_version=1, **cfg)
    for s in (200, 200, 500):
        f.process_message(status_msg(s))
    f.stop()
    assert (tmp_path / "hs.data").exists()

    g, c = start("http_status.lua", name="hs", preservation_version=1, **cfg)
    g.process_message(status_msg(500))
    _, rows = cbuf(report(g, c))
    assert rows[-1] == ["nan", "2", "nan", "nan", "2", "nan"]
    g.stop()

    h, c = start("http_status.lua", name="hs", preservation_version=2, **cfg)
    h.process_message(status_msg(500))
    _, rows = cbuf(report(h, c))
    assert rows[-1] == ["nan", "nan", "nan", "nan", "1", "nan"]


# -- frequent_items.lua -----------------------------------------------------


def path_msg(path: str) -> Any:
    return pack(timestamp=T0, fields=[Field("path", path)])


def top(m: Message) -> tuple[str, list[tuple[int, int, str]]]:
    head, columns, *lines = (m.payload or "").split("\n")
    assert columns == "count\tovercount\tvalue"
    assert lines[-1] == ""
    out = []
    for line in lines[:-1]:
        n, over, value = line.split("\t", 2)
        out.append((int(n), int(over), value))
    return head, out


def test_frequent_items_exact_when_everything_fits() -> None:
    f, c = start("frequent_items.lua", name="fi")
    stream = ["/a"] * 5 + ["/b"] * 3 + ["/c"] * 3 + ["/d"]
    for p in stream:
        f.process_message(path_msg(p))
    m = report(f, c)
    assert (m.logger, m.field("payload_type"), m.field("payload_name")) == (
        "fi",
        "txt",
        "frequent_items",
    )
    head, rows = top(m)
    assert head == "Fields[path]: 12 seen, 4 tracked (at most 100)"
    assert rows == [(5, 0, "/a"), (3, 0, "/b"), (3, 0, "/c"), (1, 0, "/d")]


def test_frequent_items_bounds_hold_when_values_are_dropped() -> None:
    import random
    from collections import Counter

    rng = random.Random(7)
    k = 10
    stream = [f"/p{int(rng.paretovariate(1.2))}" for _ in range(1500)]
    truth = Counter(stream)
    f, c = start("frequent_items.lua", max_items=k)
    for p in stream:
        f.process_message(path_msg(p))
    head, rows = top(report(f, c))
    assert head == f"Fields[path]: 1500 seen, {k} tracked (at most {k})"
    assert len(rows) == k
    assert sum(n for n, _, _ in rows) == len(stream)
    listed = {v: (n, over) for n, over, v in rows}
    for value, n in truth.items():
        if n > len(stream) / k:
            assert value in listed
    for value, (n, over) in listed.items():
        assert n - over <= truth[value] <= n
    assert [n for n, _, _ in rows] == sorted(
        (n for n, _, _ in rows), reverse=True
    )


def test_frequent_items_other_variable_and_missing_values() -> None:
    f, c = start("frequent_items.lua", message_variable="Type", report_items=1)
    for t in ("x", "y", "y"):
        f.process_message(pack(type=t))
    f2, _ = start("frequent_items.lua")
    with pytest.raises(PluginFailure, match="Fields\\[path\\]"):
        f2.process_message(pack(type="x"))
    head, rows = top(report(f, c))
    assert head.startswith("Type: 3 seen, 2 tracked")
    assert rows == [(2, 0, "y")]


def test_frequent_items_report_stays_bounded() -> None:
    f, c = start("frequent_items.lua", max_items=1000)
    for i in range(400):
        f.process_message(path_msg(f"/{i:04d}" + "x" * 300))
    m = report(f, c)
    text = m.payload or ""
    assert len(text) < 61000
    lines = text.split("\n")
    assert lines[-2].startswith("... report cut at ")
    shown = lines[2].split("\t")[2]
    assert len(shown) == 200 and shown.endswith("...")


def test_frequent_items_is_preserved(tmp_path: Path) -> None:
    cfg = {"preserve_data": True, "state_directory": str(tmp_path)}
    f, _ = start("frequent_items.lua", name="fi", **cfg)
    for p in ("/a", "/a", "/b"):
        f.process_message(path_msg(p))
    f.stop()
    g, c = start("frequent_items.lua", name="fi", **cfg)
    g.process_message(path_msg("/b"))
    g.process_message(path_msg("/b"))
    head, rows = top(report(g, c))
    assert head.startswith("Fields[path]: 5 seen, 2 tracked")
    assert rows == [(3, 0, "/b"), (2, 0, "/a")]


# -- message_schema.lua -----------------------------------------------------


def test_message_schema_describes_groups_and_fields() -> None:
    f, c = start("message_schema.lua", name="schema")
    assert report(f, c).payload == "no messages\n"
    f.process_message(
        pack(
            logger="web",
            type="nginx.access",
            fields=[
                Field("status", 200),
                Field("path", "/"),
                Field("tags", ["a", "b", "c"], representation="csv"),
            ],
        )
    )
    f.process_message(
        pack(
            logger="web",
            type="nginx.access",
            fields=[
                Field("status", 404),
                Field("path", b"/x"),
                Field("tags", "a", representation="list"),
            ],
        )
    )
    f.process_message(
        pack(
            logger="web",
            type="nginx.access",
            fields=[
                Field("status", 2.5),
                Field("ok", True),
                Field("ok", False),
            ],
        )
    )
    f.process_message(pack(logger="db", type="sql"))
    m = report(f, c)
    assert (m.field("payload_type"), m.field("payload_name")) == (
        "txt",
        "message_schema",
    )
    assert m.payload == (
        'Logger "db" Type "sql": 1 messages\n'
        'Logger "web" Type "nginx.access": 3 messages\n'
        "    ok: BOOL, in 1 of 3, repeated\n"
        "    path: BYTES|STRING, in 2 of 3\n"
        "    status: DOUBLE|INTEGER, in 3 of 3\n"
        '    tags: STRING, representation "csv"|"list", in 2 of 3, '
        "arrays up to 3\n"
    )


def test_message_schema_report_is_bounded() -> None:
    f, c = start("message_schema.lua")
    for i in range(50):
        f.process_message(
            pack(
                logger="l",
                type=f"t{i}",
                fields=[
                    Field(f"field_{j:03d}_" + "n" * 40, j) for j in range(40)
                ],
            )
        )
    text = report(f, c).payload or ""
    assert 50000 < len(text) < 61000
    assert text.endswith("... report cut\n")
