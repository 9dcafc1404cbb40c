"""Loaders: where they read from, what a missing file says, and that importing them stays cheap."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.data import load_cifar10, load_coco_captions, load_mnist
from pipelines.data.npz import save_npz_atomic
from pipelines.errors import DataError

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("loader", "stage"),
    [(load_mnist, "prepare_mnist"), (load_cifar10, "prepare_cifar10"), (load_coco_captions, "prepare_coco")],
)
def test_missing_prepared_data_names_the_dvc_stage(project, loader, stage):
    with pytest.raises(DataError, match=rf"run `dvc repro {stage}`"):
        loader()


def test_data_dir_argument_and_env(project, tmp_path, monkeypatch):
    arrays = {"X_train": np.zeros((2, 784), np.float32), "y_train": np.array([3, 4])}
    save_npz_atomic(tmp_path / "elsewhere" / "mnist.npz", arrays)
    np.testing.assert_array_equal(load_mnist(tmp_path / "elsewhere")["y_train"], [3, 4])
    monkeypatch.setenv("DEEPGRADE_DATA_DIR", str(tmp_path))
    (tmp_path / "prepared").mkdir()
    (tmp_path / "elsewhere" / "mnist.npz").rename(tmp_path / "prepared" / "mnist.npz")
    assert set(load_mnist()) == {"X_train", "y_train"}


def test_importing_loaders_is_cheap():
    code = "import sys, pipelines.data; print(sorted(m for m in ('h5py', 'torch', 'tqdm', 'pipelines.data.fetch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "[]"


def test_cli_reports_data_errors_with_exit_2(project, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPGRADE_DATA_MIRROR", str(tmp_path / "no-such-mirror"))
    assert main(["data", "fetch", "mnist"]) == 2
    assert "no-such-mirror: no such directory" in capsys.readouterr().err
