"""The Lua sandbox host shared by filters, decoders and encoders.

One :class:`SandboxHost` owns one Lua 5.1 runtime.  It builds the
sandbox environment (``hekapy/lua/sandbox_env.lua``), sets the memory
limit, runs the script, answers the script's API calls and turns every
way a call can end into a Python outcome: nothing on success,
:class:`hekapy.PluginFailure` for a negative status and
:class:`hekapy.SandboxTerminated` (sticky) for everything fatal.
"""

from __future__ import annotations

import math
import os
import re
import weakref
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from hekapy._errors import (
    ConfigError,
    PluginFailure,
    SandboxError,
    SandboxTerminated,
)
from hekapy._message import Message
from hekapy.sandbox import _lupa, _state
from hekapy.sandbox._direct import DirectCaller
from hekapy.sandbox._json import Codec, JsonError
from hekapy.sandbox._pb import (
    DecodeFailure,
    TableError,
    decode_message,
    encode_table,
)
from hekapy.sandbox._reader import MessageSource, Reader
from hekapy.sandbox._writer import WriteFailed, write_message

ERROR_SIZE = 255

DEFAULTS: dict[str, Any] = {
    "filename": "",
    "source": "",
    "memory_limit": 8 * 1024 * 1024,
    "instruction_limit": 1000000,
    "output_limit": 63 * 1024,
    "module_directory": "",
    "preserve_data": False,
    "config": {},
    "max_process_inject": 1,
    "max_timer_inject": 10,
    "ticker_interval": 0,
    "timer_event_on_shutdown": False,
    "state_directory": "",
    "script_type": "lua",
}

_MODULE_NAME = re.compile(r"[A-Za-z0-9_.]+\Z")
_HEKAPY_MODULES = {"cjson": "cjson.lua",
                   "circular_buffer": "circular_buffer.lua"}
_DISABLED = ("io", "debug", "coroutine", "package", "python")
_TRACEBACK = "\nstack traceback:"


class ScriptError(Exception):
    """Raised by a host callback; the text becomes a Lua error."""


def _limit(config: Mapping[str, Any], key: str, where: str) -> int:
    v = config[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 \
            or v != int(v):
        raise ConfigError(f"{key} must be a non-negative integer, "
                          f"got {v!r}", where)
    return int(v)


def _lua_error_text(exc: BaseException) -> str:
    if isinstance(exc, _lupa.LuaMemoryError):
        return "not enough memory"
    text = str(exc.args[0]) if exc.args else str(exc)
    if isinstance(exc.args[0] if exc.args else None, bytes):
        text = exc.args[0].decode("utf-8", "replace")
    cut = text.find(_TRACEBACK)
    return text if cut < 0 else text[:cut]


class SandboxHost(DirectCaller):
    """Mixin holding everything a sandboxed plugin shares.

    Subclasses set ``sandbox_kind`` and implement ``_inject_bytes`` and
    ``_inject_payload``.
    """

    sandbox_kind: ClassVar[str] = "filter"
    config_schema: ClassVar[Mapping[str, Any]] = DEFAULTS

    name: str
    config: dict[str, Any]
    context: Any

    def _setup_host(self) -> None:
        where = f"sandbox {self.name!r}"
        cfg = self.config
        self.memory_limit = _limit(cfg, "memory_limit", where)
        self.instruction_limit = _limit(cfg, "instruction_limit", where)
        self.output_limit = _limit(cfg, "output_limit", where)
        self.max_process_inject = _limit(cfg, "max_process_inject", where)
        self.max_timer_inject = _limit(cfg, "max_timer_inject", where)
        if not cfg["filename"] and not cfg["source"]:
            raise ConfigError("a sandbox needs 'filename' or 'source'",
                              where)
        if not isinstance(cfg.get("config") or {}, Mapping):
            raise ConfigError("'config' must be a table", where)
        self._reader = Reader()
        self._slot = -1
        self._dead: SandboxTerminated | None = None
        self._env: Any = None
        self._entry_pm: Any = None
        self._pack: Any = None
        self._inject_left = 0
        self._in_timer = False
        self._json = Codec(self.output_limit)
        self.process_count = 0
        self.failure_count = 0
        self.inject_count = 0
        self._max_memory = 0
        self._write_src: Any = None
        self._direct: Any = None
        self._register: Any = None
        self._synced = 0
        self._peaks = (0, 0)
        self._handlers: dict[bytes, Callable[..., Any]] = {
            b"read_next_field": self._reader.read_next_field,
            b"read_config": self._read_config,
            b"decode_message": self._decode_message,
            b"inject_message": self._inject_message,
            b"inject_encoded": self._inject_encoded,
            b"inject_payload": self._inject_payload_cb,
            b"write_message": self._write_message,
            b"find_module": self._find_module,
            b"cjson_setup": self._cjson_setup,
            b"cjson_encode": self._cjson_encode,
            b"cjson_decode": self._cjson_decode,
            b"cjson_option": self._cjson_option,
        }

    # -- loading ------------------------------------------------------------

    def _load_sandbox(self) -> None:
        cfg = self.config
        if cfg["source"]:
            text = cfg["source"]
            source = text.encode() if isinstance(text, str) else bytes(text)
            chunkname = f"={self.name}".encode()
        else:
            path = os.fspath(cfg["filename"])
            try:
                with open(path, "rb") as fh:
                    source = fh.read()
            except OSError as e:
                raise SandboxError(
                    f"cannot read sandbox script {path!r}: "
                    f"{e.strerror}") from None
            chunkname = b"@" + os.fsencode(path)

        rt = _lupa.new_runtime()
        self._runtime = rt
        loader = self._read_loader(rt)
        register = self._direct_loader(rt)
        host = rt.table_from({b"read": self._reader.read,
                              b"loader": loader,
                              b"slot": self._slot,
                              b"encode": self._encode_function(rt),
                              b"call": self._call})
        opts = rt.table_from({b"output_limit": self.output_limit,
                              b"instruction_limit": self.instruction_limit,
                              b"memory_limit": self.memory_limit})
        env = rt.execute(_lupa.read_lua("sandbox_env.lua"), host,
                         self.sandbox_kind.encode(), opts)
        self._env = env
        self._state = env[b"state"]
        self._reader.oom = env[b"OOM"]
        self._reader.guard = self._fits
        self._entry_pm = env[b"process_message"]
        self._entry_te = env[b"timer_event"]
        if register is not None:
            register(self._slot, self._entry_pm)
            self._register = _lupa.fast_caller().DirectCall
        self._seed_random(env)
        if self.memory_limit:
            room = self._hard_limit() - (rt.get_memory_used(total=True)
                                         or 0)
            if 2 * len(source) > room:
                raise SandboxError(f"sandbox {self.name!r} failed to load: "
                                   "the script does not fit in "
                                   "memory_limit")
            rt.set_max_memory(self._hard_limit(), total=True)

        r = self._guard(env[b"run_script"], source, chunkname)
        if r != 0:
            raise SandboxError(f"sandbox {self.name!r} failed to load: "
                               f"{self._reason_text(r)}")
        if not env[b"defines"](b"process_message"):
            raise SandboxError(f"sandbox {self.name!r} failed to load: "
                               "process_message() function was not found")
        if cfg["preserve_data"]:
            err = _state.restore(self, self._state_path())
            if err:
                raise SandboxError(f"sandbox {self.name!r} failed to load: "
                                   f"restore_global_data {err}")
        self._sample()

    def _hard_limit(self) -> int:
        """The allocator's ceiling: the limit plus room for the host."""
        return self.memory_limit + max(self.memory_limit // 4, 1 << 20)

    def _lift_memory_limit(self) -> None:
        rt = getattr(self, "_runtime", None)
        if rt is not None and self.memory_limit:
            rt.set_max_memory(0)

    def _make_room(self, size: int) -> None:
        """Refuse to build ``size`` bytes of Lua values past the ceiling.
        """
        if not self.memory_limit:
            return
        used = self._runtime.get_memory_used(total=True) or 0
        if used + size > self._hard_limit():
            raise ScriptError("not enough memory")

    def __del__(self) -> None:
        # Lua must never fail an allocation while lupa tears it down.
        try:
            self._lift_memory_limit()
        except Exception:
            pass

    def _seed_random(self, env: Any) -> None:
        seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        env[b"seed"](seed)

    def _state_path(self) -> str:
        directory = self.config["state_directory"]
        if not directory:
            base = getattr(self.context, "base_dir", ".") or "."
            directory = os.path.join(base, "sandbox_preservation")
        return os.path.join(os.fspath(directory),
                            re.sub(r"\W", "_", self.name) + ".data")

    # -- calling into Lua --------------------------------------------------

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Call an entry point; a Lua error escaping it becomes "E"."""
        try:
            return fn(*args)
        except _lupa.LuaError as e:
            return self._escaped(e)

    def _escaped(self, exc: BaseException) -> Any:
        self._env[b"sethook"]()
        try:
            self._env[b"unarm"]()
        except _lupa.LuaError:
            pass
        state = self._state
        if state[b"tripped"]:
            return ("E", state[b"reason"].decode("utf-8", "replace"))
        return ("E", _lua_error_text(exc))

    def _reason_text(self, r: Any) -> str:
        if isinstance(r, tuple) and len(r) >= 2:
            t = r[1]
            return t.decode("utf-8", "replace") if isinstance(t, bytes) \
                else str(t)
        return repr(r)

    def _check_alive(self) -> None:
        if self._dead is not None:
            raise SandboxTerminated(self._dead.name, self._dead.reason)
        if self._env is None:
            raise SandboxError(f"sandbox {self.name!r} is not started")

    def _terminate(self, reason: str) -> SandboxTerminated:
        reason = reason[:ERROR_SIZE]
        self._dead = SandboxTerminated(self.name, reason)
        self._reader.src = None
        self._close_direct()
        self._lift_memory_limit()
        try:
            self._env[b"sethook"]()
            self._env[b"unarm"]()
            self._env[b"reset_buffer"]()
        except _lupa.LuaError:
            pass
        return SandboxTerminated(self.name, reason)

    def _outcome(self, entry: str, r: Any) -> tuple[int, str | None]:
        """Sort a non-zero entry result; raise for fatal ones.

        Returns ``(status, message)`` for a status the caller handles.
        """
        code = r[0]
        if code == "R" or code == b"R":
            st, msg = r[1], r[2]
            text = None if msg is None else msg.decode("utf-8", "replace")
            if st > 0:
                reason = f"{entry}() received a termination status code"
                if text:
                    reason += f": {text}"
                raise self._terminate(reason)
            if not math.isfinite(st) or st != int(st):
                return -1, text
            return int(st), text
        text = self._reason_text(r)
        if code in ("T", b"T"):
            raise self._terminate(text)
        raise self._terminate(f"{entry}() {text}")

    def _read_loader(self, rt: Any) -> Any:
        """The loader of the C read_message, or False without one.

        Called from Lua as loader(slot, fallback), it returns a C
        function reading the MessageView of the current call directly
        (see _fp_lua.pxi), which calls fallback when it has no view.
        """
        self._slot = -1
        fast = _lupa.fast_reader()
        if fast is None:
            return False
        slot = fast.acquire_slot()
        loader = rt.eval("package.loadlib")(
            fast.__file__.encode(), b"luaopen_hekapy_fastread")
        self._slot = slot
        self._release_slot = weakref.finalize(self, fast.release_slot, slot)
        self._run_with = fast.run_with_message
        self._clear_slot = fast.clear_slot
        self._fast_view = fast.MessageView
        return loader

    def _encode_function(self, rt: Any) -> Any:
        """A C function encoding inject_message tables, or False.

        It returns nothing for a table it does not handle, which then
        goes to the Python encoder (see _fp_lua.pxi).
        """
        fast = _lupa.fast_encoder()
        if fast is None:
            return False
        return rt.eval("package.loadlib")(
            fast.__file__.encode(), b"luaopen_hekapy_fastencode")()

    def _inject_encoded(self, data: bytes) -> None:
        if self.output_limit and len(data) > self.output_limit:
            raise ScriptError("inject_message() output_limit exceeded")
        self._inject_bytes(data, True)

    def _run_process(self, pack: Any) -> Any:
        """Run process_message; 0 on success, else what _outcome takes.

        Raises DecodeError when the message's fields do not decode.
        With the compiled fast path the current view goes into this
        sandbox's slot, and read_message reads it from Lua in C;
        otherwise read_message calls back into the Python reader.
        """
        if self._dead is not None or self._env is None:
            self._check_alive()
        src = pack.view
        self._begin_call(pack, src)
        try:
            if self._slot >= 0 and src.__class__ is self._fast_view:
                r = self._run_with(self._slot, src, self._entry_pm)
            else:
                # Broken fields fail the call before it starts, as
                # run_with_message does.
                src.field_count()
                r = self._entry_pm()
        except _lupa.LuaError as e:
            r = self._escaped(e)
        self._reader.src = None
        n = self.process_count = self.process_count + 1
        if not n & 0xFF:
            self._sample()
        return r

    def _begin_call(self, pack: Any, view: Any) -> None:
        """The state one process_message call reads and counts against.
        """
        reader = self._reader
        reader.src = view
        reader.next_field = 0
        self._pack = pack
        self._inject_left = self.max_process_inject
        self._calls_synced()

    def _process_outcome(self, r: Any) -> tuple[int, str | None]:
        self._sample()
        return self._outcome("process_message", r)

    def _fits(self, size: int) -> bool:
        if not self.memory_limit:
            return True
        used = self._runtime.get_memory_used(total=True) or 0
        return used + 2 * size + 65536 <= self._hard_limit()

    def _fail(self, status: int, text: str | None) -> None:
        self.failure_count += 1
        raise PluginFailure(text or f"process_message() returned {status}")

    def timer_event(self, ns: int) -> None:
        """Call the script's ``timer_event(ns)``; termination is sticky."""
        self._check_alive()
        self._calls_synced()
        self._pack = None
        self._reader.src = None
        self._inject_left = self.max_timer_inject
        self._in_timer = True
        try:
            r = self._guard(self._entry_te, float(ns))
        finally:
            self._in_timer = False
        self._sample()
        if r != 0:
            self._outcome("timer_event", r)

    # -- stop and state -------------------------------------------------------

    def check(self) -> None:
        """Load the script as start() would, then drop it again.

        Raises :class:`hekapy.SandboxError` for a missing file, a syntax
        error or a failing top level; nothing is written.
        """
        self._load_sandbox()
        self._drop_runtime()

    def stop(self) -> None:
        """Write the state file (``preserve_data``) and drop the runtime."""
        if self._env is None:
            return
        self._sample()
        try:
            if self.config["preserve_data"] and self._dead is None:
                _state.save(self, self._state_path())
        finally:
            self._lift_memory_limit()
        self._drop_runtime()

    def _drop_runtime(self) -> None:
        """Let go of every Lua object, so the runtime is freed."""
        d = self._direct
        if d is not None:
            d.close()
            self.process_count = self.calls_made
            self._direct = None
        self._register = None
        self._env = self._state = None
        self._entry_pm = self._entry_te = None
        self._reader.oom = None
        self._reader.src = None
        self._json.null = None
        self._runtime = None
        if self._slot >= 0:
            self._release_slot()
            self._slot = -1

    # -- statistics -------------------------------------------------------

    def _sample_memory(self) -> None:
        # Safe from any thread: lupa keeps the count outside Lua.
        rt = getattr(self, "_runtime", None)
        if rt is None:
            return
        used = rt.get_memory_used(total=True) or 0
        if used > self._max_memory:
            self._max_memory = used

    def _sample(self) -> None:
        """Memory and the peaks kept in Lua; only where Lua may run."""
        state = self._state if self._env is not None else None
        if state is not None:
            # Read before memory is sampled: reading allocates a little.
            self._peaks = (int(state[b"ins_max"]), int(state[b"out_max"]))
        self._sample_memory()

    @property
    def stats(self) -> dict[str, int]:
        """Usage counters as Heka reported them for a sandbox.

        ``max_memory`` is sampled after calls, ``max_instructions`` is
        counted in steps of up to 1000 instructions.  Safe from any
        thread: with a compiled caller, Lua is read under its lock, so
        never while the routing loop runs the script.
        """
        d = self._direct
        if d is None:
            self._sample()
        else:
            with d:
                self._sample()
        peaks = self._peaks
        self._sample_memory()
        rt = getattr(self, "_runtime", None)
        return {
            "memory": (rt.get_memory_used(total=True) or 0) if rt else 0,
            "max_memory": self._max_memory,
            "max_instructions": peaks[0],
            "max_output": peaks[1],
            "process_count": self.calls_made,
            "failures": self.failure_count,
            "inject_count": self.inject_count,
        }

    # -- callbacks from Lua ---------------------------------------------------

    def _call(self, name: bytes, *args: Any) -> Any:
        d = self._direct
        if d is not None and d.calls != self._synced:
            self._sync_direct(d)
        try:
            res = self._handlers[name](*args)
        except ScriptError as e:
            return (False, str(e).encode("utf-8", "surrogateescape"))
        except _lupa.LuaMemoryError:
            return (False, b"not enough memory")
        except _lupa.LuaError as e:
            return (False, _lua_error_text(e).encode())
        except Exception as e:  # never let a Python object reach Lua
            return (False, f"{name.decode()}() failed: "
                           f"{type(e).__name__}".encode())
        if isinstance(res, tuple):
            return (True, *res)
        return (True, res)

    def _read_config(self, name: bytes) -> Any:
        table = self.config.get("config") or {}
        v = table.get(name.decode("utf-8", "surrogateescape"))
        if isinstance(v, str):
            return v.encode("utf-8", "surrogateescape")
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            return float(v) if abs(v) >= 2 ** 53 else v
        if isinstance(v, float):
            return v
        return None

    def _decode_message(self, data: bytes) -> Any:
        try:
            msg = decode_message(data)
        except DecodeFailure as e:
            raise ScriptError(str(e)) from None
        self._make_room(16 * len(data) + 4096)
        return self._runtime.table_from(msg, recursive=True)

    def _output_text(self, value: Any) -> bytes | None:
        fn = self._env[b"output_object"]
        text = fn(value)
        return text if isinstance(text, bytes) else None

    def _inject_message(self, msg: Any) -> None:
        if isinstance(msg, bytes):
            self._inject_bytes(msg, False)
            return
        try:
            data = encode_table(msg, self._output_text)
        except TableError as e:
            raise ScriptError("inject_message() could not encode protobuf "
                              f"- {e}") from None
        if self.output_limit and len(data) > self.output_limit:
            raise ScriptError("inject_message() output_limit exceeded")
        self._inject_bytes(data, True)

    def _count_inject(self) -> None:
        if self.sandbox_kind == "filter":
            if self._inject_left <= 0:
                raise ScriptError(
                    "inject_message() exceeded InjectMessage count")
            self._inject_left -= 1
        self.inject_count += 1

    def _inject_payload_cb(self, ptype: bytes, pname: bytes,
                           payload: bytes) -> None:
        self._inject_payload(ptype, pname, payload)

    def _inject_bytes(self, data: bytes, from_table: bool) -> None:
        raise NotImplementedError

    def _inject_payload(self, ptype: bytes, pname: bytes,
                        payload: bytes) -> None:
        raise NotImplementedError

    def _mutable(self) -> Message:
        src = self._reader.src
        if isinstance(src, MessageSource):
            return src.message
        if self._pack is None:
            raise ScriptError("write_message() failed")
        msg = Message.decode(self._pack.raw)
        self._reader.src = MessageSource(msg, self._pack.raw)
        if self._slot >= 0:
            # The view no longer shows the message: reads go to Python.
            self._clear_slot(self._slot)
        return msg

    def _write_message(self, name: bytes, value: Any, rep: bytes,
                       fi: float, ai: float | None, ai_given: bool) -> None:
        msg = self._mutable()
        try:
            write_message(msg, name, value, rep, fi,
                          ai if ai_given else None)
        except WriteFailed:
            raise ScriptError("write_message() failed") from None
        self._write_src = self._reader.src

    def _find_module(self, name: bytes) -> Any:
        text = name.decode("utf-8", "surrogateescape")
        if not _MODULE_NAME.match(text):
            return (None, f"invalid module name '{text}'".encode())
        if text in _DISABLED:
            return (None, f"module '{text}' disabled".encode())
        if text in _HEKAPY_MODULES:
            return (b"hekapy", _lupa.read_lua(_HEKAPY_MODULES[text]),
                    f"=[hekapy] {text}".encode())
        if text == "lpeg":
            path = _lupa.find_lpeg()
            if path is None:
                return (None, b"module 'lpeg' not found: install the "
                              b"Debian package lua-lpeg "
                              b"(apt-get install lua-lpeg)")
            return (b"lpeg", os.fsencode(path))
        for directory in self._module_dirs():
            path = os.path.join(directory, *text.split(".")) + ".lua"
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    return (b"lua", fh.read(), b"@" + os.fsencode(path))
        if text == "re":
            path = _lupa.find_re()
            if path is not None and _lupa.find_lpeg() is not None:
                with open(path, "rb") as fh:
                    return (b"lua", fh.read(), b"@" + os.fsencode(path))
        return (None, f"module '{text}' not found".encode())

    def _module_dirs(self) -> list[str]:
        value = self.config["module_directory"]
        if not value:
            return []
        if isinstance(value, (list, tuple)):
            return [os.fspath(v) for v in value]
        return [d for d in str(value).split(";") if d]

    def _cjson_setup(self, null: Any) -> None:
        self._json.null = null

    def _cjson_encode(self, value: Any) -> bytes:
        try:
            data = self._json.encode(value)
        except JsonError as e:
            raise ScriptError(str(e)) from None
        self._make_room(2 * len(data) + 4096)
        return data

    def _cjson_decode(self, data: bytes) -> Any:
        try:
            value = self._json.decode(data)
        except JsonError as e:
            raise ScriptError(str(e)) from None
        self._make_room(16 * len(data) + 4096)
        if isinstance(value, dict):
            return self._runtime.table_from(value, recursive=True)
        return value

    def _cjson_option(self, option: bytes, value: Any) -> Any:
        if option == b"decode_null":
            if value is not None:
                self._json.decode_null = bool(value)
            return self._json.decode_null
        if option in (b"encode_max_depth", b"decode_max_depth"):
            if isinstance(value, (int, float)) and value >= 1:
                self._json.max_depth = int(value)
            return self._json.max_depth
        return None
