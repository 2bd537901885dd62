"""Level masks, valid ratios, token centres and the sine position encoding, by hand."""
from __future__ import annotations

import math

import torch

from pavenet_lite.model.position_encoding import PositionEncoding, level_masks, valid_ratios
from pavenet_lite.model.spatial_encoder import token_centres


def test_masks_ratios_and_token_centres():
    masks = torch.zeros(1, 8, 8, dtype=torch.bool)
    masks[0, :, 6:] = True                                      # image 6 wide, 8 high
    lv = level_masks(masks, [(4, 4), (2, 2)])
    assert lv[0][0].sum().item() == 4 and lv[1][0].sum().item() == 0   # columns 6 -> cell 3 of 4 is padding
    ratios = valid_ratios(lv)
    torch.testing.assert_close(ratios, torch.tensor([[[0.75, 1.0], [1.0, 1.0]]]))
    centres = token_centres([(4, 4), (2, 2)], ratios)
    # cell (row 1, col 2) of level 0: x = 2.5 / 3 valid columns, y = 1.5 / 4 rows
    torch.testing.assert_close(centres[0, 1 * 4 + 2], torch.tensor([2.5 / 3, 1.5 / 4]))
    torch.testing.assert_close(centres[0, 16 + 3], torch.tensor([1.5 / 2, 1.5 / 2]))


def test_sine_position_encoding_by_hand():
    pe = PositionEncoding(hidden_dim=8, num_levels=2)
    with torch.no_grad():
        pe.level_embed.zero_()
        pe.level_embed[1] = 1.0
    mask = torch.zeros(1, 2, 3, dtype=torch.bool)
    mask[0, :, 2] = True                                        # 2 valid columns
    pos = pe(mask, 0)                                           # [1, 8, 2, 3]: channels 0-3 y, 4-7 x
    x = (2 - 0.5) / 2 * 2 * math.pi                             # column 1: cumsum 2, normalised by 2 valid columns
    y = (1 - 0.5) / 2 * 2 * math.pi                             # row 0: cumsum 1 of 2 rows
    t = 10000 ** (2 / 4)                                        # dim_t for channel pair 1 (num_feats = 4)
    torch.testing.assert_close(pos[0, 4:, 0, 1], torch.tensor([math.sin(x), math.cos(x), math.sin(x / t),
                                                               math.cos(x / t)]))
    torch.testing.assert_close(pos[0, 0, 0, 1], torch.tensor(math.sin(y)))
    torch.testing.assert_close(pe(mask, 1) - pos, torch.ones_like(pos))
