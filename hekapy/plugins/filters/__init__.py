"""Built-in filters (the sandbox filter lives in hekapy.sandbox)."""
