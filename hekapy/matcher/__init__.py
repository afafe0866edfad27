"""hekapy.matcher."""
