"""The published formats the exports are checked against, written down once for the tests.

Gradescope: "Autograder Specifications", Output format (gradescope-autograders.readthedocs.io/en/latest/specs):
every field of results.json and of a test case it documents, with its type; nothing else is allowed
here, so a misspelt field fails. Canvas: the gradebook export/import CSV (Canvas's GradebookImporter
reads back what its exporter writes): five identity columns, then assignments, then a ``Points
Possible`` row. Moodle: grade import from CSV, mapping a column to one of the user fields it accepts.
"""

from __future__ import annotations

VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
NUMBER = {"type": "number"}
TEXT = {"type": "string"}

GRADESCOPE_TEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": NUMBER, "max_score": NUMBER, "status": {"enum": ["passed", "failed"]}, "name": TEXT,
        "name_format": FORMAT, "number": TEXT, "output": TEXT, "output_format": FORMAT,
        "tags": {"type": "array", "items": TEXT}, "visibility": VISIBILITY, "extra_data": {"type": "object"},
    },
}

GRADESCOPE_RESULTS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["score"],  # optional in the spec only when every test has a score; a late penalty needs it
    "properties": {
        "score": NUMBER, "execution_time": NUMBER, "output": TEXT, "output_format": FORMAT,
        "test_output_format": FORMAT, "test_name_format": FORMAT, "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY, "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": GRADESCOPE_TEST},
        "leaderboard": {"type": "array"},
    },
}

CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_POSSIBLE = "    Points Possible"

MOODLE_MAP_TO = ("userid", "username", "useridnumber", "useremail")
