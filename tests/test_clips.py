"""Clip sampling at sequence ends, the PoseTrack clip Dataset on a tiny hand-written dataset, and collate."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pavenet_lite.data.clips import PoseTrackClips, clip_frame_indices, collate_clips
from pavenet_lite.data.errors import AnnotationError, MissingImageError
from pavenet_lite.data.transforms import denormalize


@pytest.mark.parametrize("center,num_frames,video_len,expected", [
    (0, 1, 5, [0]), (2, 1, 5, [2]), (4, 1, 5, [4]), (0, 1, 1, [0]), (1, 1, 2, [1]),
    (0, 3, 5, [0, 0, 1]), (2, 3, 5, [1, 2, 3]), (4, 3, 5, [3, 4, 4]),
    (0, 3, 1, [0, 0, 0]), (0, 3, 2, [0, 0, 1]), (1, 3, 2, [0, 1, 1]),
    (0, 5, 10, [0, 0, 0, 1, 2]), (1, 5, 10, [0, 0, 1, 2, 3]), (5, 5, 10, [3, 4, 5, 6, 7]),
    (8, 5, 10, [6, 7, 8, 9, 9]), (9, 5, 10, [7, 8, 9, 9, 9]),
    (0, 5, 1, [0, 0, 0, 0, 0]), (0, 5, 2, [0, 0, 0, 1, 1]), (1, 5, 2, [0, 0, 1, 1, 1]),
])
def test_clip_frame_indices(center, num_frames, video_len, expected):
    assert clip_frame_indices(center, num_frames, video_len) == expected


@pytest.mark.parametrize("center,num_frames,video_len", [(0, 2, 5), (0, 0, 5), (0, 4, 5), (5, 3, 5), (-1, 3, 5)])
def test_clip_frame_indices_rejects(center, num_frames, video_len):
    with pytest.raises(ValueError):
        clip_frame_indices(center, num_frames, video_len)


# A 4-frame video, frames 1 and 3 labelled. Frame t has background grey 40 * t and a white dot on the nose.
NOSE = (40, 20)
LEFT_WRIST = (10, 40)


def make_dataset(root: Path, seq: str = "000001_mpii_train", size: tuple[int, int] = (48, 64),
                 labeled: tuple[int, ...] = (1, 3), split: str = "train") -> Path:
    h, w = size
    ann_dir, img_dir = root / "annotations" / split, root / "images" / split / seq
    ann_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:h, :w]
    images, anns = [], []
    for t in range(4):
        pixels = np.full((h, w), 40.0 * t)
        pixels[(xx - NOSE[0]) ** 2 + (yy - NOSE[1]) ** 2 <= 4] = 255
        Image.fromarray(np.repeat(pixels[..., None], 3, 2).astype(np.uint8)).save(img_dir / f"{t:06d}.jpg", quality=98)
        image_id = 10000010000 + t
        images.append({"id": image_id, "file_name": f"images/{split}/{seq}/{t:06d}.jpg", "is_labeled": t in labeled,
                       "width": w, "height": h})
        if t in labeled:
            kp = [0] * 51
            kp[0:3] = [*NOSE, 1]                 # nose
            kp[27:30] = [*LEFT_WRIST, 0]         # left wrist (PT18 index 9), occluded
            anns.append({"image_id": image_id, "track_id": 2, "keypoints": kp, "bbox": [30, 10, 20, 30],
                         "bbox_head": [35, 12, 10, 10]})
            anns.append({"image_id": image_id, "track_id": 5, "keypoints": [0] * 51, "bbox": [1, 1, 5, 5]})
    (ann_dir / f"{seq}.json").write_text(json.dumps({"images": images, "annotations": anns}))
    return root


def test_eval_sample_targets_by_hand(tmp_path):
    data = PoseTrackClips(make_dataset(tmp_path), "train", num_frames=3, max_size=32, train=False)
    assert len(data) == 2
    clip, target = data[0]
    assert clip.shape == (3, 3, 24, 32) and clip.dtype == torch.float32
    # 64 x 48 -> 32 x 24: pixel centre u = (x + 0.5) / 2 - 0.5, normalised edge-based: (u + 0.5) / 32.
    u, v = (NOSE[0] + 0.5) / 2 - 0.5, (NOSE[1] + 0.5) / 2 - 0.5
    assert target["keypoints"].shape == (1, 15, 2)  # the box-only person (no joints) is not a target
    torch.testing.assert_close(target["keypoints"][0, 0], torch.tensor([(u + 0.5) / 32, (v + 0.5) / 24]))
    lw = (LEFT_WRIST[0] + 0.5) / 2 - 0.5, (LEFT_WRIST[1] + 0.5) / 2 - 0.5
    torch.testing.assert_close(target["keypoints"][0, 7],
                               torch.tensor([(lw[0] + 0.5) / 32, (lw[1] + 0.5) / 24]))  # model 7 = l wrist
    expected_annotated = torch.zeros(1, 15, dtype=torch.bool)
    expected_annotated[0, [0, 7]] = True
    assert torch.equal(target["annotated"], expected_annotated)
    assert target["visible"][0, 0] and not target["visible"][0, 7]
    # bbox [30, 10, 20, 30] -> x 14.75..24.75, y 4.75..19.75: area 10 * 15 px of 32 * 24.
    torch.testing.assert_close(target["boxes"][0], torch.tensor([15.25 / 32, 5.25 / 24, 25.25 / 32, 20.25 / 24]))
    torch.testing.assert_close(target["areas"], torch.tensor([150 / (32 * 24)]))
    assert target["track_ids"].tolist() == [2] and target["track_ids"].dtype == torch.int64
    assert target["size"].tolist() == [24, 32] and target["orig_size"].tolist() == [48, 64]
    assert (target["video"], target["frame_index"], target["image_id"]) == ("000001_mpii_train", 1, 10000010001)
    # The clip is frames 0, 1, 2 in time order (background grey 0, 40, 80), the dot where the target says.
    greys = [float(denormalize(clip[f]).median()) * 255 for f in range(3)]
    np.testing.assert_allclose(greys, [0, 40, 80], atol=3)
    centre = denormalize(clip[1]).mean(0)
    y, x = divmod(int(centre.argmax()), 32)
    assert abs(x - u) <= 1.5 and abs(y - v) <= 1.5


def test_all_frames_gives_one_sample_per_frame(tmp_path):
    data = PoseTrackClips(make_dataset(tmp_path), "train", num_frames=3, max_size=32, train=False, all_frames=True)
    assert [data[i][1]["frame_index"] for i in range(len(data))] == [0, 1, 2, 3]
    assert [len(data[i][1]["track_ids"]) for i in range(4)] == [0, 1, 0, 1]
    assert data[0][1]["keypoints"].shape == (0, 15, 2) and data[0][1]["boxes"].shape == (0, 4)


def test_clip_at_the_end_repeats_the_last_frame(tmp_path):
    clip, target = PoseTrackClips(make_dataset(tmp_path), "train", num_frames=5, max_size=32, train=False)[1]
    assert target["frame_index"] == 3 and clip.shape[0] == 5
    greys = [float(denormalize(clip[f]).median()) * 255 for f in range(5)]
    np.testing.assert_allclose(greys, [40, 80, 120, 120, 120], atol=3)  # frames 1, 2, 3, 3, 3


def test_train_samples_are_deterministic_per_seed_epoch_index(tmp_path):
    root = make_dataset(tmp_path)
    a = PoseTrackClips(root, "train", num_frames=3, max_size=32, train=True, seed=1)
    b = PoseTrackClips(root, "train", num_frames=3, max_size=32, train=True, seed=1)
    clip_a, target_a = a[0]
    clip_b, target_b = b[0]
    assert torch.equal(clip_a, clip_b) and torch.equal(target_a["keypoints"], target_b["keypoints"])
    b.set_epoch(1)
    assert not torch.equal(b[0][0], clip_a)
    c = PoseTrackClips(root, "train", num_frames=3, max_size=32, train=True, seed=2)
    assert not torch.equal(c[0][0], clip_a)
    assert a[0][0].shape[0] == 3 and max(a[0][0].shape[-2:]) == 32


def test_missing_image_names_the_path(tmp_path):
    root = make_dataset(tmp_path)
    missing = root / "images/train/000001_mpii_train/000002.jpg"
    missing.unlink()
    data = PoseTrackClips(root, "train", num_frames=3, max_size=32, train=False)
    with pytest.raises(MissingImageError) as err:
        data[0]
    assert str(missing) in str(err.value) and "000001_mpii_train.json" in str(err.value)
    assert "expected an existing image file" in str(err.value)
    missing.write_bytes(b"not an image")                        # present but unreadable: a different message
    with pytest.raises(MissingImageError, match="expected a readable image file") as err:
        data[0]
    assert str(missing) in str(err.value)


def test_declared_size_must_match_the_image(tmp_path):
    root = make_dataset(tmp_path)
    path = root / "annotations/train/000001_mpii_train.json"
    data = json.loads(path.read_text())
    data["images"][1]["width"] = 640
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match="width"):
        PoseTrackClips(root, "train", max_size=32, train=False)[0]


def test_training_needs_a_labelled_frame_in_every_video(tmp_path):
    root = make_dataset(tmp_path)
    make_dataset(root, seq="000002_mpii_train", labeled=())
    assert len(PoseTrackClips(root, "train", max_size=32, train=False)) == 2
    with pytest.raises(AnnotationError, match="000002_mpii_train.json.*labelled"):
        PoseTrackClips(root, "train", max_size=32, train=True)


def test_collate_pads_two_aspect_ratios(tmp_path):
    root = make_dataset(tmp_path)
    make_dataset(root, seq="000002_mpii_train", size=(64, 48))  # portrait
    data = PoseTrackClips(root, "train", num_frames=3, max_size=32, train=False)
    (wide, t0), (tall, t1) = data[0], data[2]
    assert wide.shape[-2:] == (24, 32) and tall.shape[-2:] == (32, 24)
    clips, masks, targets = collate_clips([(wide, t0), (tall, t1)])
    assert clips.shape == (2, 3, 3, 32, 32) and masks.shape == (2, 32, 32) and masks.dtype == torch.bool
    expected = torch.ones(2, 32, 32, dtype=torch.bool)
    expected[0, :24, :] = False
    expected[1, :, :24] = False
    assert torch.equal(masks, expected)
    assert torch.equal(clips[0, :, :, :24], wide) and torch.equal(clips[1, :, :, :, :24], tall)
    assert not clips[0, :, :, 24:].any() and not clips[1, :, :, :, 24:].any()
    assert targets[0] is t0 and targets[1] is t1
    loader = torch.utils.data.DataLoader(data, batch_size=3, collate_fn=collate_clips)
    clips, masks, targets = next(iter(loader))
    assert clips.shape == (3, 3, 3, 32, 32) and len(targets) == 3


def test_collate_rejects_mixed_frame_counts():
    with pytest.raises(ValueError, match="same number of frames"):
        collate_clips([(torch.zeros(3, 3, 4, 4), {}), (torch.zeros(1, 3, 4, 4), {})])


def test_even_num_frames_rejected(tmp_path):
    with pytest.raises(ValueError, match="odd"):
        PoseTrackClips(make_dataset(tmp_path), "train", num_frames=2)


def test_frame_targets_follow_each_person_by_track_id(tmp_path):
    # Eval transform (a pure resize keeps edge-normalised coordinates): frame f's slot holds the same track's joints
    # of frame indices[f], normalised by the original size; unlabelled frames are all False.
    root = make_dataset(tmp_path, labeled=(1, 2, 3))
    assert "frame_keypoints" not in PoseTrackClips(root, "train", num_frames=3, max_size=32, train=False)[0][1]
    data = PoseTrackClips(root, "train", num_frames=3, max_size=32, train=False, with_frame_targets=True)
    _, target = data[0]                                          # centre frame 1: frames 0 (unlabelled), 1, 2
    assert target["frame_keypoints"].shape == (1, 3, 15, 2) and target["frame_annotated"].shape == (1, 3, 15)
    assert not target["frame_annotated"][0, 0].any()
    for f in (1, 2):
        torch.testing.assert_close(target["frame_keypoints"][0, f, 0], torch.tensor([(NOSE[0] + .5) / 64,
                                                                                   (NOSE[1] + .5) / 48]))
        assert target["frame_annotated"][0, f].nonzero().flatten().tolist() == [0, 7]
    assert torch.equal(target["frame_keypoints"][:, 1], target["keypoints"])


def test_frame_targets_under_a_flip_swap_sides(tmp_path):
    from pavenet_lite.data.clips import frame_targets
    from pavenet_lite.data.posetrack import read_split

    video = read_split(make_dataset(tmp_path, labeled=(1, 2)), "train")[0]
    flip = np.array([[-1.0, 0, 63], [0, 1, 0], [0, 0, 1]])       # x -> 63 - x on the 64 x 48 frame
    kpts, ann = frame_targets(video, [1, 2, 3], flip, (48, 64), torch.tensor([2]))
    assert ann[0, 2].sum() == 0                                   # frame 3 is not labelled
    for f in (0, 1):
        torch.testing.assert_close(kpts[0, f, 0], torch.tensor([(63 - NOSE[0] + .5) / 64, (NOSE[1] + .5) / 48]))
        assert ann[0, f].nonzero().flatten().tolist() == [0, 8]  # the left wrist became the right wrist (model 8)
        torch.testing.assert_close(kpts[0, f, 8], torch.tensor([(63 - LEFT_WRIST[0] + .5) / 64,
                                                               (LEFT_WRIST[1] + .5) / 48]))
    empty, none = frame_targets(video, [1, 2, 3], flip, (48, 64), torch.tensor([9]))  # a track id nobody has
    assert not none.any() and empty.abs().sum() == 0
