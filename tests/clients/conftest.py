from ..sessions.conftest import character, speech24

__all__ = ["character", "speech24"]
