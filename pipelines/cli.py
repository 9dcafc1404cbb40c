"""The ``deepgrade`` command line: one subcommand per step of a term (docs/design.md §3 is the contract).

Each handler imports its module lazily, so ``deepgrade check`` on a student's laptop does not pay
for the grading engine, and a broken optional piece cannot stop the others.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from pipelines.errors import DeepgradeError
from pipelines.execute.imports import skip_slow_optional_imports

DATASETS = ("mnist", "cifar10", "coco")


def _doctor(args: argparse.Namespace) -> int:
    from pipelines.doctor import run_doctor

    return run_doctor()


def _data_fetch(args: argparse.Namespace) -> int:
    from pipelines.data.fetch import fetch

    fetch(args.dataset)
    return 0


def _data_prepare(args: argparse.Namespace) -> int:
    from pipelines.data.prepare import prepare

    prepare(args.dataset)
    return 0


def _release(args: argparse.Namespace) -> int:
    from pipelines.release import release

    release(args.assignment)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pipelines.validate import validate

    return validate(args.assignment)


def _autograde(args: argparse.Namespace) -> int:
    from pipelines.grade.batch import autograde

    autograde(
        args.assignment,
        Path(args.submitted_dir),
        Path(args.out),
        workers=args.workers,
        use_cache=not args.no_cache,
        summary=Path(args.summary) if args.summary else None,
        unsafe_no_sandbox=args.unsafe_no_sandbox,
        plots=Path(args.plots) if args.plots else None,
        executor=args.executor,
        scheduler=args.scheduler,
    )
    return 0  # the batch ran: whatever the students scored (DESIGN: exit status)


def _replay(args: argparse.Namespace) -> int:
    from pipelines.paths import examples_dir, project_root
    from pipelines.replay import print_replay

    graded = Path(args.graded) if args.graded else project_root() / "graded" / args.assignment
    submitted = Path(args.submitted) if args.submitted else examples_dir(args.assignment)
    return print_replay(args.assignment, args.student, graded, submitted)


def _similarity(args: argparse.Namespace) -> int:
    from pipelines.similarity_report import write_similarity_report

    out = Path(args.out)
    flagged = write_similarity_report(args.assignment, Path(args.submitted_dir), out)
    for pair in flagged:
        print(f"{pair.a} & {pair.b}: {100 * pair.score:.0f} % ({pair.shared} shared fingerprints)")
    print(f"{len(flagged)} pair(s) flagged; staff only: {out / 'similarity.html'}")
    return 0


def _term(args: argparse.Namespace) -> int:
    from pipelines.term import grade_term

    grade_term(args.units, Path(args.submitted) if args.submitted else None, Path(args.out), workers=args.workers,
               executor=args.executor, scheduler=args.scheduler, use_cache=not args.no_cache,
               unsafe_no_sandbox=args.unsafe_no_sandbox)
    return 0  # the term ran: whatever the students scored


def _examples(args: argparse.Namespace) -> int:
    from pipelines.examples import make_examples
    from pipelines.paths import examples_dir

    for assignment in args.assignments:
        for path in make_examples(assignment, Path(args.out) if args.out else examples_dir(assignment)):
            print(path)
    return 0


def _export(args: argparse.Namespace) -> int:
    from pipelines.staff.exports import FORMATS, export

    report = export(args.assignments, Path(args.graded), Path(args.out), tuple(args.format or FORMATS),
                    Path(args.submitted) if args.submitted else None)
    for path in report.written:
        print(path)
    for note in report.notes:
        print(f"deepgrade: note: {note}", file=sys.stderr)
    for result, why in report.missing:
        print(f"deepgrade: {result.assignment}/{result.student_id} ({result.score:g}/{result.max_score:g}) is in no "
              f"LMS file: {why}", file=sys.stderr)
    # A grade that reached no LMS file must not pass unnoticed in a script: exit 1 (files are written).
    return 1 if report.missing else 0


def _report(args: argparse.Namespace) -> int:
    from pipelines.params import load_params
    from pipelines.report.class_report import ReportSettings
    from pipelines.report.term_report import write_reports

    settings = ReportSettings.from_params(load_params())
    for path in write_reports(args.assignments, Path(args.graded), Path(args.out), settings):
        print(path)
    return 0


def _check(args: argparse.Namespace) -> int:
    from pipelines.check import check_notebook

    return check_notebook(Path(args.notebook))


def _fidelity(args: argparse.Namespace) -> int:
    from pipelines.grade.fidelity import check_fidelity, print_report
    from pipelines.grade.unit import Unit

    status = 0
    for assignment in args.assignments:
        report = check_fidelity(Unit.load(assignment), workers=args.workers,
                                progress=lambda label: print(f"  graded {label}", file=sys.stderr))
        status = max(status, print_report(report))
    return status


def _calibrate(args: argparse.Namespace) -> int:
    from pipelines.calibrate import calibrate

    settings = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        try:
            settings[key] = float(value)
        except ValueError:
            raise DeepgradeError(f"--set {item}: expected KEY=NUMBER") from None
    return calibrate(args.assignment, args.profile, _seeds(args.seeds), settings)


def _seeds(text: str) -> list[int]:
    """``0-4`` or ``0,3,231``: the seeds to run."""
    try:
        if "-" in text:
            first, last = (int(part) for part in text.split("-", 1))
            return list(range(first, last + 1))
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise DeepgradeError(f"--seeds {text}: expected FIRST-LAST or a comma-separated list") from None


def _batch_options(p: argparse.ArgumentParser) -> None:
    """The options of ``autograde`` and ``term``: the cache, the sandbox, and where submissions are graded."""
    p.add_argument("--no-cache", action="store_true", help="re-execute even unchanged submissions")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="grade even without a working bubblewrap sandbox (student code then runs with your "
                        "rights; every output says so)")
    p.add_argument("--workers", type=int, default=1, help="--executor local: submissions graded in parallel")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where submissions are graded: this machine's process pool, or a Dask cluster")
    p.add_argument("--scheduler", help="--executor dask: the scheduler's address, e.g. tcp://host:8786 (the "
                                       "course checkout, submissions and cache on a filesystem every worker mounts)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepgrade", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="check that the sandbox, kernel and libraries work here")
    p.set_defaults(func=_doctor)

    data = sub.add_parser("data", help="fetch and prepare datasets (the DVC data stages)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("fetch", help="download (or take from $DEEPGRADE_DATA_MIRROR) and verify")
    p.add_argument("dataset", choices=DATASETS)
    p.set_defaults(func=_data_fetch)
    p = data_sub.add_parser("prepare", help="turn verified raw files into data/prepared/")
    p.add_argument("dataset", choices=DATASETS)
    p.set_defaults(func=_data_prepare)

    p = sub.add_parser("release", help="make the student version of an assignment in release/")
    p.add_argument("assignment")
    p.set_defaults(func=_release)

    p = sub.add_parser("validate", help="the source solution must score full marks")
    p.add_argument("assignment")
    p.set_defaults(func=_validate)

    p = sub.add_parser("autograde", help="grade every submission in an nbgrader-style folder")
    p.add_argument("assignment")
    p.add_argument("submitted_dir", help="<submitted_dir>/<student_id>/<assignment>/<notebook>.ipynb")
    p.add_argument("--out", required=True, help="where grades.csv and per-student results go")
    p.add_argument("--summary", help="also write the class summary (a DVC metric) to this JSON file")
    p.add_argument("--plots", help="also write the data of the DVC plots (pass rates, score distribution) to this folder")
    _batch_options(p)
    p.set_defaults(func=_autograde)

    p = sub.add_parser("term", help="grade every unit of the term (params.yaml: units) in one call, with a term summary")
    p.add_argument("--units", nargs="+", metavar="unit", help="only these units (default: all)")
    p.add_argument("--submitted", help="<submitted>/<student_id>/<unit>/<notebook>.ipynb (default: each unit's "
                                       "examples/<unit>/submitted)")
    p.add_argument("--out", required=True, help="<out>/<unit>/ per unit; term_units.csv, term_students.csv and "
                                                "term_report.html in <out>")
    _batch_options(p)
    p.set_defaults(func=_term)

    p = sub.add_parser("export", help="write graded units for Gradescope, Canvas, Moodle and nbgrader's feedback "
                                      "release (exit 1 when a graded student is in no LMS file)")
    p.add_argument("assignments", nargs="+", metavar="assignment")
    p.add_argument("--graded", default="graded", help="where autograde wrote each unit: <graded>/<unit> (default graded)")
    p.add_argument("--out", default="exports", help="where the exports go (default exports)")
    p.add_argument("--format", action="append", metavar="gradescope|canvas|moodle|nbgrader",
                   help="only this format (repeatable; default all)")
    p.add_argument("--submitted", help="nbgrader's submitted/ folder: the timestamp.txt and submission_secret.txt "
                                       "that nbgrader release_feedback needs beside each feedback")
    p.set_defaults(func=_export)

    p = sub.add_parser("report", help="class report of each graded unit (failures grouped, blind spots, what moved "
                                      "since the last report) and the term's (staff only)")
    p.add_argument("assignments", nargs="+", metavar="assignment")
    p.add_argument("--graded", default="graded", help="where autograde wrote each unit: <graded>/<unit> (default graded)")
    p.add_argument("--out", default="reports", help="where the reports go (default reports)")
    p.set_defaults(func=_report)

    p = sub.add_parser("replay", help="grade one submission again with the versions its results.json records "
                                      "(an appeal): the differences per test, or which version is unavailable")
    p.add_argument("assignment")
    p.add_argument("student")
    p.add_argument("--graded", help="the autograde output holding <student>/results.json (default: graded/<assignment>)")
    p.add_argument("--submitted", help="the submission folder that was graded (default: examples/<assignment>/submitted)")
    p.set_defaults(func=_replay)

    p = sub.add_parser("similarity", help="rank pairs of submissions whose export cells are alike (staff only): "
                                          "similarity.json and a side-by-side similarity.html")
    p.add_argument("assignment")
    p.add_argument("submitted_dir", help="<submitted_dir>/<student_id>/<assignment>/<notebook>.ipynb")
    p.add_argument("--out", required=True, help="the staff's folder for the report (never a student's folder)")
    p.set_defaults(func=_similarity)

    p = sub.add_parser("examples", help="generate example submissions of assignments from their sources")
    p.add_argument("assignments", nargs="+", metavar="assignment")
    p.add_argument("--out", help="default: examples/<assignment>/submitted, one folder per assignment")
    p.set_defaults(func=_examples)

    p = sub.add_parser("check", help="run a notebook's visible self-checks, and its export cells alone as the grader will (for students)")
    p.add_argument("notebook")
    p.set_defaults(func=_check)

    p = sub.add_parser("calibrate", help="grade the source solution over seeds and write what it measured beside each "
                                         "threshold in params.yaml (instructors: thresholds on your data)")
    p.add_argument("assignment")
    p.add_argument("--profile", choices=("full", "ci"), required=True, help="the profile whose thresholds are measured "
                                                                            "(the prepared data must be its)")
    p.add_argument("--seeds", default="0-4", help="seeds of the solution's runs: FIRST-LAST or a,b,c (default 0-4)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="also set this threshold of the profile")
    p.set_defaults(func=_calibrate)

    p = sub.add_parser("fidelity", help="grade each unit's buggy and correct variants (fidelity.yaml) by probes and graders only")
    p.add_argument("assignments", nargs="+")
    p.add_argument("--workers", type=int, default=2, help="probe runs at once (default 2)")
    p.set_defaults(func=_fidelity)
    return parser


def main(argv: list[str] | None = None) -> int:
    skip_slow_optional_imports()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DeepgradeError as exc:
        print(f"deepgrade: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """The ``deepgrade`` command: ``main``, then exit without the garbage collector's passes over
    every object the command loaded while the interpreter tears its modules down (nbgrader,
    SQLAlchemy, pytest: 0.35-0.45 s of every command, measured). Files and the gradebook are closed
    by then, and atexit handlers (temporary folders, logging) still run; only the process ends."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
