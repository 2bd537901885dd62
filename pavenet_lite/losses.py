"""The set-based training objective of PAVE-Net: focal classification + RLE keypoint regression (spec §4).

After Hungarian matching (`pavenet_lite.matcher`) every matched query is a positive ("this is person g") and every
other query a negative. The loss has three parts, each applied at several depths of the network:

* encoder proposals (all N centre-frame tokens): focal loss + RLE with flow `enc`;
* every pose-decoder layer (Q queries), matched separately: focal loss + RLE with flow `dec`;
* every joint-decoder layer (the R refined people): RLE with flow `refine`, against the person each refined query was
  matched to in the last pose layer.

Optional L1 and OKS keypoint terms exist for experiments (weight 0 in the paper config). Two options help a model
trained from scratch and are off in the paper config: one-to-many matching of the encoder proposals
(`cfg.enc_repeats`) and quality-aware score targets (`cfg.cls_quality`, `quality_targets` + `varifocal_loss`).
With G query groups (`cfg.num_groups`) every decoder term covers all groups, each matched one-to-one on its own. All maths runs in float32
with autocast disabled, so the criterion can be called inside an AMP region. Normalisers (#positives, #annotated
coordinates) are averaged over processes when torch.distributed is initialised, as in mmdet.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from pavenet_lite.keypoint_ops import oks
from pavenet_lite.model.joint_heatmap import heatmap_loss
from pavenet_lite.model.pose_denoising import denoising_matches

if TYPE_CHECKING:
    from pavenet_lite.matcher import HungarianMatcher

SIGMA_MIN = 1e-6  # floor on RLE sigmas: an fp16 sigma can underflow to 0, and log(0) would be -inf


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Binary focal loss (Lin et al. 2017), summed over all elements; the caller divides by #positives.

    logits, targets: same shape (targets in {0, 1}). alpha weighs positives, (1 - alpha) negatives;
    (1 - p_t)^gamma down-weights the many easy negatives.
    """
    logits, targets = logits.float(), targets.float()
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * (1 - p_t).pow(gamma) * ce).sum()


def varifocal_loss(logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Varifocal loss (Zhang et al. 2021) for soft score targets, summed; the caller divides by #positives.

    logits, targets: same shape, targets in [0, 1] (0 = negative, > 0 = a positive's quality). Binary cross-entropy
    towards the target, weighted by the target itself for positives (good matches count more) and by
    (1 - alpha) p^gamma for negatives, as the focal loss weighs them.
    """
    logits, targets = logits.float(), targets.float()
    p = logits.sigmoid()
    weight = torch.where(targets > 0, targets, (1 - alpha) * p.pow(gamma))
    return (weight * F.binary_cross_entropy_with_logits(logits, targets, reduction="none")).sum()


def quality_targets(quality: Tensor, clip_idx: Tensor, num_clips: int, exponent: float) -> Tensor:
    """Score targets of matched queries from their OKS: (OKS^p) / (best OKS^p of the same clip).

    quality `[M]` OKS in [0, 1], clip_idx `[M]` -> `[M]` in [0, 1]. Early in training every OKS is close to 0, and
    raw OKS targets teach every score to be 0 (measured: training collapses); dividing by the clip's best keeps one
    target of 1 per clip from the first step (Stable-DINO's rescaling), while worse matches of the clip ask for less.
    """
    t = quality.float().clamp(min=0).pow(exponent)
    best = torch.zeros(num_clips, device=t.device).scatter_reduce(0, clip_idx, t, "amax")     # [B]
    best = best[clip_idx]
    return torch.where(best > 0, t / best.clamp(min=1e-12), torch.ones_like(t))


def l1_loss(pred: Tensor, gt: Tensor, annotated: Tensor) -> Tensor:
    """Sum of |pred - gt| over annotated joints and both coordinates; the caller divides by #coordinates.

    pred, gt `[M, K, 2]`, annotated `[M, K]` bool.
    """
    return (pred[annotated].float() - gt[annotated].float()).abs().sum()


def rle_loss(pred: Tensor, sigma: Tensor, gt: Tensor, annotated: Tensor, flow: nn.Module) -> Tensor:
    """Residual log-likelihood loss (Li et al. 2021, PAVE-Net variant), summed; divide by #annotated coordinates.

    pred, sigma, gt `[M, K, 2]` (normalised coordinates; sigma > 0 per coordinate), annotated `[M, K]` bool,
    flow: has `log_prob(u [J, 2]) -> [J]`. With u = (pred - gt) / sigma, per annotated joint and coordinate:
        nf = log sigma - log phi(u)        (phi = flow density of the 2-D residual, shared by both coordinates)
        Q  = log(sigma sqrt(2 pi)) + |pred - gt| / (sqrt(2) sigma)
    The flow learns the shape of the residual distribution; sigma learns each prediction's uncertainty.
    """
    pred, gt = pred[annotated].float(), gt[annotated].float()              # [J, 2]
    sigma = sigma[annotated].float().clamp(min=SIGMA_MIN)                  # [J, 2]
    residual = pred - gt
    log_phi = flow.log_prob(residual / sigma)                              # [J]
    nf = sigma.log() - log_phi[:, None]                                    # [J, 2]
    q = torch.log(sigma * math.sqrt(2 * math.pi)) + residual.abs() / (math.sqrt(2) * sigma + 1e-9)
    return (nf + q).sum()


def reduce_normalisers(*counts: float | Tensor, device: torch.device) -> Tensor:
    """Counts -> `[len(counts)]` float32, averaged over processes if torch.distributed is initialised, each >= 1."""
    t = torch.stack([torch.as_tensor(c, dtype=torch.float32, device=device) for c in counts])
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t)
        t = t / dist.get_world_size()
    return t.clamp(min=1.0)


class SetCriterion(nn.Module):
    """All loss terms of one batch. `forward` returns unweighted named terms plus `loss`, the weighted total.

    Term names: `loss_cls_enc`, `loss_rle_enc`, `loss_cls_{d}` / `loss_rle_{d}` for pose layer d (aux layers first,
    the last layer last), `loss_rle_refine_{j}` for joint layer j; `loss_l1_*` / `loss_oks_*` for every keypoint
    output when their weight is > 0; `loss_hm_enc` (the encoder's auxiliary joint heatmaps, `model/joint_heatmap.py`)
    when `cfg.loss_hm` > 0 and the model returned them. The weight of a term is `cfg.loss_<kind>` (kind = cls, rle, l1, oks,
    neighbour). cfg: `PAVENetConfig` (or anything with its loss_* and focal_* fields).

    `loss_neighbour_frames` (only when `cfg.loss_neighbour` > 0 and F > 1) is NOT in the paper, which supervises the
    centre frame alone: an L1 term on the last layer's estimates `frame_keypoints` of the non-centre frames, for the
    queries matched in the last pose layer, against the same people there (`targets[b]["frame_keypoints"]`). Without
    it the non-centre refiners learn only through where the next layer samples, a weak signal (we measured
    that a CPU-trained F = 3 model does not follow people into the neighbouring frames).
    """

    def __init__(self, cfg: Any, matcher: HungarianMatcher):
        super().__init__()
        self.weights = {k: float(getattr(cfg, f"loss_{k}", 0.0))
                        for k in ("cls", "rle", "l1", "oks", "neighbour", "hm")}
        self.alpha, self.gamma = float(cfg.focal_alpha), float(cfg.focal_gamma)
        self.enc_repeats = int(getattr(cfg, "enc_repeats", 1))
        self.cls_quality = float(getattr(cfg, "cls_quality", 0.0))
        self.matcher = matcher

    def selector(self, targets: list[dict[str, Tensor]]) -> Callable[[dict[str, Tensor]], list[Tensor]]:
        """The `select` callable for the model's forward: last-layer pose outputs -> matched query ids per clip."""
        def select(pose_outputs: dict[str, Tensor]) -> list[Tensor]:
            device = pose_outputs["pred_logits"].device
            return [q.to(device) for q, _ in self.matcher(pose_outputs, per_group(targets, pose_outputs))]
        return select

    def weight(self, name: str) -> float:
        """Weight of a term called `loss_<kind>_<where>`."""
        return self.weights[name.split("_")[1]]

    def forward(self, outputs: dict[str, Any], targets: list[dict[str, Tensor]],
                flows: nn.ModuleDict | dict[str, nn.Module]) -> dict[str, Tensor]:
        """outputs: the model's output dict (docs/design.md); targets: B target dicts; flows: "enc", "dec", "refine"."""
        device = outputs["pred_logits"].device
        with torch.autocast(device_type=device.type, enabled=False):
            terms: dict[str, Tensor] = {}
            enc = outputs.get("enc_outputs")
            if enc is not None:
                valid = enc.get("valid")
                matches = self.matcher(enc, targets, valid=valid, repeats=self.enc_repeats)
                terms |= self._pose_terms(enc, _concat_targets(targets, device), matches, flows["enc"], "enc", valid)
            clip_targets, targets = targets, per_group(targets, outputs)
            gt = _concat_targets(targets, device)
            for d, layer in enumerate([*outputs.get("aux_outputs", []), outputs]):
                matches = self.matcher(layer, targets)
                terms |= self._pose_terms(layer, gt, matches, flows["dec"], str(d))
            if outputs.get("refine_outputs"):
                terms |= self._refine_terms(outputs, gt, matches, flows["refine"])
            if self.weights["hm"] > 0 and "heatmap" in outputs:
                focal, peaks = heatmap_loss(outputs["heatmap"], targets)
                (num_peaks,) = reduce_normalisers(peaks, device=device)
                terms["loss_hm_enc"] = focal / num_peaks
            if self.weights["neighbour"] > 0 and outputs["frame_keypoints"].shape[1] > 1:
                terms["loss_neighbour_frames"] = self._neighbour_term(outputs["frame_keypoints"], targets, matches)
            if outputs.get("dn_outputs"):
                terms |= self._denoising_terms(outputs["dn_outputs"], clip_targets, flows["dec"])
            terms["loss"] = sum(self.weight(name) * value for name, value in terms.items())
        return terms

    def _pose_terms(self, out: dict[str, Tensor], gt: dict[str, Any], matches: list[tuple[Tensor, Tensor]],
                    flow: nn.Module, where: str, valid: Tensor | None = None) -> dict[str, Tensor]:
        """Focal loss over the queries `[B, Q]` (only `valid` ones) + keypoint terms on the matched ones."""
        offsets = gt["offsets"]
        logits = out["pred_logits"].float()                                   # [B, Q]
        batch_idx = torch.cat([torch.full_like(q, b) for b, (q, _) in enumerate(matches)]).to(logits.device)
        query_idx = torch.cat([q for q, _ in matches]).to(logits.device)     # [M]
        gt_idx = torch.cat([g + offsets[b] for b, (_, g) in enumerate(matches)]).to(logits.device)
        ann = gt["annotated"][gt_idx]                                          # [M, K]
        pred = out["pred_keypoints"][batch_idx, query_idx]                    # [M, K, 2]
        sigma = out["pred_sigmas"][batch_idx, query_idx]                      # [M, K, 2]
        labels = torch.zeros_like(logits)
        if self.cls_quality > 0:
            quality = oks(pred.detach(), gt["keypoints"][gt_idx], ann, gt["areas"][gt_idx])  # [M]
            labels[batch_idx, query_idx] = quality_targets(quality, batch_idx, len(logits), self.cls_quality)
        else:
            labels[batch_idx, query_idx] = 1.0
        if valid is not None:
            logits, labels = logits[valid], labels[valid]
        num_pos, num_coords = reduce_normalisers(len(query_idx), 2 * ann.sum(), device=logits.device)
        cls = (varifocal_loss(logits, labels, self.alpha, self.gamma) if self.cls_quality > 0
               else sigmoid_focal_loss(logits, labels, self.alpha, self.gamma))
        terms = {f"loss_cls_{where}": cls / num_pos}
        return terms | self._keypoint_terms(pred, sigma, gt, gt_idx, flow, where, num_pos, num_coords)

    def _denoising_terms(self, layers: list[dict[str, Tensor]], targets: list[dict[str, Tensor]],
                         flow: nn.Module) -> dict[str, Tensor]:
        """Every pose layer's denoising rows (`model/pose_denoising.py`) with their known pairing: positives are
        scored and regressed like matched queries, negatives and empty slots only scored as "no person"."""
        groups = layers[0]["pred_logits"].shape[0] // len(targets)
        matches = denoising_matches(targets, groups)
        gt = _concat_targets([t for t in targets for _ in range(groups)], layers[0]["pred_logits"].device)
        terms: dict[str, Tensor] = {}
        for d, layer in enumerate(layers):
            terms |= self._pose_terms(layer, gt, matches, flow, f"dn_{d}")
        return terms

    def _refine_terms(self, outputs: dict[str, Any], gt: dict[str, Any], last_matches: list[tuple[Tensor, Tensor]],
                      flow: nn.Module) -> dict[str, Tensor]:
        """Keypoint terms of every joint-decoder layer; refined people not matched in the last pose layer are skipped."""
        device = outputs["pred_logits"].device
        num_b, num_q = outputs["pred_logits"].shape
        gt_of_query = torch.full((num_b, num_q), -1, dtype=torch.int64, device=device)   # [B, Q] global GT id or -1
        for b, (q, g) in enumerate(last_matches):
            gt_of_query[b, q.to(device)] = g.to(device) + gt["offsets"][b]
        gt_idx = gt_of_query[outputs["refine_batch_index"], outputs["refine_query_index"]]  # [R]
        keep = gt_idx >= 0
        gt_idx = gt_idx[keep]
        num_pos, num_coords = reduce_normalisers(len(gt_idx), 2 * gt["annotated"][gt_idx].sum(), device=device)
        terms: dict[str, Tensor] = {}
        for j, ref in enumerate(outputs["refine_outputs"]):
            terms |= self._keypoint_terms(ref["pred_keypoints"][keep], ref["pred_sigmas"][keep], gt, gt_idx, flow,
                                          f"refine_{j}", num_pos, num_coords)
        return terms

    def _neighbour_term(self, frame_keypoints: Tensor, targets: list[dict[str, Tensor]],
                        matches: list[tuple[Tensor, Tensor]]) -> Tensor:
        """L1 of the non-centre estimates `[B, F, Q, K, 2]` of matched queries against their people in those frames."""
        if any("frame_keypoints" not in t or "frame_annotated" not in t for t in targets):
            raise ValueError("SetCriterion: loss_neighbour > 0 needs target fields 'frame_keypoints' and "
                             "'frame_annotated'; build the data set with PoseTrackClips(..., with_frame_targets=True)")
        Fr = frame_keypoints.shape[1]
        others = [f for f in range(Fr) if f != Fr // 2]
        device = frame_keypoints.device
        pred = torch.cat([frame_keypoints[b][others][:, q.to(device)] for b, (q, _) in enumerate(matches)], 1)
        gt = torch.cat([t["frame_keypoints"][g][:, others].transpose(0, 1) for t, (_, g) in zip(targets, matches)],
                       1).to(device)                                                  # [F - 1, M, K, 2]
        ann = torch.cat([t["frame_annotated"][g][:, others].transpose(0, 1) for t, (_, g) in zip(targets, matches)],
                        1).to(device)                                                 # [F - 1, M, K]
        (num_coords,) = reduce_normalisers(2 * ann.sum(), device=device)
        return l1_loss(pred.float(), gt.float(), ann) / num_coords

    def _keypoint_terms(self, pred: Tensor, sigma: Tensor, gt: dict[str, Any], gt_idx: Tensor, flow: nn.Module,
                        where: str, num_pos: Tensor, num_coords: Tensor) -> dict[str, Tensor]:
        """RLE (and optional L1 / OKS) of matched predictions `[M, K, 2]` against GT people `gt_idx` `[M]`."""
        kpts, ann = gt["keypoints"][gt_idx], gt["annotated"][gt_idx]          # [M, K, 2], [M, K]
        terms = {f"loss_rle_{where}": rle_loss(pred, sigma, kpts, ann, flow) / num_coords}
        if self.weights["l1"] > 0:
            terms[f"loss_l1_{where}"] = l1_loss(pred, kpts, ann) / num_coords
        if self.weights["oks"] > 0:
            terms[f"loss_oks_{where}"] = (1 - oks(pred, kpts, ann, gt["areas"][gt_idx])).sum() / num_pos
        return terms


def per_group(targets: list[dict[str, Tensor]], pose_outputs: dict[str, Tensor]) -> list[dict[str, Tensor]]:
    """The targets of the decoder's batch: with G query groups folded into it (row b * G + g, `PAVENet.forward`),
    each clip's target G times; otherwise `targets` itself."""
    groups = pose_outputs["pred_logits"].shape[0] // max(len(targets), 1)
    return targets if groups <= 1 else [t for t in targets for _ in range(groups)]


def _concat_targets(targets: list[dict[str, Tensor]], device: torch.device) -> dict[str, Any]:
    """All GT people of the batch in one set: keypoints `[G_all, K, 2]`, annotated `[G_all, K]`, areas `[G_all]`,
    offsets: list of B ints (index of each clip's first person)."""
    sizes = [len(t["keypoints"]) for t in targets]
    return {
        "keypoints": torch.cat([t["keypoints"] for t in targets]).to(device).float(),
        "annotated": torch.cat([t["annotated"] for t in targets]).to(device).bool(),
        "areas": torch.cat([t["areas"] for t in targets]).to(device).float(),
        "offsets": [sum(sizes[:b]) for b in range(len(sizes))],
    }
