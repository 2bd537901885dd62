"""The `pavenet` command: argument wiring, the JSON contract of `eval`, and clear errors instead of tracebacks."""
from __future__ import annotations

import json

import pytest

from pavenet_lite.cli import main
from pavenet_lite.data.posetrack import read_split
from pavenet_lite.evaluation import write_predictions
from pavenet_lite.quickstart import SHIPPED_CHECKPOINT, _as_predictions

TABLE = ["Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total"]


def test_eval_gt_against_itself_writes_the_json_contract(synth_small, tmp_path, capsys):
    gt = read_split(synth_small, "val")
    write_predictions(gt, {v.name: [f.people for f in p.frames] for v, p in zip(gt, _as_predictions(gt))},
                      tmp_path / "pred")
    main(["eval", "--gt", str(synth_small / "annotations" / "val"), "--pred", str(tmp_path / "pred"),
          "--json", str(tmp_path / "ap.json")])
    result = json.loads((tmp_path / "ap.json").read_text())
    assert list(result) == ["per_joint", "table"]
    assert list(result["table"]) == TABLE and len(result["per_joint"]) == 15
    assert "left_ear" not in result["per_joint"] and "head_bottom" in result["per_joint"]
    assert result["table"]["Total"] == pytest.approx(100.0)
    assert "& Head" in capsys.readouterr().out


def test_eval_with_a_missing_prediction_folder_exits_2_naming_it(synth_small, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["eval", "--gt", str(synth_small / "annotations" / "val"), "--pred", str(tmp_path / "nowhere")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("pavenet eval: error:") and "nowhere" in err


def test_predict_with_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(SystemExit) as e:
        main(["predict", "--checkpoint", str(bad), "--data", str(tmp_path), "--out", str(tmp_path / "p")])
    assert e.value.code == 2 and "weights.pt" in capsys.readouterr().err


def test_train_needs_steps_or_epochs(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--data", "x", "--out", "y"])
    assert e.value.code == 2 and "--steps" in capsys.readouterr().err


def test_set_overrides_take_the_type_of_their_field():
    from pavenet_lite.cli import parse_overrides

    assert parse_overrides(["max_size=96", 'lr_mult_keywords=["sampling_offsets"]', "name=tiny", "lr=1e-3",
                            "backbone_frozen_bn=false", 'pose_anchor="centre"']) == {
        "max_size": 96, "lr_mult_keywords": ("sampling_offsets",), "name": "tiny", "lr": 1e-3,
        "backbone_frozen_bn": False, "pose_anchor": "centre"}
    assert parse_overrides(["lr_mult_keywords=backbone, sampling_offsets"]) == {
        "lr_mult_keywords": ("backbone", "sampling_offsets")}
    assert parse_overrides(["dropout=0"]) == {"dropout": 0.0} and parse_overrides(["lr_mult_keywords="]) == {
        "lr_mult_keywords": ()}
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        parse_overrides(["max_size"])
    for bad, phrase in [("max_size=96.5", "integer"), ("dropout=x", "a number"), ("lr=nan", "finite"),
                        ("backbone_frozen_bn=2", "true or false"), ("colour=red", "not a PAVENetConfig field")]:
        with pytest.raises(ValueError, match=phrase):
            parse_overrides([bad])


def test_a_training_command_line_parses_back_to_its_overrides(synth_small, tmp_path):
    """The card's `command` (`Trainer.command`) writes --set values as JSON; typed --set reads them back."""
    import shlex

    from pavenet_lite.cli import parse_overrides
    from pavenet_lite.train import TrainConfig, Trainer

    overrides = {"max_size": 64, "num_queries": 6, "num_refine": 3, "lr_mult_keywords": ("backbone",),
                 "pose_anchor": "centre", "loss_l1": 5.0, "backbone_frozen_bn": True}
    trainer = Trainer(TrainConfig(data=str(synth_small), out=str(tmp_path), steps=1, batch_size=2,
                                  overrides=overrides))
    words = shlex.split(trainer.command())
    assert parse_overrides(words[words.index("--set") + 1:]) == overrides


def test_predict_oks_nms_flag_reaches_the_predictor(synth_small, tmp_path):
    shipped = str(SHIPPED_CHECKPOINT)
    counts = {}
    for flags in ([], ["--oks-nms"]):
        out = tmp_path / ("nms" if flags else "plain")
        main(["predict", "--checkpoint", shipped, "--data", str(synth_small), "--out", str(out), "--quiet", *flags])
        counts[bool(flags)] = sum(len(json.loads(p.read_text())["annotations"]) for p in out.glob("*.json"))
    assert 0 < counts[True] < counts[False]
