"""The web pages the app serves (static files, no build step)."""
