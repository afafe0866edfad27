"""Calls of a sandbox filter made by the router's compiled loop.

:class:`DirectCaller` is the part of the sandbox host that deals with a
DirectCall (``hekapy/_fp_luacall.pxi``): registering the entry point
when the script loads, handing the caller to the router, judging the
calls that did not return 0, and setting up a call's state the first
time the script calls back into Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from hekapy._pack import Pack
from hekapy.sandbox import _lupa

_LUA_ERRMEM = 4  # lua_pcall's status for a failed allocation


class DirectCaller:
    """Mixin of :class:`hekapy.sandbox._host.SandboxHost` (see above)."""

    if TYPE_CHECKING:
        sandbox_kind: ClassVar[str]
        process_count: int
        _slot: int
        _register: Any
        _runtime: Any
        _direct: Any
        _dead: Any
        _env: Any
        _synced: int
        _sample: Callable[[], None]
        _escaped: Callable[[BaseException], Any]
        _process_outcome: Callable[[Any], tuple[int, str | None]]
        _fail: Callable[[int, str | None], None]
        _begin_call: Callable[[Any, Any], None]

    def _direct_loader(self, rt: Any) -> Any:
        """The C function that registers an entry point for DirectCall,
        or None (no compiled caller, or not a filter)."""
        fast = _lupa.fast_caller()
        if fast is None or self._slot < 0 \
                or self.sandbox_kind != "filter":
            return None
        return rt.eval("package.loadlib")(
            fast.__file__.encode(), b"luaopen_hekapy_direct")

    def direct_target(self) -> Any:
        """A compiled caller of this sandbox's process_message, or None.

        The router's compiled loop uses it for an inline filter: the
        call skips Python entirely when the script returns 0.  Outcomes
        other than 0 are judged by :meth:`_direct_outcome`.  Only the
        thread that routes may use it.
        """
        if self._register is None or self._dead is not None \
                or self._env is None:
            return None
        if self._direct is None:
            self._direct = self._register(self._slot)
            self._direct.runtime = self._runtime
            self._direct.on_sample = self._sample
            self._synced = 0
        return self._direct

    def _close_direct(self) -> None:
        d = self._direct
        if d is not None:
            d.close()

    def _direct_outcome(self, r: Any, err: Any) -> None:
        """Judge a direct call that did not return 0, as process_message
        would: raise PluginFailure or SandboxTerminated."""
        if isinstance(r, BaseException):
            raise r
        if err is not None:
            status, text = err
            exc: BaseException = (
                _lupa.LuaMemoryError(text) if status == _LUA_ERRMEM
                else _lupa.LuaError(text))
            r = self._escaped(exc)
        st, text = self._process_outcome(r)
        if st < 0:
            self._fail(st, text)

    def _sync_direct(self, d: Any) -> None:
        # First callback of a direct call: set up what _run_process
        # sets up for a call from Python.
        self._synced = d.calls
        cur = d.current()
        if cur is None:
            return
        raw, view = cur
        self._begin_call(Pack(raw, None, 0, view), view)

    def _calls_synced(self) -> None:
        d = self._direct
        if d is not None:
            self._synced = d.calls

    @property
    def calls_made(self) -> int:
        """process_message calls so far, from Python and from C."""
        d = self._direct
        if d is None:
            return self.process_count
        direct: int = d.calls - d.unread
        return self.process_count + direct
