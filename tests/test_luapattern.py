"""The Lua 5.1 pattern engine, compared with real Lua 5.1 (lupa)."""

from __future__ import annotations

import random
from types import ModuleType

import pytest

from hekapy._purepath import LuaPatternError

lua51 = pytest.importorskip("lupa.lua51")

ATOMS = ["a", "b", ".", "%a", "%d", "%s", "%w", "%p", "%A", "[ab]",
         "[^a]", "[a-c]", "%%", "%b()", "%f[%a]", "%f[%w]", "-", "x",
         "[%d_]", "%.", "%x", "%l", "%u", "%z", "%c", "[]]", "[%]]",
         "^", "$", "%S", "%W", "[%a-]"]
QUANTS = ["", "", "", "*", "+", "-", "?"]
SUBJECT = "aabbc1 2_.()%-xAB\0\n\xff"


@pytest.fixture(scope="module")
def lua_find():  # type: ignore[no-untyped-def]
    lua = lua51.LuaRuntime(encoding=None)
    return lua.eval(
        "function(s, p) local ok, r = pcall(string.find, s, p) "
        "if not ok then return 'error' end return r ~= nil end")


def _search(impl: ModuleType, pattern: bytes, subject: bytes) -> object:
    try:
        return impl.LuaPattern(pattern).search(subject)
    except LuaPatternError:
        return "error"


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_lua51(impl: ModuleType, lua_find, seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(1500):
        parts = [rnd.choice(ATOMS) + rnd.choice(QUANTS)
                 for _ in range(rnd.randint(0, 5))]
        pattern = "".join(parts)
        if rnd.random() < 0.2:
            pattern = "^" + pattern
        if rnd.random() < 0.2:
            pattern += "$"
        subject = "".join(rnd.choice(SUBJECT)
                          for _ in range(rnd.randint(0, 12)))
        p = pattern.encode("latin-1")
        s = subject.encode("latin-1")
        assert _search(impl, p, s) == lua_find(s, p), (pattern, subject)


@pytest.mark.parametrize(("pattern", "subject", "expect"), [
    (b"(a)", b"x(a)y", True),       # parentheses are plain characters
    (b"(a)", b"a", False),
    (b"%b()", b"f(a(b)c)", True),
    (b"%b()", b"f(a(b c", False),
    (b"%b''x", b"'ab'x", True),
    (b"^%b()$", b"(()())", True),
    (b"^%b()$", b"(()()", False),
    (b"%f[%a]%a+%f[%A]", b"  word  ", True),
    (b"a-b", b"aaab", True),
    (b"^$", b"", True),
    (b"x$", b"x\n", False),
    (b"[", b"", "error"),
    (b"%1", b"", "error"),
])
def test_known_patterns(impl: ModuleType, pattern: bytes, subject: bytes,
                        expect: object) -> None:
    assert _search(impl, pattern, subject) == expect


def test_backtracking_pattern_is_linear(impl: ModuleType) -> None:
    # Lua's backtracking takes about n**8 steps here; the state set
    # does len(pattern) * n.
    pattern = impl.LuaPattern(b"a*a*a*a*a*a*a*a*b")
    assert not pattern.search(b"a" * 20000)
    assert pattern.search(b"a" * 20000 + b"b")
    nested = impl.LuaPattern(b"%b()%b()%b()x")
    assert not nested.search(b"(" * 5000 + b")" * 5000)


def test_error_names_the_offset() -> None:
    from hekapy._purepath._luapattern import parse_pattern

    with pytest.raises(LuaPatternError) as info:
        parse_pattern(b"ab[cd")
    assert info.value.offset == 5
