"""hekapy-router: hekad-style TOML configuration run as a daemon.

:mod:`~hekapy.daemon.config` reads and validates configuration,
:mod:`~hekapy.daemon.registry` finds plugin types by name,
:mod:`~hekapy.daemon.host` splits, decodes and routes what inputs read,
:mod:`~hekapy.daemon.pipeline` builds and runs the plugins around a
:class:`hekapy.Router`, :mod:`~hekapy.daemon.cli` is the command line and
:mod:`~hekapy.daemon.logsetup` the only place that configures logging.
See docs/daemon.md.
"""
