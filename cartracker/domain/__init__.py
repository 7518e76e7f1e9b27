"""The pure Car aggregate: commands in, events out, state folded from events.

Nothing here does I/O or reads the clock; the handler passes `now`.
"""
