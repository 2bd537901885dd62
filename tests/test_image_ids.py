"""PoseTrack18 image ids from frame file names (`data.image_ids`), against the formula computed by hand."""
from __future__ import annotations

import pytest

from pavenet_lite.data.image_ids import PoseTrackFileNameError, posetrack18_image_id


def test_image_id_formula_by_hand():
    assert posetrack18_image_id("images/val/000342_mpii_test/000007.jpg") == 1 * 10**10 + 342 * 10**4 + 7
    assert posetrack18_image_id("images/train/024575_bonn_train/000099.jpg") == 2 * 10**10 + 24575 * 10**4 + 99
    assert posetrack18_image_id("x/000001_mpiinew_test/9999.jpg") == 3 * 10**10 + 1 * 10**4 + 9999
    for bad in ["images/val/seq_mpii/000001.jpg", "images/val/000342_coco_test/000001.jpg",
                "images/val/000342_mpii_test/10000.jpg", "images/val/000342_mpii_test/a.jpg", "000001.jpg"]:
        with pytest.raises(PoseTrackFileNameError, match="file_name"):
            posetrack18_image_id(bad)
