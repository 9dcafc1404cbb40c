"""The fetch stage: mirror folders and URLs, official downloads from a local HTTP server, bad input."""

from __future__ import annotations

import dataclasses
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from pipelines.data import sources
from pipelines.data.fetch import fetch
from pipelines.data.sources import DatasetSource, Download, RawFile
from pipelines.errors import DataError
from pipelines.paths import raw_dir
from tests.data import fixtures

MNIST_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files a failed stage must not leave behind."""
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".partial")


# --- mirror -------------------------------------------------------------------------------

def test_mirror_fetch_records_source_and_subset(project, mirror, capfd):
    root, _ = mirror
    record = fetch("mnist")
    raw = raw_dir("mnist")
    assert sorted(record["files"]) == sorted(MNIST_FILES)
    assert record["source"] == {"kind": "mirror"}  # where the mirror sat is said, not recorded
    assert str(root.resolve()) in capfd.readouterr().err
    assert record["subset"] is True
    entry = record["files"]["train-images-idx3-ubyte.gz"]
    assert entry["sha256"] == fixtures.sha256(root / "mnist" / "train-images-idx3-ubyte.gz")
    assert entry["origin"] == "mirror MANIFEST.json" and entry["complete"] is False
    assert json.loads((raw / "source.json").read_text()) == record
    assert (raw / "train-images-idx3-ubyte.gz").read_bytes() == (root / "mnist" / "train-images-idx3-ubyte.gz").read_bytes()


def test_mirror_refetch_is_idempotent(project, mirror, capfd):
    fetch("cifar10")
    raw = raw_dir("cifar10")
    before = {p: p.stat().st_mtime_ns for p in raw.rglob("*") if p.is_file() and p.name != "source.json"}
    second = fetch("cifar10")
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert "already verified, kept" in capfd.readouterr().err
    assert len(second["files"]) == 7


def test_mirror_file_equal_to_official_is_complete(project, mirror, monkeypatch):
    root, _ = mirror
    path = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    pinned = RawFile("t10k-labels-idx1-ubyte.gz", {"md5": fixtures.md5(path), "sha256": fixtures.sha256(path)}, 12)
    files = tuple(pinned if f.path == pinned.path else f for f in sources.MNIST.files)
    monkeypatch.setitem(sources.SOURCES, "mnist", dataclasses.replace(sources.MNIST, files=files))
    entry = fetch("mnist")["files"]["t10k-labels-idx1-ubyte.gz"]
    assert entry["origin"] == "official checksum" and entry["complete"] is True and entry["records"] == 12


def test_mirror_checksum_mismatch_names_file_expected_and_actual(project, mirror):
    root, _ = mirror
    bad = root / "mnist" / "train-labels-idx1-ubyte.gz"
    declared = fixtures.sha256(bad)
    data = bytearray(bad.read_bytes())
    data[20] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        fetch("mnist")
    message = str(err.value)
    assert str(bad) in message and declared in message and fixtures.sha256(bad) in message
    raw = raw_dir("mnist")
    assert not (raw / "train-labels-idx1-ubyte.gz").exists() and not (raw / "source.json").exists()
    assert leftovers(raw) == []


def test_mirror_undeclared_subset_is_rejected(project, mirror):
    root, _ = mirror
    fixtures.write_manifest(root, skip=("mnist/t10k-images-idx3-ubyte.gz",))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: checksum mismatch.*not declared"):
        fetch("mnist")


def test_file_missing_from_mirror(project, mirror):
    root, _ = mirror
    (root / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DataError, match=r"data_batch_4: missing from the mirror"):
        fetch("cifar10")
    assert not (raw_dir("cifar10") / "source.json").exists()


def test_unwritable_output_dir(project, mirror, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("DEEPGRADE_DATA_DIR", str(blocker / "data"))
    with pytest.raises(DataError, match=r"cannot write to output directory .*not-a-dir/data/raw/mnist"):
        fetch("mnist")


def test_coco_mirror_takes_declared_caption_subsets(project, mirror):
    files = fetch("coco")["files"]
    assert sorted(files) == [
        "coco_captioning/captions_val2014_subsetA.json",
        "coco_captioning/captions_val2014_subsetB.json",
        "coco_captioning/captions_val2014_union.json",
        "coco_captioning/coco2014_vocab.json",
    ]


def test_coco_mirror_without_captions_fails(project, mirror):
    root, _ = mirror
    for path in (root / "coco_captioning").glob("captions_*.json"):
        path.unlink()
    fixtures.write_manifest(root)
    with pytest.raises(DataError, match="no captions found"):
        fetch("coco")


def test_http_mirror(project, mirror, http_server, monkeypatch, capfd):
    root, _ = mirror
    base, served, requests = http_server
    shutil.copytree(root, served / "m")
    monkeypatch.setenv("DEEPGRADE_DATA_MIRROR", f"{base}/m/")
    record = fetch("mnist")
    assert record["source"] == {"kind": "mirror"} and record["subset"] is True
    assert f"mirror {base}/m" in capfd.readouterr().err
    assert "/m/MANIFEST.json" in requests and "/m/mnist/t10k-images-idx3-ubyte.gz" in requests


# --- official hosts (served from 127.0.0.1) -----------------------------------------------

def official_mnist(served: Path, base: str, rng, prefix: str = "") -> DatasetSource:
    """An MNIST source table whose URLs and pins point at fixture files on the local server."""
    files, downloads = [], []
    for name, array in fixtures.mnist_arrays(rng).items():
        path = fixtures.write_idx_gz(served / name, array)
        digests = {"md5": fixtures.md5(path), "sha256": fixtures.sha256(path)}
        files.append(RawFile(name, digests, len(array)))
        downloads.append(Download(f"{base}/{prefix}{name}", digests, path.stat().st_size, "file", {name: name}))
    return dataclasses.replace(sources.MNIST, files=tuple(files), downloads=tuple(downloads))


def test_official_download_verified_and_recorded(project, http_server, rng, monkeypatch):
    base, served, requests = http_server
    monkeypatch.setitem(sources.SOURCES, "mnist", official_mnist(served, base, rng))
    record = fetch("mnist")
    assert record["subset"] is False and record["source"]["kind"] == "official"
    assert all(f["complete"] and f["origin"].startswith(base) for f in record["files"].values())
    assert len(requests) == 4
    fetch("mnist")
    assert len(requests) == 4, "verified files must not be downloaded again"


def test_official_checksum_mismatch(project, http_server, rng, monkeypatch):
    base, served, _ = http_server
    src = official_mnist(served, base, rng)
    wrong = "0" * 64
    dl = dataclasses.replace(src.downloads[0], digests={"sha256": wrong})
    monkeypatch.setitem(sources.SOURCES, "mnist", dataclasses.replace(src, downloads=(dl, *src.downloads[1:])))
    with pytest.raises(DataError) as err:
        fetch("mnist")
    actual = fixtures.sha256(served / MNIST_FILES[0])
    assert f"sha256 expected {wrong}, got {actual}" in str(err.value) and MNIST_FILES[0] in str(err.value)
    assert not (raw_dir("mnist") / MNIST_FILES[0]).exists() and leftovers(raw_dir("mnist")) == []


def test_official_interrupted_transfer(project, http_server, rng, monkeypatch):
    base, served, _ = http_server
    monkeypatch.setitem(sources.SOURCES, "mnist", official_mnist(served, base, rng, prefix="short/"))
    size = (served / MNIST_FILES[0]).stat().st_size
    expected = rf"/short/train-images-idx3-ubyte\.gz: incomplete transfer, expected {size} bytes, received {size // 2}"
    with pytest.raises(DataError, match=expected):
        fetch("mnist")
    raw = raw_dir("mnist")
    assert not any(raw.rglob("*.gz")) and leftovers(raw) == [] and not (raw / "source.json").exists()


def official_cifar(served: Path, base: str, tar: Path, member_md5: dict[str, str]) -> DatasetSource:
    members = {f"cifar-10-batches-py/{n}": f"cifar-10-batches-py/{n}" for n in member_md5}
    return DatasetSource(
        "cifar10",
        files=tuple(RawFile(f"cifar-10-batches-py/{n}", {"md5": m}) for n, m in member_md5.items()),
        downloads=(Download(f"{base}/{tar.name}", {"sha256": fixtures.sha256(tar)}, tar.stat().st_size, "tar", members),),
    )


def cifar_members(tmp_path: Path, rng) -> dict[str, bytes]:
    folder = tmp_path / "members"
    for name, (data, labels) in fixtures.cifar_arrays(rng).items():
        fixtures.write_cifar_batch(folder / name, data, labels)
    fixtures.write_cifar_meta(folder / "batches.meta")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_official_tar_extracted_to_official_layout(project, http_server, rng, monkeypatch, tmp_path):
    base, served, _ = http_server
    payloads = cifar_members(tmp_path, rng)
    tar = fixtures.make_tar_gz(served / "cifar-10-python.tar.gz", {
        "cifar-10-batches-py/readme.html": b"<html/>",
        **{f"cifar-10-batches-py/{n}": b for n, b in payloads.items()},
    })
    md5s = {n: fixtures.md5(tmp_path / "members" / n) for n in payloads}
    monkeypatch.setitem(sources.SOURCES, "cifar10", official_cifar(served, base, tar, md5s))
    record = fetch("cifar10")
    raw = raw_dir("cifar10")
    assert sorted(record["files"]) == sorted(f"cifar-10-batches-py/{n}" for n in payloads)
    assert all((raw / "cifar-10-batches-py" / n).read_bytes() == b for n, b in payloads.items())
    assert not (raw / "cifar-10-batches-py" / "readme.html").exists() and leftovers(raw) == []


def test_official_truncated_tar(project, http_server, rng, monkeypatch, tmp_path):
    base, served, _ = http_server
    payloads = cifar_members(tmp_path, rng)
    tar = fixtures.make_tar_gz(served / "cifar-10-python.tar.gz", {f"cifar-10-batches-py/{n}": b for n, b in payloads.items()})
    tar.write_bytes(tar.read_bytes()[: tar.stat().st_size * 2 // 3])
    md5s = {n: fixtures.md5(tmp_path / "members" / n) for n in payloads}
    monkeypatch.setitem(sources.SOURCES, "cifar10", official_cifar(served, base, tar, md5s))
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz: truncated or corrupt archive"):
        fetch("cifar10")
    raw = raw_dir("cifar10")
    assert leftovers(raw) == [] and not (raw / "source.json").exists()


def test_official_tar_with_unsafe_member_is_refused(project, http_server, rng, monkeypatch, tmp_path):
    base, served, _ = http_server
    tar = fixtures.make_tar_gz(served / "cifar-10-python.tar.gz", {"../../escape.txt": b"x", "cifar-10-batches-py/batches.meta": b"m"})
    pinned = {"batches.meta": fixtures.md5(served / "cifar-10-python.tar.gz")}
    monkeypatch.setitem(sources.SOURCES, "cifar10", official_cifar(served, base, tar, pinned))
    with pytest.raises(DataError, match=r"unsafe member path '\.\./\.\./escape\.txt'"):
        fetch("cifar10")
    assert not list(tmp_path.rglob("escape.txt"))


def test_official_coco_refuses_unpinned_bundle(project, http_server, monkeypatch, tmp_path, capfd):
    base, served, requests = http_server
    jsons = {}
    for split in ("train", "val"):
        path = fixtures.write_coco_json(tmp_path / f"captions_{split}2014.json", [(1, "u")], [(1, 1, "a dog")])
        jsons[f"annotations/{path.name}"] = path
    archive = served / "annotations_trainval2014.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, path in jsons.items():
            zf.write(path, name)
    members = {name: f"coco_captioning/{Path(name).name}" for name in jsons}
    download = Download(f"{base}/{archive.name}", {"sha256": fixtures.sha256(archive)}, None, "zip", members)
    coco = dataclasses.replace(sources.COCO, downloads=(download,))
    monkeypatch.setitem(sources.SOURCES, "coco", coco)
    record = fetch("coco")
    assert sorted(record["files"]) == ["coco_captioning/captions_train2014.json", "coco_captioning/captions_val2014.json"]
    assert "not downloading the CS231n bundle" in capfd.readouterr().err
    assert requests == ["/annotations_trainval2014.zip"]


def test_stream_that_breaks_leaves_nothing(tmp_path):
    import http.client

    from pipelines.data.transfer import stream_verified

    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int) -> bytes:
            self.calls += 1
            if self.calls == 1:
                return b"x" * 10
            raise http.client.IncompleteRead(b"", 90)

    with pytest.raises(DataError, match=r"src: transfer interrupted after 10 bytes of 100 expected \(IncompleteRead"):
        stream_verified(Broken(), "src", tmp_path / "out.bin", [], lambda d: None, total=100)
    assert list(tmp_path.iterdir()) == []
