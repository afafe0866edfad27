"""The one place that imports lupa.

Lua 5.1 is what Heka runs.  The module is imported with binary module
loading allowed (its Lua symbols made global) so that the system's LPeg
C library can be loaded into a sandbox.  If something imported
``lupa.lua51`` before hekapy did, its symbols are made global
afterwards, which has the same effect.
"""

from __future__ import annotations

import functools
import glob
import os
from typing import Any

import lupa

_loading = lupa.allow_lua_module_loading()
with _loading:
    import lupa.lua51 as lua51


def _make_symbols_global() -> None:
    # Opening the loaded module again with RTLD_GLOBAL promotes its Lua
    # C API to the global symbol scope, where C modules such as LPeg
    # look for it, whoever imported lupa first.
    import ctypes

    mode = getattr(os, "RTLD_NOLOAD", 0) | getattr(os, "RTLD_GLOBAL", 0)
    if mode:
        try:
            ctypes.CDLL(lua51.__file__, mode=mode)
        except OSError:
            pass


_make_symbols_global()

LuaError = lua51.LuaError
LuaMemoryError = lua51.LuaMemoryError
lua_type = lua51.lua_type

LUA_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "lua")

_LPEG_GLOBS = (
    "/usr/lib/*/lua/5.1/lpeg.so",
    "/usr/lib/lua/5.1/lpeg.so",
    "/usr/local/lib/lua/5.1/lpeg.so",
    "/usr/lib64/lua/5.1/lpeg.so",
)
_RE_PATHS = (
    "/usr/share/lua/5.1/re.lua",
    "/usr/local/share/lua/5.1/re.lua",
)


def find_lpeg() -> str | None:
    """Path of the system's LPeg for Lua 5.1 (Debian: lua-lpeg)."""
    env = os.environ.get("HEKAPY_LPEG")
    if env:
        return env if os.path.exists(env) else None
    for pattern in _LPEG_GLOBS:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


def find_re() -> str | None:
    """Path of LPeg's ``re`` module shipped with lua-lpeg."""
    for path in _RE_PATHS:
        if os.path.exists(path):
            return path
    return None


def _deny(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("python attribute access is disabled")


def new_runtime() -> Any:
    """A fresh Lua 5.1 runtime with every Python bridge disabled.

    Strings cross as bytes, Python tuples become several Lua values, and
    the allocator counts memory (the caller sets the limit later).
    """
    return lua51.LuaRuntime(
        encoding=None,
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        attribute_filter=_deny,
        max_memory=1 << 40,
    )


def read_lua(name: str) -> bytes:
    """The text of one of the Lua files shipped in ``hekapy/lua``."""
    with open(os.path.join(LUA_DIR, name), "rb") as fh:
        return fh.read()


@functools.cache
def fast_reader() -> Any:
    """The compiled fast path when it can read messages for Lua in C.

    None when the extension is not in use or lupa's Lua API could not be
    found; sandboxes then read through Python.
    """
    from hekapy import _impl

    if not _impl.EXTENSION_LOADED:
        return None
    fast = _impl.impl
    bind = getattr(fast, "bind_lua", None)
    if bind is None or not (fast.lua_bound() or bind(lua51.__file__)):
        return None
    return fast


@functools.cache
def fast_encoder() -> Any:
    """The compiled fast path when it can encode inject_message tables.
    """
    fast = fast_reader()
    if fast is None or not fast.bind_lua_encoder(lua51.__file__):
        return None
    return fast


@functools.cache
def fast_caller() -> Any:
    """The compiled fast path when it can call process_message from C.
    """
    fast = fast_encoder()
    if fast is None or not fast.bind_lua_call(lua51.__file__):
        return None
    return fast
