"""`tipsd data synth` / `tipsd data check`, and bad input: one line on stderr, exit code 2."""
from __future__ import annotations

import json

import pytest

from tipsd.sweep.cli import main

from test_data_loader import write_fixture


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_synth_then_check(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["data", "synth", "--out", str(out), "--preset", "tiny", "--seed", "2"]) == 0
    text = capsys.readouterr().out
    assert "wrote synthetic dataset 'tiny' (seed 2)" in text
    assert main(["data", "check", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{out}: OK"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:] if line.strip()}
    assert rows["layout"] == ["2018", "2018"] and rows["labelled"] == ["yes", "yes"]
    assert rows["videos"] == ["4", "2"] and rows["frames"] == ["48", "24"]
    assert rows["labelled_frames"] == ["48", "12"]
    assert main(["data", "check", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["val"]["joints"]["left_ear"] == 0 and stats["val"]["joints"]["nose"] == stats["val"]["people"]


def test_check_counts_on_fixture(tmp_path, capsys):
    root = write_fixture(tmp_path / "pt18")
    assert main(["data", "check", str(root), "--json"]) == 0
    val = json.loads(capsys.readouterr().out)["val"]
    # 6 frames, 5 labelled; people: track 7 x5 + track 3 x2 (the empty annotation is not a person)
    assert (val["videos"], val["frames"], val["labelled_frames"], val["people"], val["tracks"]) == (1, 6, 5, 7, 2)
    assert val["joints"]["left_wrist"] == 5 and val["joints"]["right_wrist"] == 7
    assert val["ignore_regions"] == 6


def test_corrupt_json_names_file(tmp_path, capsys):
    root = write_fixture(tmp_path / "pt18")
    ann = next((root / "annotations" / "val").glob("*.json"))
    ann.write_text(ann.read_text()[:-20])
    assert main(["data", "check", str(root)]) == 2
    err = _one_error_line(capsys)
    assert err.startswith("tipsd data: error: ") and str(ann) in err and "not valid JSON" in err



def test_non_utf8_annotation_file_names_file(tmp_path, capsys):
    root = write_fixture(tmp_path / "pt18")
    ann = next((root / "annotations" / "val").glob("*.json"))
    ann.write_bytes(ann.read_bytes().replace(b'"track_id"', b'"track_\xe9id"', 1))  # Latin-1, not UTF-8
    assert main(["data", "check", str(root)]) == 2
    err = _one_error_line(capsys)
    assert str(ann) in err and "not UTF-8" in err


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["annotations"][2].pop("keypoints"), "annotations[2]: field 'keypoints' is missing"),
    (lambda d: d["annotations"][0].update(keypoints=[1, 2, 3]), "annotations[0].keypoints: expected 51 numbers, got 3"),
    (lambda d: d["annotations"][1].update(image_id=5), "annotations[1].image_id: 5 names no image"),
    (lambda d: d["annotations"][1].update(image_id=[5]), "annotations[1].image_id: [5] names no image"),
    (lambda d: d["images"][3].pop("file_name"), "images[3]: field 'file_name' is missing"),
    (lambda d: d.pop("images"), "field 'images' is missing"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2]), "annotations[0].bbox: [1, 2] is not [x, y, w, h]"),
])
def test_bad_field_names_file_and_field(tmp_path, capsys, edit, field):
    root = write_fixture(tmp_path / "pt18")
    ann = next((root / "annotations" / "val").glob("*.json"))
    doc = json.loads(ann.read_text())
    edit(doc)
    ann.write_text(json.dumps(doc))
    assert main(["data", "check", str(root)]) == 2
    err = _one_error_line(capsys)
    assert f"{ann}: {field}" in err


def test_missing_image_file(tmp_path, capsys):
    root = write_fixture(tmp_path / "pt18")
    (root / "images" / "val" / "000001_fixture" / "000004.jpg").unlink()
    assert main(["data", "check", str(root)]) == 2
    assert "000004.jpg is missing (file_name of image 10000010004" in _one_error_line(capsys)


def test_no_labelled_frame(tmp_path, capsys):
    root = write_fixture(tmp_path / "pt18")
    ann = next((root / "annotations" / "val").glob("*.json"))
    doc = json.loads(ann.read_text())
    for img in doc["images"]:
        img["is_labeled"] = False
    ann.write_text(json.dumps(doc))
    assert main(["data", "check", str(root)]) == 2
    assert "no labelled frame with a labelled person in any split" in _one_error_line(capsys)


def test_missing_folder_and_unknown_option_and_preset(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nope")]) == 2
    assert "does not exist" in _one_error_line(capsys)
    assert main(["data", "check", str(tmp_path), "--frobnicate"]) == 2
    assert "unrecognized arguments: --frobnicate" in _one_error_line(capsys)
    assert main(["data", "synth", "--out", str(tmp_path / "x"), "--preset", "huge"]) == 2
    assert _one_error_line(capsys).startswith("tipsd data synth: error: argument --preset: 'huge' is not a preset; known presets: tiny, quick, paper")
    assert main(["data", "synth"]) == 2
    assert "--out" in _one_error_line(capsys)
    assert main(["data", "check", str(tmp_path)]) == 2
    assert "no annotations/ folder" in _one_error_line(capsys)


def test_help_has_examples(capsys):
    for argv in (["data", "synth", "--help"], ["data", "check", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        assert "Example:\n  tipsd data" in capsys.readouterr().out
