from __future__ import annotations

# Fixtures shared with other folders: the live server with accounts, and the consent photos.
from ..access.conftest import _cheap_argon2, live_world
from ..consent.conftest import people

__all__ = ["_cheap_argon2", "live_world", "people"]
