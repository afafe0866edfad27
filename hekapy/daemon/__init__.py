"""hekapy.daemon."""
