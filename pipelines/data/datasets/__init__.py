"""One module per dataset, each turning verified raw files into its prepared output (docs/design.md §2).

Every module exposes ``build(raw, params, seed, out) -> dict``: it reads ``raw`` (the dataset's raw
folder), writes its outputs atomically below ``out`` (``data/prepared``) and returns the facts for the
provenance record (``counts`` per split and anything else a reader should know).
"""

__all__: list[str] = []
