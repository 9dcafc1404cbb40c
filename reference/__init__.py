"""Reference solutions (instructor-only): ``reference.numpy`` and ``reference.torch``.

Graders compare student outputs with both; the sandbox never sees this package.
"""
