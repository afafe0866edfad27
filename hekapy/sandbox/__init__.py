"""Lua sandboxes: Heka's SandboxFilter, SandboxDecoder and SandboxEncoder.

This is the only package in hekapy that imports lupa.  Scripts run in Lua
5.1 with Heka 0.10's sandbox API, under ``memory_limit``,
``instruction_limit`` and ``output_limit``; a script that breaks a limit
is terminated (:class:`hekapy.SandboxTerminated`) and the process goes
on.
"""

from hekapy.sandbox._plugins import (
    SandboxDecoder,
    SandboxEncoder,
    SandboxFilter,
    termination_message,
)

__all__ = ["SandboxDecoder", "SandboxEncoder", "SandboxFilter",
           "termination_message"]
