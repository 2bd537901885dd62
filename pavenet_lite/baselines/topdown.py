"""Two-stage (top-down) baseline: detect people, then estimate each person's pose on its own crop.

The comparison the paper makes against DCPose / PoseWarper-style video methods (arXiv 2511.13208, §1 and Table 5):
a person detector runs on the centre frame, then a single-person keypoint network runs once per detected person on
the crops of all F = 2T+1 frames at that person's box. Its cost therefore grows with the number of people, while
PAVE-Net's stays nearly flat (a fixed set of Q queries). Both stages use the backbone family of PAVE-Net
(`pavenet_lite.model.backbone.ResNet`, tiny width by default), and the clip enters at the same resolution.

Shapes (D = `head_dim`, h x w = `crop_size`, N = detections summed over the batch):

* detector: centre frames `[B, 3, H, W]` -> centre logits `[B, 1, H/8, W/8]`, log box size `[B, 2, H/8, W/8]`
* crops:    clips `[B, F, 3, H, W]` + boxes `[N, 4]` -> `[N, F, 3, h, w]` (one box, the same on every frame)
* keypoint network: `[N, F, 3, h, w]` -> heatmaps `[N, K, h/4, w/4]`

All crops of a batch go through the keypoint network as one batch, as the test scripts of HRNet / DCPose do: this is
what a real two-stage system does, and its compute is still linear in N.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as Fn
from torch import nn
from tqdm.auto import tqdm

from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.joints import K
from pavenet_lite.model.backbone import ResNet


@dataclass
class TopDownConfig:
    num_frames: int = 3                      # F: crops of the F frames around the centre go into the keypoint net
    backbone_depth: int = 18
    backbone_width: float = 0.25             # PAVE-Net tiny's backbone width
    head_dim: int = 64                       # D
    max_size: int = 192                      # longest input side, as PAVE-Net tiny
    crop_size: tuple[int, int] = (64, 48)    # (h, w) of one person crop, 4:3 like SimpleBaseline's 256 x 192
    box_scale: float = 1.25                  # crop context around the box, as SimpleBaseline / HRNet
    max_detections: int = 30
    score_threshold: float = 0.3
    heatmap_sigma: float = 1.0               # Gaussian of the keypoint targets, in heatmap cells
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.num_frames % 2 == 0:
            raise ValueError(f"TopDownConfig.num_frames: expected an odd integer >= 1, got {self.num_frames}")
        if any(s % 8 for s in self.crop_size):
            raise ValueError(f"TopDownConfig.crop_size: expected multiples of 8 (stride 8), got {self.crop_size}")


class PersonDetector(nn.Module):
    """Centre-heatmap detector (CenterNet-style): `[B, 3, H, W]` -> logits `[B, 1, H/8, W/8]`, log size `[B, 2, ...]`.

    The size channels are log(box w / 8), log(box h / 8) in input pixels, read at the peak cell.
    """

    stride = 8

    def __init__(self, cfg: TopDownConfig):
        super().__init__()
        self.backbone = ResNet(cfg.backbone_depth, cfg.backbone_width)
        c3, c4, c5 = self.backbone.out_channels
        self.lateral = nn.ModuleList(nn.Conv2d(c, cfg.head_dim, 1) for c in (c3, c4, c5))
        self.fuse = nn.Sequential(nn.Conv2d(cfg.head_dim, cfg.head_dim, 3, padding=1), nn.ReLU(inplace=True))
        self.center = nn.Conv2d(cfg.head_dim, 1, 1)
        self.size = nn.Conv2d(cfg.head_dim, 2, 1)
        nn.init.constant_(self.center.bias, -2.19)  # prior probability 0.1: focal loss starts stable

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.backbone(images)
        x = self.lateral[0](feats[0])  # [B, D, H/8, W/8]
        for lat, f in zip(self.lateral[1:], feats[1:]):  # coarse levels see whole people: upsample and add
            x = x + Fn.interpolate(lat(f), size=x.shape[-2:], mode="nearest")
        x = self.fuse(x)
        return self.center(x), self.size(x)


class TemporalKeypointNet(nn.Module):
    """Single-person pose from F crops at one box: `[N, F, 3, h, w]` -> heatmaps `[N, K, h/4, w/4]`.

    Each crop goes through the backbone (stride 8 and 16 features); the F frames are fused by a 1x1 convolution over
    the stacked frame channels (a learned temporal weighting, the simplest form of PoseWarper's aggregation), then
    one transposed convolution brings the heatmaps to stride 4 as in SimpleBaseline.
    """

    def __init__(self, cfg: TopDownConfig):
        super().__init__()
        self.backbone = ResNet(cfg.backbone_depth, cfg.backbone_width)
        c3, c4, _ = self.backbone.out_channels
        F_, D = cfg.num_frames, cfg.head_dim
        self.fuse3 = nn.Conv2d(F_ * c3, D, 1)
        self.fuse4 = nn.Conv2d(F_ * c4, D, 1)
        self.head = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(D, D, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.ConvTranspose2d(D, D, 4, 2, 1), nn.ReLU(inplace=True), nn.Conv2d(D, K, 1))

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        N, F_ = crops.shape[:2]
        b = self.backbone  # stem .. layer3 only: stride 32 is 2 x 2 cells on a 64 x 48 crop, too coarse to help
        x = b.layer1(b.maxpool(b.relu(b.bn1(b.conv1(crops.flatten(0, 1))))))
        c3 = b.layer2(x)   # [N * F, c3, h/8, w/8]
        c4 = b.layer3(c3)  # [N * F, c4, h/16, w/16]
        x = self.fuse3(c3.unflatten(0, (N, F_)).flatten(1, 2))  # [N, D, h/8, w/8]
        x = x + Fn.interpolate(self.fuse4(c4.unflatten(0, (N, F_)).flatten(1, 2)), size=x.shape[-2:], mode="nearest")
        return self.head(x)  # [N, K, h/4, w/4]


def decode_detections(center_logits: torch.Tensor, log_size: torch.Tensor, stride: int, top_n: int | None = None,
                      max_detections: int = 30, threshold: float = 0.3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Peaks of the centre heatmap -> per image (boxes `[n, 4]` xyxy input pixels, scores `[n]`), best first.

    center_logits `[B, 1, h, w]`, log_size `[B, 2, h, w]`. A peak is a cell equal to its 3 x 3 maximum. With `top_n`
    the n = top_n best cells are returned whatever their score (peaks first, then the best other cells if the map has
    fewer peaks): the benchmark forces the number of people this way. Otherwise up to `max_detections` peaks with a
    probability >= `threshold`.
    """
    prob = center_logits.sigmoid()[:, 0]  # [B, h, w]
    B, h, w = prob.shape
    peak = prob == Fn.max_pool2d(prob[:, None], 3, 1, 1)[:, 0]
    ranked = (prob + peak.float()).flatten(1)  # peaks rank above every non-peak; order within each group by prob
    n = min(top_n if top_n is not None else max_detections, h * w)
    _, index = ranked.topk(n, dim=1)  # [B, n]
    out = []
    for b in range(B):
        idx = index[b]
        scores = prob[b].flatten()[idx]
        if top_n is None:
            keep = (scores >= threshold) & peak[b].flatten()[idx]
            idx, scores = idx[keep], scores[keep]
        cy, cx = (idx // w).float(), (idx % w).float()
        centre = torch.stack([cx, cy], -1).add(0.5).mul(stride)  # [n, 2] cell centres in input pixels
        wh = log_size[b].flatten(1)[:, idx].T.exp() * stride  # [n, 2]
        out.append((torch.cat([centre - wh / 2, centre + wh / 2], -1), scores))
    return out


def box_crops(clips: torch.Tensor, boxes: torch.Tensor, batch_index: torch.Tensor, crop_size: tuple[int, int],
              box_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops of every frame at each box: clips `[B, F, 3, H, W]`, boxes `[N, 4]` xyxy pixels, batch_index `[N]`.

    The box is widened to the crop's aspect ratio and scaled by `box_scale` around its centre. Returns the crops
    `[N, F, 3, h, w]` and the crop windows `[N, 4]` xyxy pixels (to map heatmaps back to the frame).
    """
    ch, cw = crop_size
    H, W = clips.shape[-2:]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2  # [N, 2]
    bw, bh = (boxes[:, 2] - boxes[:, 0]).clamp(min=1.0), (boxes[:, 3] - boxes[:, 1]).clamp(min=1.0)
    bw, bh = torch.maximum(bw, bh * cw / ch) * box_scale, torch.maximum(bh, bw * ch / cw) * box_scale
    half = torch.stack([bw, bh], -1) / 2  # [N, 2]
    windows = torch.cat([centre - half, centre + half], -1)  # [N, 4]
    theta = clips.new_zeros(len(boxes), 2, 3)  # affine_grid maps crop [-1, 1] to frame [-1, 1]
    theta[:, 0, 0], theta[:, 0, 2] = bw / W, 2 * centre[:, 0] / W - 1
    theta[:, 1, 1], theta[:, 1, 2] = bh / H, 2 * centre[:, 1] / H - 1
    F_ = clips.shape[1]
    grid = Fn.affine_grid(theta, [len(boxes), 3, ch, cw], align_corners=False)  # [N, h, w, 2]
    crops = clips.new_empty(len(boxes), F_, 3, ch, cw)
    for b in batch_index.unique().tolist():
        sel = batch_index == b
        # The n crops of a clip side by side in one grid [F, h, n * w, 2]: each frame is read in place, not n times.
        g = grid[sel].permute(1, 0, 2, 3).flatten(1, 2)[None].expand(F_, -1, -1, -1)
        out = Fn.grid_sample(clips[b], g, align_corners=False)  # [F, 3, h, n * w]; zeros outside the frame
        crops[sel] = out.unflatten(-1, (-1, cw)).permute(3, 0, 1, 2, 4)  # [n, F, 3, h, w]
    return crops, windows


def decode_heatmaps(heatmaps: torch.Tensor, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Argmax of each joint's heatmap `[N, K, h', w']` -> keypoints `[N, K, 2]` pixels in the frame, scores `[N, K]`.

    As SimpleBaseline, the argmax moves a quarter cell towards its higher neighbour along x and y (a cell of a
    stride-4 heatmap is several pixels, often more than the PCKh threshold of a small person).
    """
    h, w = heatmaps.shape[-2:]
    scores, idx = heatmaps.flatten(2).max(-1)  # [N, K]
    x, y = idx % w, idx // w
    padded = Fn.pad(heatmaps, (1, 1, 1, 1)).flatten(2)  # [N, K, (h + 2) * (w + 2)]
    at = lambda dy, dx: padded.gather(2, ((y + 1 + dy) * (w + 2) + x + 1 + dx)[..., None])[..., 0]  # [N, K]
    shift = torch.stack([(at(0, 1) - at(0, -1)).sign() * ((x > 0) & (x < w - 1)),   # no shift on the border,
                         (at(1, 0) - at(-1, 0)).sign() * ((y > 0) & (y < h - 1))], -1) * 0.25  # as SimpleBaseline
    cell = (torch.stack([x, y], -1).float() + 0.5 + shift) / torch.tensor([w, h], device=heatmaps.device)  # in [0, 1]
    size = windows[:, 2:] - windows[:, :2]  # [N, 2]
    return windows[:, None, :2] + cell * size[:, None], scores


class TopDownPoseEstimator(nn.Module):
    """Detector + per-person temporal keypoint network; `forward(clips, masks, top_n)` -> B dicts of people."""

    def __init__(self, cfg: TopDownConfig):
        super().__init__()
        self.cfg = cfg
        self.detector = PersonDetector(cfg)
        self.keypoint_net = TemporalKeypointNet(cfg)

    @torch.no_grad()
    def forward(self, clips: torch.Tensor, masks: torch.Tensor,
                top_n: int | None = None) -> list[dict[str, torch.Tensor]]:
        """clips `[B, F, 3, H, W]`, masks `[B, H, W]` (True = padding).

        Returns per clip: "boxes" `[n, 4]` detected xyxy, "scores" `[n]`, "keypoints" `[n, K, 2]`, "keypoint_scores"
        `[n, K]`; coordinates normalised by the unpadded size like PAVE-Net's outputs. `top_n` forces n detections.
        """
        cfg = self.cfg
        centre_logits, log_size = self.detector(clips[:, clips.shape[1] // 2])
        dets = decode_detections(centre_logits, log_size, self.detector.stride, top_n, cfg.max_detections,
                                 cfg.score_threshold)
        boxes = torch.cat([d[0] for d in dets])  # [N, 4]
        batch_index = torch.cat([torch.full((len(d[0]),), b, dtype=torch.long, device=clips.device)
                                 for b, d in enumerate(dets)])
        if len(boxes):
            crops, windows = box_crops(clips, boxes, batch_index, cfg.crop_size, cfg.box_scale)  # [N, F, 3, h, w]
            keypoints, kp_scores = decode_heatmaps(self.keypoint_net(crops), windows)
        else:  # nobody detected: the second stage costs nothing
            keypoints, kp_scores = boxes.new_zeros(0, K, 2), boxes.new_zeros(0, K)
        sizes = torch.stack([(~masks).any(1).sum(1), (~masks).any(2).sum(1)], -1)  # [B, 2] unpadded (w, h) pixels
        out, start = [], 0
        for b, (bx, sc) in enumerate(dets):
            wh = sizes[b].float()
            sl = slice(start, start + len(bx))
            out.append({"boxes": bx / wh.repeat(2), "scores": sc, "keypoints": keypoints[sl] / wh,
                        "keypoint_scores": kp_scores[sl]})
            start += len(bx)
        return out


def _gaussian(grid_x: torch.Tensor, grid_y: torch.Tensor, centres: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Unnormalised Gaussians on a grid: centres `[n, 2]` (cells), sigma `[n]` -> `[n, h, w]` with peak 1."""
    d2 = (grid_x[None] - centres[:, 0, None, None]) ** 2 + (grid_y[None] - centres[:, 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma[:, None, None] ** 2))


def keypoint_targets(keypoints: torch.Tensor, windows: torch.Tensor, heatmap_size: tuple[int, int],
                     sigma: float) -> torch.Tensor:
    """Gaussian heatmaps `[N, K, h', w']` (peak 1) for keypoints `[N, K, 2]` pixels of crops with windows `[N, 4]`.

    The inverse of `decode_heatmaps`: a joint at the centre of heatmap cell (i, j) peaks exactly there.
    """
    hh, hw = heatmap_size
    dev = keypoints.device
    gy, gx = torch.meshgrid(torch.arange(hh, dtype=torch.float32, device=dev),
                            torch.arange(hw, dtype=torch.float32, device=dev), indexing="ij")
    size = windows[:, None, 2:] - windows[:, None, :2]  # [N, 1, 2]
    cells = (keypoints - windows[:, None, :2]) / size * torch.tensor([hw, hh], device=dev) - 0.5  # [N, K, 2] cells
    heat = _gaussian(gx, gy, cells.flatten(0, 1), torch.full((cells.shape[0] * cells.shape[1],), sigma, device=dev))
    return heat.unflatten(0, cells.shape[:2])


def topdown_loss(model: TopDownPoseEstimator, clips: torch.Tensor, targets: list[dict]) -> dict[str, torch.Tensor]:
    """Training losses of both stages on a batch (clips `[B, F, 3, H, W]`, targets as in docs/design.md).

    "center": CenterNet's penalty-reduced focal loss on Gaussian centre targets (peak = the box centre's cell);
    "size": L1 on the log box size at each person's centre cell; "keypoint": MSE between heatmaps and Gaussian joint
    targets on crops at the ground-truth boxes (top-down methods train the second stage on ground-truth boxes).
    """
    cfg, stride = model.cfg, model.detector.stride
    logits, log_size = model.detector(clips[:, clips.shape[1] // 2])  # [B, 1, h, w], [B, 2, h, w]
    h, w = logits.shape[-2:]
    dev = logits.device
    gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=dev),
                            torch.arange(w, dtype=torch.float32, device=dev), indexing="ij")
    heat = torch.zeros(logits.shape[0], h, w, device=dev)
    size_terms, boxes_px, batch_index, keypoints_px, annotated = [], [], [], [], []
    for b, t in enumerate(targets):
        scale = t["size"].flip(0).float()  # (w, h) pixels of the unpadded input
        boxes = t["boxes"] * scale.repeat(2)  # [G, 4] pixels
        if len(boxes) == 0:
            continue
        wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1.0)  # [G, 2]
        upper = torch.tensor([w - 1, h - 1], dtype=boxes.dtype, device=dev)
        cell = ((boxes[:, :2] + boxes[:, 2:]) / 2 / stride).floor().clamp(torch.zeros_like(upper), upper)
        sigma = (wh.prod(1).sqrt() / stride / 6).clamp(min=0.8)
        heat[b] = torch.maximum(heat[b], _gaussian(gx, gy, cell, sigma).amax(0))
        heat[b, cell[:, 1].long(), cell[:, 0].long()] = 1.0
        size_terms.append(log_size[b][:, cell[:, 1].long(), cell[:, 0].long()].T - (wh / stride).log())  # [G, 2]
        boxes_px.append(boxes)
        batch_index.append(torch.full((len(boxes),), b, dtype=torch.long, device=dev))
        keypoints_px.append(t["keypoints"] * scale)
        annotated.append(t["annotated"])
    p = logits[:, 0].sigmoid().clamp(1e-4, 1 - 1e-4)
    pos = heat == 1.0
    focal = torch.where(pos, -(1 - p) ** 2 * p.log(), -(1 - heat) ** 4 * p ** 2 * (1 - p).log())
    losses = {"center": focal.sum() / pos.sum().clamp(min=1)}
    if not boxes_px:
        zero = logits.sum() * 0.0
        return {**losses, "size": zero, "keypoint": zero}
    losses["size"] = torch.cat(size_terms).abs().mean()
    crops, windows = box_crops(clips, torch.cat(boxes_px), torch.cat(batch_index), cfg.crop_size, cfg.box_scale)
    heatmaps = model.keypoint_net(crops)  # [N, K, h', w']
    target = keypoint_targets(torch.cat(keypoints_px), windows, heatmaps.shape[-2:], cfg.heatmap_sigma)
    weight = torch.cat(annotated).flatten().float()  # [N * K]
    err = ((heatmaps - target) ** 2).mean((2, 3)).flatten()  # [N * K]
    losses["keypoint"] = (err * weight).sum() / weight.sum().clamp(min=1) * 1000  # heatmap MSE is tiny: rescale
    return losses


def train_topdown(root: str | Path, cfg: TopDownConfig | None = None, steps: int = 200, seed: int = 0,
                  batch_size: int = 2, progress: bool = False) -> tuple[TopDownPoseEstimator, list[dict[str, float]]]:
    """A small training run on the "train" split of a PoseTrack18-layout data set (e.g. SynthTrack) from scratch.

    Returns the model (in eval mode) and the loss history (one dict of floats per step). Clips are drawn with a seeded
    generator, so two runs with the same arguments are identical.
    """
    cfg = cfg or TopDownConfig()
    torch.manual_seed(seed)
    model = TopDownPoseEstimator(cfg).train()
    data = PoseTrackClips(root, "train", cfg.num_frames, cfg.max_size, train=True, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    history = []
    for _ in tqdm(range(steps), desc="train top-down", disable=not progress):
        clips, _, targets = collate_clips([data[int(i)] for i in torch.randint(len(data), (batch_size,), generator=g)])
        losses = topdown_loss(model, clips, targets)
        opt.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        history.append({k: v.item() for k, v in losses.items()})
    return model.eval(), history
