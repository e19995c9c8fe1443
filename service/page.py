"""The search page for people: ``GET /`` and its few static files, all served from here.

Plain HTML, CSS and one small script; nothing is built and nothing is loaded from elsewhere (the
machines this runs on have no internet). The page calls the public JSON API from the browser, so
it shows exactly what the API answers, errors included.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from service.openapi import Reply, operation

bp = Blueprint(
    "page",
    __name__,
    static_folder="static",
    static_url_path="/ui",  # the app's own /static serves the same folder; /ui is this page's
    template_folder="templates",
)

# Everything the page uses comes from this origin: a page that tried to load a font or a script
# from elsewhere would break here, so the browser is told to refuse it outright.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@bp.get("/")
@operation(Reply("HTML"))
def index() -> Response:
    """The search page for people."""
    response = Response(render_template("index.html"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # The page is small and its script changes with the code: always revalidate.
    response.headers["Cache-Control"] = "no-cache"
    return response
