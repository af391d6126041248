"""`velocimex bench`: the hardware model and the software fallback on the same capture."""
