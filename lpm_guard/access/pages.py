"""The sign-in page of the authorization endpoint, rendered on the server (no script needed).

Every value is HTML-escaped; the page may not be framed (clickjacking)."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · lpm-guard</title><link rel="stylesheet" href="/style.css"></head>
<body><main>
<h1>{title}</h1>
{body}
</main></body></html>
"""


def login_page(query: str, scopes: list[str], error: str | None, status: int = 200) -> HTMLResponse:
    asked = ", ".join(escape(scope) for scope in scopes) or "your account and applications"
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""<p>Sign in to lpm-guard. The web pages ask for: {asked}.</p>
{problem}
<form method="post" action="/oauth/authorize?{escape(query)}">
  <label>Email <input name="email" type="email" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"
    required></label>
  <button type="submit">Sign in</button>
</form>
<p>No account? <a href="/signup.html">Apply for research access</a>.</p>"""
    return HTMLResponse(_PAGE.format(title="Sign in", body=body), status, headers=HEADERS)


def change_password_page(query: str, email: str, error: str | None) -> HTMLResponse:
    """The first sign-in with a one-time password: choose your own before going on."""
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""<p>You signed in with a one-time password. Choose your own password
(12 characters or more) to go on.</p>
{problem}
<form method="post" action="/oauth/authorize?{escape(query)}">
  <input type="hidden" name="email" value="{escape(email)}">
  <label>One-time password <input name="password" type="password"
    autocomplete="current-password" required></label>
  <label>New password <input name="new_password" type="password" autocomplete="new-password"
    minlength="12" required></label>
  <button type="submit">Set password and sign in</button>
</form>"""
    return HTMLResponse(_PAGE.format(title="Choose a password", body=body), 200, headers=HEADERS)


def error_page(message: str, status: int) -> HTMLResponse:
    body = f'<p class="error" role="alert">{escape(message)}</p>'
    return HTMLResponse(_PAGE.format(title="Cannot sign in", body=body), status, headers=HEADERS)
