"""preserve_data: write the sandbox's globals on stop, read them on start.

The file is Lua source produced inside the sandbox (see
``sandbox_env.lua``).  It is written to a temporary file in the same
directory, flushed to disk and renamed over the old one, so a process
that dies while writing leaves the previous state file whole.  The
instruction limit is lifted and the memory limit widened while the
state is written or read back.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from hekapy._errors import SandboxError
from hekapy.sandbox import _lupa


def write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see old or new, whole."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".data",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _unlimited(host: Any, extra: int = 0) -> None:
    host._env[b"unarm"]()
    if host.memory_limit:
        rt = host._runtime
        room = max(4 * host.memory_limit, 64 * 1024 * 1024) + extra
        rt.set_max_memory((rt.get_memory_used(total=True) or 0) + room,
                          total=True)


def _limited(host: Any) -> None:
    if host.memory_limit:
        host._runtime.set_max_memory(host._hard_limit(), total=True)


def save(host: Any, path: str) -> None:
    """Serialise the globals of ``host``'s sandbox into ``path``."""
    _unlimited(host)
    try:
        text = host._env[b"serialize"]()
    except _lupa.LuaError as e:
        raise SandboxError(f"sandbox {host.name!r} could not preserve its "
                           f"state: {e}") from None
    finally:
        _limited(host)
    write_atomically(path, text)


def restore(host: Any, path: str) -> str | None:
    """Run the state file, if any; the error text when that failed."""
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot read {path!r}: {e.strerror}"
    _unlimited(host, 2 * len(text))
    try:
        r = host._env[b"restore"](text)
    except _lupa.LuaError as e:
        return str(e).split("\nstack traceback:")[0]
    finally:
        _limited(host)
    if r == 0:
        return None
    t = r[1]
    return t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t)
