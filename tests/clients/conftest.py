from ..live.conftest import _cheap_argon2, app, base, character, live_world, speech24

__all__ = ["_cheap_argon2", "app", "base", "character", "live_world", "speech24"]
