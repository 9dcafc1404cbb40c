"""deepgrade: a reproducible, sandboxed course grader for a CS231n-style deep-learning course.

The package mirrors the data flow of a term: ``data`` (fetch, verify, prepare, load) ->
``release`` -> ``execute`` (sandboxed notebooks) -> ``grade`` (trusted comparison) -> ``report``.
``kit`` is the small helper library students use in their notebooks.
"""

__version__ = "0.1.0"

from pipelines.execute.imports import skip_slow_optional_imports

skip_slow_optional_imports()  # every process that imports the engine (forkserver workers too)
