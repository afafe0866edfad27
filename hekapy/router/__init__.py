"""The in-process router: :class:`Router` and its self-report."""

from hekapy.router._report import report_payload
from hekapy.router._router import Router

__all__ = ["Router", "report_payload"]
