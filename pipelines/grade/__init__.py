"""Grading in the trusted process: probes -> sandbox -> exported arrays -> pytest graders -> scores.

Grader authors only need ``pipelines.grade.api``; the rest of this package is the engine.
"""
