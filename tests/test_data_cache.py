"""Decoded-crop cache: reuse without decoding, key by content, damage detection, concurrent builds."""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from tipsd.model.data import PoseTrackClips
from tipsd.model.data import crop_cache
from tipsd.model.data.crop_cache import cache_shape
from tipsd.model.errors import DataError

from test_data_loader import write_fixture


def _npy(cache: Path) -> list[Path]:
    return sorted((cache / "crops").glob("*.npy"))


def test_cache_shape_has_an_even_border():
    assert cache_shape((128, 96)) == (160, 120)
    assert cache_shape((64, 48)) == (80, 60)


def test_second_load_reuses_without_decoding(tmp_path, monkeypatch):
    root, cache = write_fixture(tmp_path / "pt18"), tmp_path / "c"
    first = PoseTrackClips(root, "val", input_size=(64, 48), train=False, cache_dir=str(cache))
    assert first.cache_status == "built" and first.crops.shape == (7, 3, 80, 60, 3)

    def no_decode(path):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(crop_cache, "decode_image", no_decode)
    second = PoseTrackClips(root, "val", input_size=(64, 48), train=False, cache_dir=str(cache))
    assert second.cache_status == "loaded"
    np.testing.assert_array_equal(second[3]["frames"].numpy(), first[3]["frames"].numpy())
    assert len(_npy(cache)) == 1


def test_key_follows_content_and_preprocessing(tmp_path):
    root, cache = write_fixture(tmp_path / "pt18"), tmp_path / "c"
    PoseTrackClips(root, "val", input_size=(64, 48), train=False, cache_dir=str(cache))
    assert PoseTrackClips(root, "val", input_size=(32, 32), cache_dir=str(cache)).cache_status == "built"
    assert PoseTrackClips(root, "val", input_size=(64, 48), delta=2, cache_dir=str(cache)).cache_status == "built"
    # changing an annotation (a new box) changes the dataset fingerprint: a new cache
    ann = next((root / "annotations" / "val").glob("*.json"))
    ann.write_text(ann.read_text().replace('"bbox": [31, 10, 30, 60]', '"bbox": [31, 10, 32, 60]'))
    assert PoseTrackClips(root, "val", input_size=(64, 48), cache_dir=str(cache)).cache_status == "built"
    assert len(_npy(cache)) == 4


def test_damaged_cache_is_detected_and_rebuilt(tmp_path):
    root, cache = write_fixture(tmp_path / "pt18"), tmp_path / "c"
    good = PoseTrackClips(root, "val", input_size=(64, 48), train=False, cache_dir=str(cache))
    expected = np.array(good.crops)
    del good
    (npy,) = _npy(cache)
    data = bytearray(npy.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte inside the pixel data
    npy.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="damaged \\(checksum mismatch\\); rebuilding"):
        again = PoseTrackClips(root, "val", input_size=(64, 48), train=False, cache_dir=str(cache))
    assert again.cache_status == "rebuilt"
    np.testing.assert_array_equal(np.asarray(again.crops), expected)
    npy.write_bytes(npy.read_bytes()[:-10])  # truncated
    with pytest.warns(UserWarning, match="damaged"):
        assert PoseTrackClips(root, "val", input_size=(64, 48), cache_dir=str(cache)).cache_status == "rebuilt"


def test_missing_image_is_a_data_error(tmp_path):
    root = write_fixture(tmp_path / "pt18")
    missing = root / "images" / "val" / "000001_fixture" / "000002.jpg"
    missing.unlink()
    with pytest.raises(DataError, match=r"image file .*000002\.jpg is missing \(file_name of image 10000010002 in "):
        PoseTrackClips(root, "val", input_size=(64, 48), cache_dir=str(tmp_path / "c"))
    assert _npy(tmp_path / "c") == []  # nothing half-built left behind
    assert list((tmp_path / "c" / "crops").glob(".*.npy")) == []


def _build(args) -> tuple[str, str]:
    root, cache = args
    ds = PoseTrackClips(root, "val", input_size=(64, 48), train=False, cache_dir=cache)
    return ds.cache_status, crop_cache._file_sha256(_npy(Path(cache))[0])


def test_concurrent_builds_one_builder_one_reader(tmp_path):
    root, cache = write_fixture(tmp_path / "pt18"), tmp_path / "c"
    with mp.get_context("fork").Pool(2) as pool:
        results = pool.map(_build, [(str(root), str(cache))] * 2)
    assert sorted(r[0] for r in results) == ["built", "loaded"]
    assert results[0][1] == results[1][1]
    assert len(_npy(cache)) == 1 and list((cache / "crops").glob(".*.npy")) == []


def test_a_large_cache_opens_on_its_sampled_content_key_without_a_full_hash(tmp_path, monkeypatch):
    root, cache = write_fixture(tmp_path / "pt18"), tmp_path / "c"
    monkeypatch.setattr(crop_cache, "FULL_HASH_MAX", 1000)  # the fixture's cache counts as large
    monkeypatch.setattr(crop_cache, "BLOCK_BYTES", 512)
    PoseTrackClips(root, "val", input_size=(64, 48), train=False, cache_dir=str(cache))
    (npy,) = _npy(cache)
    (meta,) = sorted((cache / "crops").glob("*.json"))
    import json

    info = json.loads(meta.read_text())
    assert info["content_key"].startswith("sampled:") and len(info["sha256"]) == 64
    assert info["content_key"] == crop_cache.content_key(npy)

    def no_full_hash(path):
        raise AssertionError(f"full sha256 of {path} on open")

    monkeypatch.setattr(crop_cache, "_file_sha256", no_full_hash)
    assert PoseTrackClips(root, "val", input_size=(64, 48), cache_dir=str(cache)).cache_status == "loaded"
    data = bytearray(npy.read_bytes())
    data[-1] ^= 0xFF  # the last block is always sampled
    npy.write_bytes(bytes(data))
    monkeypatch.undo()
    monkeypatch.setattr(crop_cache, "FULL_HASH_MAX", 1000)
    monkeypatch.setattr(crop_cache, "BLOCK_BYTES", 512)
    with pytest.warns(UserWarning, match="damaged \\(checksum mismatch\\); rebuilding"):
        assert PoseTrackClips(root, "val", input_size=(64, 48), cache_dir=str(cache)).cache_status == "rebuilt"


def test_content_key_samples_evenly_and_hashes_small_files_whole(tmp_path, monkeypatch):
    import hashlib

    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 40)  # 10240 bytes
    assert crop_cache.content_key(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(crop_cache, "SAMPLED_BLOCKS", 3)
    monkeypatch.setattr(crop_cache, "BLOCK_BYTES", 16)
    data = path.read_bytes()  # blocks at 0, (10240 - 16) // 2 = 5112 and 10224
    expected = hashlib.sha256(b"10240" + data[0:16] + data[5112:5128] + data[10224:10240]).hexdigest()
    assert crop_cache.content_key(path, full_max=100) == "sampled:" + expected
