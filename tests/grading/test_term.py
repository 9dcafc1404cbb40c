"""``deepgrade term``: every unit of a term in one call, and the term's summary per unit and per student."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from pipelines.cli import main
from pipelines.grade.progress import GradingProgress
from pipelines.params import _load
from pipelines.results import StudentResult
from tests.grading import toy

SECOND = "t01_toy"  # the toy unit again, under a second name: a term of two units
WRONG_GRADIENT = "import numpy as np\ndef quad(x, w):\n    return 0.5 * float(np.sum(w * x * x)), 2 * w * x\n"


@pytest.fixture(scope="module")
def term_root(toy_root: Path) -> Path:
    shutil.copytree(toy_root / "assignments" / toy.UNIT, toy_root / "assignments" / SECOND)
    params = yaml.safe_load((toy_root / "params.yaml").read_text())
    params["units"] = {toy.UNIT: params["units"][toy.UNIT], SECOND: params["units"][toy.UNIT]}
    (toy_root / "params.yaml").write_text(yaml.safe_dump(params))
    _load.cache_clear()
    for sid in ("ann", "bob", "cid"):
        toy.submission(toy_root, sid, submitted="term")
    toy.submission(toy_root, "ann", submitted="term", unit=SECOND)
    toy.submission(toy_root, "bob", WRONG_GRADIENT, submitted="term", unit=SECOND)
    return toy_root  # cid did not submit the second unit


def rows(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_term_grades_every_unit_and_summarizes_them(term_root: Path) -> None:
    out = term_root / "term-graded"
    assert main(["term", "--submitted", str(term_root / "term"), "--out", str(out), "--workers", "2"]) == 0
    units = {r["assignment"]: r for r in rows(out / "term_units.csv")}
    assert list(units) == [toy.UNIT, SECOND]
    assert (units[toy.UNIT]["students"], units[toy.UNIT]["ok"], units[toy.UNIT]["graded"]) == ("3", "3", "3")
    assert (units[SECOND]["ok"], units[SECOND]["missing"], units[SECOND]["mean_score"]) == ("2", "1", "2.67")
    students = {r["student_id"]: r for r in rows(out / "term_students.csv")}
    assert {s: (r["total"], r["max_total"]) for s, r in students.items()} == {
        "ann": ("10", "10"), "bob": ("8", "10"), "cid": ("5", "10")}
    assert students["cid"][f"{SECOND}:status"] == "missing"
    for unit in (toy.UNIT, SECOND):
        assert (out / unit / "grades.csv").is_file() and (out / unit / "class_report.html").is_file()
    html = (out / "term_report.html").read_text()
    assert SECOND in html and "missing" in html

    assert main(["term", "--units", SECOND, "--submitted", str(term_root / "term"), "--out", str(out)]) == 0
    assert [(r["assignment"], r["cached"], r["graded"]) for r in rows(out / "term_units.csv")] == [(SECOND, "3", "0")]


def test_term_refuses_a_unit_that_is_not_in_the_term(term_root: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["term", "--units", "a99_nope", "--out", str(term_root / "x")]) == 2
    assert "not a unit of this term" in capsys.readouterr().err


def test_one_display_counts_every_unit_on_the_term_line() -> None:
    screen = io.StringIO()
    with GradingProgress(Console(file=screen, force_terminal=True, width=160)) as progress:
        progress.term(3)
        first, second = progress.unit(toy.UNIT, 2), progress.unit(SECOND, 1)
        first.done(StudentResult("ann", toy.UNIT, 5, 5, "ok"), cached=True)
        first.done(StudentResult("bob", toy.UNIT, 0, 5, "timeout"))
        second.done(StudentResult("ann", SECOND, 5, 5, "ok"))
    final = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue()).splitlines()[-3:]
    assert [line.split()[::2][:2] for line in final] == [["term", "3/3"], [toy.UNIT, "2/2"], [SECOND, "1/1"]]
    assert "cached 1 ok 1 timeout 1" in final[0] and "cached 1 timeout 1" in final[1]
