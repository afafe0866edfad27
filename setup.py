"""Build the compiled fast path; fall back to the pure twin without one.

``HEKAPY_NO_EXTENSIONS=1`` skips the build.  ``HEKAPY_DEBUG=1`` builds
with line tracing and bounds checks for coverage and debugging.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("HEKAPY_DEBUG", "") not in ("", "0")
SKIP = os.environ.get("HEKAPY_NO_EXTENSIONS", "") not in ("", "0")


class OptionalBuildExt(build_ext):
    """Build extensions, but never fail the install because of them."""

    def run(self):
        try:
            super().run()
        except Exception as exc:
            self._warn(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc)

    @staticmethod
    def _warn(exc):
        print(f"WARNING: hekapy's fast path was not compiled ({exc}); "
              "the pure-Python twin will be used", file=sys.stderr)


def extensions():
    if SKIP:
        return []
    from Cython.Build import cythonize

    directives = {"language_level": 3, "embedsignature": True,
                  "boundscheck": DEBUG, "wraparound": False,
                  "cdivision": True, "linetrace": DEBUG}
    macros = [("CYTHON_TRACE_NOGIL", "1")] if DEBUG else []
    ext = Extension("hekapy._fastpath", ["hekapy/_fastpath.pyx"],
                    define_macros=macros, extra_compile_args=["-O2"])
    return cythonize([ext], compiler_directives=directives,
                     compile_time_env={"HEKAPY_DEBUG": DEBUG})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
