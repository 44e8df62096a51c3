"""Where images come from: encoded bytes -> an upright BGR array (decode.py), URLs -> bytes (fetch.py).

Both raise the errors of errors.py, never a protocol's; each API adapter maps them to its own.
"""
