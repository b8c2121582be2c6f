from ..sessions.conftest import app, base, character, speech24

__all__ = ["app", "base", "character", "speech24"]
