"""lpm_guard.policy — pure checks over text, audio and images (built in the Policy issue).

A library: it imports nothing from the gate or the other stages.
"""
