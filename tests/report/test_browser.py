"""The reports in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
installed by scripts/setup.sh) renders a student's feedback.html, the class report and the similarity
view of a toy class graded through the real sandbox, and checks that plots display, that nothing
hidden leaks (grader code, the solution, provenance hashes, another student's data) and that a
375 px wide window has no horizontal scroll. Screenshots go to ``$DEEPGRADE_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from pipelines.grade.batch import autograde
from pipelines.params import _load
from pipelines.report.feedback import write_feedback
from pipelines.results import StudentResult
from pipelines.similarity_report import write_similarity_report
from tests.grading import toy
from tests.grading.conftest import FAST_LIMITS, REPO
from tests.report.copies import ANN, disguised

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a dev dependency (pip install -e .[dev])")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver "
                                                                  "(scripts/setup.sh installs them)")
STUDENTS = {"ann_lee": ANN, "bob_ray": toy.WRONG_GRADIENT, "cy_copy": disguised(ANN, frozenset({"quad"}))}
PHONE = 375
MEASURE = """const d = document.documentElement;
return {scroll: d.scrollWidth, client: d.clientWidth, window: window.innerWidth, height: d.scrollHeight, text: document.body.innerText,
        images: [...document.images].map(i => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0,
                                                 width: i.getBoundingClientRect().width})),
        marks: document.querySelectorAll('mark').length};"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy class graded, bob_ray's feedback with a loss curve, and the class's similarity view."""
    root = tmp_path_factory.mktemp("browser")
    toy.make_project(root, yaml.safe_load((REPO / "params.yaml").read_text()), FAST_LIMITS)
    for student, body in STUDENTS.items():
        toy.submission(root, student, body)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGRADE_ROOT", str(root))
        mp.delenv("DEEPGRADE_DATA_DIR", raising=False)
        mp.delenv("DEEPGRADE_CACHE_DIR", raising=False)
        _load.cache_clear()
        autograde(toy.UNIT, root / "submitted", root / "graded")
        exports = root / "bob-exports"
        exports.mkdir()
        np.save(exports / "train_loss_history.npy", 2.3 * np.exp(-np.linspace(0, 3, 200)))
        bob = StudentResult.from_json(json.loads((root / "graded" / "bob_ray" / "results.json").read_text()))
        write_feedback(root / "graded", bob, exports)
        write_similarity_report(toy.UNIT, root / "submitted", root / "staff")
        yield root
        _load.cache_clear()


@pytest.fixture(scope="module")
def browser() -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1024,800"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(DRIVER)), options=options)
    yield driver
    driver.quit()


def render(browser: Any, page: Path, width: int, shot: str) -> dict[str, Any]:
    """Open ``page`` in a window ``width`` px wide; what it measured, after a full-page screenshot."""
    metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.get(page.as_uri())
    seen = browser.execute_script(MEASURE)
    folder = os.environ.get("DEEPGRADE_SCREENSHOTS")
    if folder:
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": min(seen["height"], 6000)})
        Path(folder).mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(Path(folder) / f"{shot}-{width}px.png"))
    return seen


def fits(seen: dict[str, Any]) -> bool:
    """No horizontal scroll in a window ``PHONE`` px wide (the page's width less a vertical scrollbar)."""
    return seen["window"] == PHONE and seen["scroll"] <= seen["client"]


def secrets(root: Path, student: str) -> list[str]:
    """What a student's feedback must never show: grader code, the solution, the provenance, other students."""
    grader_lines = [line.strip() for line in toy.GRADERS.splitlines()
                    if len(line.strip()) > 12 and not line.startswith(("import ", "from "))]  # imports are public
    provenance = json.loads((root / "graded" / student / "results.json").read_text())["provenance"]
    return [*grader_lines, "0.5 * float(np.sum(w * x * x)), w * x", *provenance["versions"].values(), provenance["submission"],
            *(other for other in STUDENTS if other != student)]


@pytest.mark.parametrize("student", sorted(STUDENTS))
def test_feedback_shows_its_plots_fits_a_phone_and_leaks_nothing(graded: Path, browser: Any, student: str) -> None:
    page = graded / "graded" / student / "feedback.html"
    wide = render(browser, page, 1024, f"feedback-{student}")
    phone = render(browser, page, PHONE, f"feedback-{student}")
    assert fits(phone), f"{phone['scroll']} px wide in a {PHONE} px window"
    assert all(image["loaded"] and image["width"] <= PHONE for image in phone["images"])
    if student == "bob_ray":
        assert [image["alt"] for image in wide["images"]] == ["train loss history"] and wide["images"][0]["loaded"]
        assert "failed" in wide["text"]
    source = browser.page_source
    assert not [s for s in secrets(graded, student) if s in source]


def test_the_class_report_shows_its_plots_and_fits_a_phone(graded: Path, browser: Any) -> None:
    page = graded / "graded" / "class_report.html"
    render(browser, page, 1024, "class-report")
    phone = render(browser, page, PHONE, "class-report")
    assert fits(phone), f"{phone['scroll']} px wide in a {PHONE} px window"
    assert [(i["alt"], i["loaded"]) for i in phone["images"]] == [
        ("score distribution", True), ("share of students passing each check", True)]
    assert all(image["width"] <= PHONE for image in phone["images"])
    assert "3 submissions" in phone["text"] and "_weighted_squares" not in browser.page_source


def test_the_similarity_view_marks_the_copy_and_fits_a_phone(graded: Path, browser: Any) -> None:
    page = graded / "staff" / "similarity.html"
    render(browser, page, 1024, "similarity")
    phone = render(browser, page, PHONE, "similarity")
    assert fits(phone), f"{phone['scroll']} px wide in a {PHONE} px window"
    assert "Staff only" in phone["text"] and "ann_lee & cy_copy" in phone["text"] and phone["marks"] > 0
    assert not (graded / "graded" / "ann_lee" / "similarity.html").exists()
