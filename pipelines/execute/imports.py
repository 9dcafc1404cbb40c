"""Keep optional modules that cost seconds at import time out of the grader's processes.

``nbformat`` validates notebooks with ``jsonschema``, whose format checkers import
``rfc3987_syntax`` when it is installed (``jupyter-events`` pulls it in); that module builds a
parser at import time: about 1.3 s of every sandboxed notebook run and every trusted process, for
an IRI format that notebook schemas never use. Marking it absent makes jsonschema skip that one
checker, exactly as on a machine without the package.
"""

from __future__ import annotations

import importlib.util
import sys

SLOW_OPTIONAL = ("rfc3987_syntax",)
# The other optional format checkers jsonschema loads at import (``isoduration`` brings ``arrow``):
# about 0.07 s of every notebook run, for formats no notebook schema names.
FORMAT_CHECKERS = ("fqdn", "rfc3987", "rfc3986_validator", "rfc3339_validator", "webcolors",
                   "jsonpointer", "uri_template", "isoduration")


def _mark_absent(names: tuple[str, ...]) -> None:
    """Make ``import name`` raise ImportError, as where the package is not installed."""
    for name in names:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def skip_slow_optional_imports() -> None:
    """Call before the first ``import nbformat``/``papermill`` of a process."""
    _mark_absent(SLOW_OPTIONAL)


def skip_format_checkers() -> None:
    """Call before ``import nbformat`` in the notebook runner, which imports nothing else that
    needs these packages (the trusted processes keep them: they pay the cost once per batch)."""
    _mark_absent(FORMAT_CHECKERS)


# What papermill imports for what the runner never does: ``requests`` for notebooks read from or
# written to http URLs, ``click`` for its command line's help (about 0.1 s of every run together).
DEFERRED = ("requests", "click")


def defer_unused_imports() -> None:
    """Call before ``import papermill`` in the notebook runner: ``DEFERRED`` modules are loaded the
    first time something uses them, not when they are imported (``importlib.util.LazyLoader``, the
    standard library's recipe). The runner reads and writes local files, so they never load."""
    for name in DEFERRED:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


def skip_papermill_plugin_scan() -> None:
    """Call before ``import papermill`` in the notebook runner. papermill registers third-party
    engines and I/O handlers at import by reading the entry points of every installed distribution
    (0.25-0.4 s of every sandboxed run with torch, DVC and Jupyter installed); the runner uses only
    its own engine and local files, so it registers none, as on a machine without such plugins."""
    import entrypoints

    entrypoints.get_group_all = lambda group, path=None: []
