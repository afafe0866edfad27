"""hekapy.sandbox."""
