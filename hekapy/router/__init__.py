"""hekapy.router."""
