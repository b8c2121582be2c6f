"""Liveness: what a live consent capture must show, checked on the video the subject recorded.

``script`` draws the challenge (head turns, a blink, digits, the statement) and times it;
the checks read the recording against it. Nothing here touches the database: the consent
service adds the checks that need stored data (face match, protected people, copies, our
watermark) and decides.
"""

from .script import Prompt, Script, Step, new_script

__all__ = ["Prompt", "Script", "Step", "new_script"]
