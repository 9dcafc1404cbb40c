"""The trusted half of the integrity check (``pipelines.execute.integrity``): no points for probes of
code that uses modules the unit does not allow, and one clear message saying what and where."""

from __future__ import annotations

from pipelines.execute import statuses
from pipelines.execute.integrity import allowed_modules, describe, rule_text, static_violations, tainted
from pipelines.grade.job import Job
from pipelines.grade.probe_io import ProbeResult


def enforce(job: Job, results: dict[str, ProbeResult]) -> dict[str, ProbeResult]:
    """``results`` with every probe of a function that reaches a forbidden module turned into a failure."""
    allowed = allowed_modules(job.unit.config)
    if allowed is None:
        return results
    violations = static_violations(job.export_source, allowed)
    if not violations:
        return results
    taint = tainted(job.export_source, violations)

    def culprit(r: ProbeResult) -> str | None:
        """The first name the probe calls (a chain calls several) that reaches a forbidden module."""
        return next((c for c in (r.call, *r.calls) if c in taint), None)

    checked = {name: (ProbeResult(name, r.call, outcome="error", error=describe(c, taint[c], job.unit.name, allowed))
                      if (c := culprit(r)) else r) for name, r in results.items()}
    used = ", ".join(sorted({f"`{v.what}`" for v in violations}))
    touched = sorted({c for r in results.values() if (c := culprit(r))})
    consequence = f"the checks of {', '.join(touched)} got no points" if touched else "no check used them"
    job.flag(statuses.ERROR, f"your export cells use {used}, which {job.unit.name} does not allow there (allowed: "
                             f"{rule_text(allowed)}); {consequence}.")
    return checked
