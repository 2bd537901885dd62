"""Training subsets: N videos spread over the split, or a list of names; only the chosen files are read."""
from __future__ import annotations

import shutil

import pytest

from pavenet_lite.data.subset import read_subset, read_video_list, spread
from pavenet_lite.train import TrainConfig, Trainer
from tests.conftest import FAST_MODEL


def test_spread_is_even_distinct_and_starts_at_the_first():
    names = [f"{i:06d}_x_train" for i in range(10)]
    assert spread(names, 10) == names
    assert spread(names, 1) == names[:1]
    assert spread(names, 3) == [names[0], names[3], names[7]]    # round(0), round(3.33), round(6.67)
    for n in range(1, 11):
        picked = spread(names, n)
        assert len(set(picked)) == n and picked == sorted(picked)
    with pytest.raises(ValueError, match="cannot spread 11 videos over 10"):
        spread(names, 11)


def _split(tmp_path, synth_small, broken: bool = True):
    """A copy of the synthetic train annotations plus, optionally, one unreadable file."""
    ann = tmp_path / "annotations" / "train"
    shutil.copytree(synth_small / "annotations" / "train", ann)
    if broken:
        (ann / "zzz_broken.json").write_text("{ not json")
    return sorted(p.stem for p in ann.glob("*.json"))


def test_only_the_chosen_files_are_read(tmp_path, synth_small):
    names = _split(tmp_path, synth_small)                         # 2 good videos + the broken one, sorted last
    videos = read_subset(tmp_path, "train", count=1)
    assert [v.name for v in videos] == names[:1]
    listed = tmp_path / "videos.txt"
    listed.write_text(f"# the course's subset\n\n{names[1]}.json\n{names[0]}  # second\n")
    assert [v.name for v in read_subset(tmp_path, "train", video_list=listed)] == [names[1], names[0]]
    assert read_subset(tmp_path, "train") is None
    with pytest.raises(ValueError, match=r"asked for 4 train videos, the split has 3"):
        read_subset(tmp_path, "train", count=4)
    with pytest.raises(ValueError, match="either"):
        read_subset(tmp_path, "train", count=1, video_list=listed)


def test_video_list_errors_name_file_and_line(tmp_path):
    available = ["000001_mpii_train", "000002_bonn_train"]
    path = tmp_path / "list.txt"
    path.write_text("000001_mpii_train\n000003_bonn_train\n")
    with pytest.raises(ValueError, match=r"list.txt, line 2: video '000003_bonn_train' is not in the split"):
        read_video_list(path, available)
    path.write_text("000001\n")
    with pytest.raises(ValueError, match=r"did you mean 000001_mpii_train"):
        read_video_list(path, available)
    path.write_text("000001_mpii_train\n000001_mpii_train.json\n")
    with pytest.raises(ValueError, match=r"line 2: video '000001_mpii_train' is listed twice"):
        read_video_list(path, available)
    path.write_text("# nothing\n")
    with pytest.raises(ValueError, match="names no video"):
        read_video_list(path, available)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_video_list(tmp_path / "missing.txt", available)


def test_trainer_draws_clips_from_the_subset_only(synth_small, tmp_path):
    names = sorted(p.stem for p in (synth_small / "annotations" / "train").glob("*.json"))
    listed = tmp_path / "one.txt"
    listed.write_text(names[1] + "\n")
    base = dict(data=str(synth_small), out=str(tmp_path / "run"), steps=1, batch_size=1, progress=False,
                overrides=dict(FAST_MODEL))
    full = Trainer(TrainConfig(**base))
    part = Trainer(TrainConfig(**base, video_list=str(listed)))
    assert [v.name for v in part.dataset.videos] == [names[1]]
    labelled = {v.name: len(v.labeled_indices) for v in full.dataset.videos}
    assert len(part.dataset) == labelled[names[1]] < len(full.dataset)
    assert "--video-list" in part.command()
