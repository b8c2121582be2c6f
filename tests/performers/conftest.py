from __future__ import annotations

from ..access.conftest import _cheap_argon2
from ..consent.conftest import people

# Fixtures shared with other folders: cheap password hashing, and the consent photos.
__all__ = ["_cheap_argon2", "people"]
