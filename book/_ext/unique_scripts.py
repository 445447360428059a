"""Drop repeated copies of the same script from each page.

sphinx-thebe (a Jupyter Book 1 default) registers its configuration script in an
``env-before-read-docs`` handler, which runs more than once per build, so every page got the same
``const THEBE_JS_URL = ...`` twice (once with filename ``None``, once with ``''``), and the browser's
second ``const`` declaration threw a SyntaxError on every page. Keeping the first of each identical
script fixes it without changing what any page does.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def drop_repeated_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    seen: set[tuple[str, int, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        # None and '' both mean "inline script"; the body is in the attributes.
        key = (str(getattr(script, "filename", script) or ""), getattr(script, "priority", 500),
               repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
