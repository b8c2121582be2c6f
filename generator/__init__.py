"""lpm_guard.generator — the portrait performer (built in the Generator issue).

A library: it imports nothing from the gate or the other stages.
"""
