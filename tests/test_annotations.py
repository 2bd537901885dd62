"""The in-memory annotation representation: predictions enter it (model order -> PT18) in one place."""
from __future__ import annotations

import numpy as np
import pytest

from pavenet_lite.data.annotations import person_from_model
from pavenet_lite.joints import K, MODEL_NAMES, PT18_NAMES


def test_person_from_model_maps_model_order_to_pt18():
    kp = np.stack([np.arange(K) + 1.0, np.arange(K) + 100.0], axis=1)  # model joint k at (k + 1, k + 100)
    sc = np.linspace(0.05, 0.95, K)
    p = person_from_model(kp, sc, track_id=3, score=0.7)
    for k, name in enumerate(MODEL_NAMES):
        j = PT18_NAMES.index(name)
        np.testing.assert_array_equal(p.keypoints[j], [k + 1.0, k + 100.0])
        assert p.scores[j] == sc[k] and p.annotated[j]
    assert not p.annotated[PT18_NAMES.index("left_ear")] and not p.annotated[PT18_NAMES.index("right_ear")]
    # Threshold: joints below 0.45 are left out; sc[k] = 0.05 + 0.9 k / 14 is 0.436 at k = 6 and 0.5 at k = 7.
    q = person_from_model(kp, sc, track_id=3, min_joint_score=0.45)
    assert [MODEL_NAMES[k] for k in range(K) if q.annotated[PT18_NAMES.index(MODEL_NAMES[k])]] == list(MODEL_NAMES[7:])
    # A joint at exactly (0, 0) would read back as "absent": it is nudged by 0.01 px.
    kp[0] = 0.0
    np.testing.assert_array_equal(person_from_model(kp, sc, 0).keypoints[0], [0.01, 0.01])
    with pytest.raises(ValueError, match="expected keypoints"):
        person_from_model(kp[:3], sc, 0)
