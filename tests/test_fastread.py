"""read_message in C: the same answers as the Python reader."""

from __future__ import annotations

import pytest

from hekapy import Field, Message

fast = pytest.importorskip("hekapy._fastpath")
lua51 = pytest.importorskip("hekapy.sandbox._lupa").lua51

NAMES = ["Type", "Logger", "Payload", "EnvVersion", "Hostname", "Uuid",
         "Timestamp", "Severity", "Pid", "raw", "Fields[s]", "Fields[b]",
         "Fields[e]", "Fields[i]", "Fields[d]", "Fields[t]", "Fields[x]",
         "Fields[]", "Fields[s", "Other"]


@pytest.fixture(scope="module")
def reader():
    if not fast.bind_lua(lua51.__file__):
        pytest.skip("lupa's Lua 5.1 API could not be bound")
    rt = lua51.LuaRuntime(encoding=None)
    loader = rt.eval("package.loadlib")(fast.__file__.encode(),
                                        b"luaopen_hekapy_fastread")
    slot = fast.acquire_slot()
    calls = []

    def fallback(name, fi, ai):
        calls.append(name)
        return b"python"

    read = loader(slot, fallback)
    yield rt, slot, read, calls
    fast.release_slot(slot)


def _read_all(rt, read, names, fi=0, ai=0):
    fn = rt.eval("function(rm, names, fi, ai) local out = {} "
                 "for i, n in ipairs(names) do out[i] = {rm(n, fi, ai)} "
                 "end return out end")
    out = fn(read, rt.table_from([n.encode() for n in names]), fi, ai)
    return [out[i + 1][1] for i in range(len(names))]


MESSAGE = Message(
    uuid=bytes(range(16)), timestamp=123456789, type="t", logger="l",
    severity=3, payload="p", env_version="e", pid=42, hostname="h",
    fields=[Field("s", ["a", "b"]), Field("b", [b"\x00\x01"]),
            Field("e", [b""]), Field("i", [5, -6]),
            Field("d", [1.5, 2.5]), Field("t", [True, False])])


def _expected(view, name, fi, ai):
    if name.startswith("Fields[") and name.endswith("]") and len(name) > 8:
        v = view.read_field(name[7:-1].encode(), fi, ai)
        return None if v == b"" else v
    attrs = {"Type": "type", "Logger": "logger", "Payload": "payload",
             "EnvVersion": "env_version", "Hostname": "hostname"}
    if name in attrs:
        return getattr(view, attrs[name]) or b""
    if name == "Uuid":
        return b"00010203-0405-0607-0809-0a0b0c0d0e0f"
    if name == "Severity":
        return 7 if view.severity is None else view.severity
    if name in ("Timestamp", "Pid"):
        return getattr(view, name.lower())
    if name == "raw":
        return view.raw or None
    return None


@pytest.mark.parametrize(("fi", "ai"), [(0, 0), (0, 1), (1, 0), (0, 5)])
def test_c_reader_matches_the_view(reader, fi, ai) -> None:
    rt, slot, read, _ = reader
    view = fast.MessageView(MESSAGE.encode())
    got = fast.run_with_message(slot, view,
                                lambda: _read_all(rt, read, NAMES, fi, ai))
    want = [_expected(view, n, fi, ai) for n in NAMES]
    assert [float(g) if isinstance(g, int) and not isinstance(g, bool)
            else g for g in got] == \
        [float(w) if isinstance(w, int) and not isinstance(w, bool)
         else w for w in want]


def test_absent_headers(reader) -> None:
    rt, slot, read, _ = reader
    view = fast.MessageView(b"")
    got = fast.run_with_message(
        slot, view, lambda: _read_all(rt, read, ["Type", "Severity",
                                                 "Timestamp", "Pid", "Uuid",
                                                 "raw"]))
    assert got == [b"", 7, None, None, b"", None]


def test_without_a_message_the_python_reader_answers(reader) -> None:
    rt, _, read, calls = reader
    assert _read_all(rt, read, ["Type"]) == [b"python"]
    assert calls == [b"Type"]


def test_broken_fields_are_refused_before_the_call(reader) -> None:
    from hekapy import DecodeError

    _, slot, _, _ = reader
    view = fast.MessageView(bytes.fromhex("5204" "0a0161" "7f"))
    with pytest.raises(DecodeError):
        fast.run_with_message(slot, view, lambda: None)


def test_huge_indices_are_out_of_range(reader) -> None:
    rt, slot, read, _ = reader
    view = fast.MessageView(MESSAGE.encode())
    got = fast.run_with_message(
        slot, view, lambda: _read_all(rt, read, ["Fields[s]"], 2**32 + 1,
                                      0) + _read_all(rt, read, ["Fields[s]"],
                                                     0, 2**32 + 1))
    assert got == [None, None]
