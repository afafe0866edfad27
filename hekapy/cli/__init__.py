"""hekapy.cli."""
