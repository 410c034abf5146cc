"""The web view for people, served by the HTTP transport at ``/`` (same port and tokens as ``/mcp``).

Modules, by responsibility:

    app.py        the ASGI app: routes, static files, security headers (``build_web``)
    context.py    what every request passes: session, sign-in redirect, form size, CSRF, write access,
                  errors as pages
    session.py    signed session cookies (a token given once) and CSRF tokens
    signin.py     the sign-in and sign-out pages
    pages.py      read pages: the prompt list, a prompt and its render form, history, diffs; the change
                  notice's JSON
    edits.py      edit, review the diff, publish (a publish overtaken by another is kept to merge)
    labels.py     move or remove a label behind a confirmation with the diff; archive
    merging.py    a line-based three-way merge, offered when an edit was overtaken
    changes.py    which prompts changed since a page was rendered (fed by the server's ChangeHub)
    diffview.py   the service's unified diff as unified or side-by-side rows with changed characters
    jinja.py      the template environment (autoescape on) and its filters
    templates/    the pages;  static/  one stylesheet and one small script

It sits beside ``server`` (which mounts it) and above ``service``: every page is built from the service.
"""

from promptshelf.web.app import build_web

__all__ = ["build_web"]
