"""PAVE-Net assembly: clip -> backbone -> neck -> spatial encoder -> query selection -> pose decoder -> joint decoder.

    clips [B, F, 3, H, W] --ResNet, frames as batch--> C3..C5 [B*F, c, H/s, W/s] --neck--> L maps [B*F, C, H_l, W_l]
    --flatten + sine PE + level embedding--> tokens [B*F, N, C] --spatial encoder--> memory [B, F, N, C]
    --centre frame proposals, top-Q--> queries [B, Q, C], references [B, F, Q, K, 2] (proposal tiled over F)
    --pose decoder (pose-aware attention over F frames)--> per layer scores [B, Q], centre keypoints [B, Q, K, 2]
    --select persons (top-k or matched)--> joint decoder --> refined centre keypoints [R, K, 2]

With `cfg.fine_level` the joint decoder also reads a stride-4 level (`fine_level.py`), as its level L after the
encoder's L levels.

Input and output conventions are in docs/design.md; `outputs["attention"]` in `attention_capture.py`. The three
RealNVP flows of the RLE losses live here (`self.flows`) so that optimisers, checkpoints and DDP see them; the
forward pass does not use them.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from pavenet_lite.config import PAVENetConfig
from pavenet_lite.model.attention_capture import image_sizes, to_pixels
from pavenet_lite.model.backbone import ResNet
from pavenet_lite.model.flow import RealNVP
from pavenet_lite.model.fine_level import FineLevel
from pavenet_lite.model.heads import SigmaHead, score_head
from pavenet_lite.model.joint_decoder import JointDecoder
from pavenet_lite.model.joint_heatmap import JointHeatmapHead
from pavenet_lite.model.neck import Neck
from pavenet_lite.model.pose_decoder import PoseDecoder
from pavenet_lite.model.pose_denoising import PoseDenoising
from pavenet_lite.model.position_encoding import PositionEncoding, level_masks, valid_ratios
from pavenet_lite.model.query_selection import QuerySelection
from pavenet_lite.model.spatial_encoder import SpatialEncoder, token_centres

Select = Callable[[dict[str, Any]], list[torch.Tensor]]


class PAVENet(nn.Module):
    def __init__(self, cfg: PAVENetConfig):
        super().__init__()
        self.cfg = cfg
        C, K, Fr, L, M = cfg.hidden_dim, cfg.num_keypoints, cfg.num_frames, cfg.num_levels, cfg.num_heads
        self.backbone = ResNet(cfg.backbone_depth, cfg.backbone_width, cfg.backbone_frozen_bn,
                               cfg.backbone_frozen_stages)
        self.neck = Neck(self.backbone.out_channels, C, L)
        self.position = PositionEncoding(C, L)
        self.encoder = SpatialEncoder(cfg.enc_layers, C, cfg.ffn_dim, cfg.dropout, M, L, cfg.enc_points)
        self.query_selection = QuerySelection(C, cfg.num_queries, K, cfg.query_nms)
        # Positional and content halves; one set of Q per query group (training only; inference uses the first).
        self.query_embed = nn.Embedding(cfg.num_groups * cfg.num_queries, 2 * C)
        self.pose_decoder = PoseDecoder(cfg.pose_layers, C, cfg.ffn_dim, cfg.dropout, M, L, K, Fr,
                                        cfg.pose_anchor, cfg.pose_last_all_frames)
        self.cls_heads = nn.ModuleList(score_head(C) for _ in range(cfg.pose_layers))
        self.sigma_heads = nn.ModuleList(SigmaHead(C, K) for _ in range(cfg.pose_layers))
        joint_levels = L + 1 if cfg.fine_level else L
        self.joint_decoder = (JointDecoder(cfg.joint_layers, C, cfg.ffn_dim, cfg.dropout, M, joint_levels,
                                           cfg.joint_points, K, Fr) if cfg.joint_layers > 0 else None)
        flows = {"enc": RealNVP(), "dec": RealNVP()}
        if cfg.joint_layers > 0:
            flows["refine"] = RealNVP()
        self.flows = nn.ModuleDict(flows)
        # Built last, so that switching it on leaves the initialisation of everything above unchanged.
        self.heatmap_head = JointHeatmapHead(C, K) if cfg.loss_hm > 0 else None
        self.denoising = PoseDenoising(C, cfg.dn_groups, cfg.dn_noise) if cfg.dn_groups > 0 else None
        self.fine_level = FineLevel(self.backbone.c2_channels, C) if cfg.fine_level else None

    def forward(self, clips: torch.Tensor, masks: torch.Tensor, select: Select | None = None,
                return_attention: bool = False, targets: list[dict[str, torch.Tensor]] | None = None
                ) -> dict[str, Any]:
        """clips `[B, F, 3, H, W]`, masks `[B, H, W]` (True = padding) -> output dict of docs/design.md.

        `select(pose_outputs) -> list of B LongTensors [P_b]` picks the pose queries refined by the joint decoder
        (training: the matched queries); None takes the top `cfg.num_refine` by score. `targets` (training, with
        `cfg.dn_groups` > 0) adds the pose-denoising rows' outputs as `outputs["dn_outputs"]`.
        """
        cfg = self.cfg
        B, Fr = clips.shape[:2]
        if Fr != cfg.num_frames:
            raise ValueError(f"PAVENet.forward: clips have F = {Fr} frames, the config says {cfg.num_frames}")
        c = Fr // 2
        feats = self.backbone(clips.flatten(0, 1), with_c2=self.fine_level is not None)
        c2 = feats.pop(0) if self.fine_level is not None else None                # [B*F, c2, H/4, W/4]
        srcs = self.neck(feats)                                                    # L x [B*F, C, H_l, W_l]
        shapes = [(int(s.shape[-2]), int(s.shape[-1])) for s in srcs]
        lvl_masks = level_masks(masks, shapes)
        ratios = valid_ratios(lvl_masks)                                           # [B, L, 2]
        pos = torch.cat([self.position(m, lvl).flatten(2).transpose(1, 2) for lvl, m in enumerate(lvl_masks)], 1)
        src = torch.cat([s.flatten(2).transpose(1, 2) for s in srcs], 1)           # [B*F, N, C]
        mask = torch.cat([m.flatten(1) for m in lvl_masks], 1)                     # [B, N]
        N, C = src.shape[1:]
        memory, enc_attn = self.encoder(src, pos.repeat_interleave(Fr, 0), mask.repeat_interleave(Fr, 0), shapes,
                                        ratios.repeat_interleave(Fr, 0), return_attention)
        memory = memory.view(B, Fr, N, C)                                          # frame-interleaved b * F + f
        fine = None
        if self.fine_level is not None:
            level0 = memory.flatten(0, 1)[:, :shapes[0][0] * shapes[0][1]].transpose(1, 2).unflatten(2, shapes[0])
            fine = self.fine_level(c2, level0)                                     # [B*F, C, H_f, W_f]

        enc_outputs, content, reference = self.query_selection(memory[:, c], mask, token_centres(shapes, ratios))
        heatmap = None
        if self.heatmap_head is not None and self.training:
            if fine is None:
                finest, shape, hm_mask, hm_ratio = (memory[:, c, :shapes[0][0] * shapes[0][1]], shapes[0],
                                                    lvl_masks[0], ratios[:, 0])
            else:
                shape = (int(fine.shape[-2]), int(fine.shape[-1]))
                finest = fine.unflatten(0, (B, Fr))[:, c].flatten(2).transpose(1, 2)
                hm_mask = level_masks(masks, [shape])[0]
                hm_ratio = valid_ratios([hm_mask])[:, 0]
            heatmap = {"logits": self.heatmap_head(finest, shape), "valid": ~hm_mask, "ratios": hm_ratio}
        dn_outputs = None
        if self.denoising is not None and self.training and targets is not None:
            dn_outputs = self._denoise(targets, memory, mask, shapes, ratios)
        # Query groups (Group DETR) fold into the batch: row b * G + g is group g of clip b. The groups share the
        # clip and its proposals but never attend to each other, and each is matched one-to-one on its own.
        G = cfg.num_groups if self.training and not return_attention else 1
        if G > 1:
            content, reference, memory, mask, ratios = (t.repeat_interleave(G, 0)
                                                        for t in (content, reference, memory, mask, ratios))
            B = B * G
        embed = self.query_embed.weight[:G * cfg.num_queries].view(G, cfg.num_queries, 2 * C).repeat(B // G, 1, 1)
        query_pos, query = embed.split(C, dim=-1)                                  # [B, Q, C] each
        reference = reference[:, None].expand(-1, Fr, -1, -1, -1)                  # [B, F, Q, K, 2]
        hidden, refs, pose_attn = self.pose_decoder(content + query, query_pos, reference, memory,
                                                    mask, shapes, ratios, return_attention)
        layers = [{"pred_logits": cls(h).squeeze(-1), "pred_keypoints": r[:, c], "pred_sigmas": sig(h)}
                  for h, r, cls, sig in zip(hidden, refs, self.cls_heads, self.sigma_heads)]
        out: dict[str, Any] = {**layers[-1], "aux_outputs": layers[:-1], "enc_outputs": enc_outputs,
                               "frame_keypoints": refs[-1]}
        if heatmap is not None:
            out["heatmap"] = heatmap
        if dn_outputs is not None:
            out["dn_outputs"] = dn_outputs

        chosen = self._select(out, select)
        P = max(int(ix.numel()) for ix in chosen)
        index = torch.zeros(B, P, dtype=torch.long, device=clips.device)
        valid = torch.zeros(B, P, dtype=torch.bool, device=clips.device)
        for b, ix in enumerate(chosen):
            index[b, :ix.numel()] = ix
            valid[b, :ix.numel()] = True
        out["refine_batch_index"] = torch.arange(B, device=clips.device)[:, None].expand(B, P)[valid]
        out["refine_query_index"] = index[valid]
        out["refine_outputs"] = []
        joint_attn: list[dict[str, torch.Tensor]] = []
        joint_shapes, joint_ratios = shapes, ratios
        if self.joint_decoder is not None:
            K = cfg.num_keypoints
            gather = index[:, None, :, None, None].expand(B, Fr, P, K, 2)
            person_refs = torch.gather(refs[-1], 2, gather).permute(0, 2, 1, 3, 4).detach()  # [B, P, F, K, 2]
            joint_memory, joint_mask = memory, mask
            if fine is not None:
                joint_memory, joint_mask, joint_shapes, joint_ratios = self._with_fine_level(
                    fine, masks, memory, mask, shapes, ratios, G)
            if P > 0:
                kpts, sigmas, joint_attn = self.joint_decoder(person_refs, joint_memory, joint_mask, joint_shapes,
                                                              joint_ratios, return_attention)
            else:  # nobody selected: empty outputs keep the structure for the losses
                kpts = sigmas = [person_refs[:, :, c]] * cfg.joint_layers
            out["refine_outputs"] = [{"pred_keypoints": k[valid], "pred_sigmas": s[valid]}
                                     for k, s in zip(kpts, sigmas)]
        if return_attention:
            out["attention"] = self._attention(masks, shapes, ratios, joint_ratios, enc_attn, pose_attn, joint_attn,
                                               valid, B, Fr)
        return out

    @staticmethod
    def _with_fine_level(fine: torch.Tensor, masks: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor,
                         shapes: list[tuple[int, int]], ratios: torch.Tensor, G: int
                         ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]], torch.Tensor]:
        """The joint decoder's memory: the encoder's L levels `[B*G, F, N, C]` then the stride-4 map `[B*F, C, H_f,
        W_f]` as level L -> memory `[B*G, F, N + H_f W_f, C]`, mask `[B*G, N + H_f W_f]`, L + 1 shapes and ratios."""
        Bg, Fr, _, C = memory.shape
        shape = (int(fine.shape[-2]), int(fine.shape[-1]))
        fine_mask = level_masks(masks, [shape])[0]                                 # [B, H_f, W_f]
        tokens = fine.flatten(2).transpose(1, 2).unflatten(0, (-1, Fr)).repeat_interleave(G, 0)  # [B*G, F, H_f W_f, C]
        return (torch.cat([memory, tokens], 2), torch.cat([mask, fine_mask.flatten(1).repeat_interleave(G, 0)], 1),
                shapes + [shape], torch.cat([ratios, valid_ratios([fine_mask]).repeat_interleave(G, 0)], 1))

    def _denoise(self, targets: list[dict[str, torch.Tensor]], memory: torch.Tensor, mask: torch.Tensor,
                 shapes: list[tuple[int, int]], ratios: torch.Tensor) -> list[dict[str, torch.Tensor]] | None:
        """Pose decoder outputs of the denoising rows (`pose_denoising.py`), per layer: "pred_logits" `[B*n, D]`,
        "pred_keypoints" / "pred_sigmas" `[B*n, D, K, 2]` with n = `cfg.dn_groups` rows per clip, D = 2 G_max."""
        queries = self.denoising(targets)
        if queries is None:
            return None
        query, query_pos, reference = queries                                      # [B*n, D, C] x 2, [B*n, D, K, 2]
        n, Fr = self.cfg.dn_groups, memory.shape[1]
        hidden, refs, _ = self.pose_decoder(query, query_pos, reference[:, None].expand(-1, Fr, -1, -1, -1),
                                            memory.repeat_interleave(n, 0), mask.repeat_interleave(n, 0), shapes,
                                            ratios.repeat_interleave(n, 0), False)
        return [{"pred_logits": cls(h).squeeze(-1), "pred_keypoints": r[:, Fr // 2], "pred_sigmas": sig(h)}
                for h, r, cls, sig in zip(hidden, refs, self.cls_heads, self.sigma_heads)]

    def _select(self, pose_outputs: dict[str, Any], select: Select | None) -> list[torch.Tensor]:
        if select is None:
            logits = pose_outputs["pred_logits"].detach()
            top = logits.topk(min(self.cfg.num_refine, logits.shape[1]), dim=1).indices  # sorted by score
            return list(top)
        chosen = select(pose_outputs)
        if len(chosen) != pose_outputs["pred_logits"].shape[0]:
            raise ValueError(f"select returned {len(chosen)} index tensors for a batch of "
                             f"{pose_outputs['pred_logits'].shape[0]} clips")
        return [ix.to(pose_outputs["pred_logits"].device, torch.long) for ix in chosen]

    def _attention(self, masks: torch.Tensor, shapes: list[tuple[int, int]], ratios: torch.Tensor,
                   joint_ratios: torch.Tensor, enc: list[dict[str, torch.Tensor]], pose: list[dict[str, torch.Tensor]],
                   joint: list[dict[str, torch.Tensor]], valid: torch.Tensor, B: int, Fr: int) -> dict[str, Any]:
        sizes = image_sizes(masks)                                                 # [B, 2] (w, h)
        K = self.cfg.num_keypoints
        starts = [0]
        for h, w in shapes[:-1]:
            starts.append(starts[-1] + h * w)
        encoder = [{"locations": to_pixels(a["locations"], ratios.repeat_interleave(Fr, 0),
                                           sizes.repeat_interleave(Fr, 0)).squeeze(3).unflatten(0, (B, Fr)),
                    "weights": a["weights"].squeeze(3).unflatten(0, (B, Fr))} for a in enc]
        pose_decoder = [{"locations": to_pixels(a["locations"], ratios, sizes), "weights": a["weights"]}
                        for a in pose]
        joint_decoder = [{"locations": to_pixels(a["locations"], joint_ratios, sizes).unflatten(1, (-1, K))[valid],
                          "weights": a["weights"].unflatten(1, (-1, K))[valid]} for a in joint]
        return {"encoder": encoder, "pose_decoder": pose_decoder, "joint_decoder": joint_decoder,
                "level_shapes": shapes, "level_start": starts, "image_sizes": sizes}

    def param_groups(self) -> list[dict[str, Any]]:
        """AdamW parameter groups: lr for most, lr * lr_mult for names containing `cfg.lr_mult_keywords`."""
        slow, fast = [], []
        for name, p in self.named_parameters():
            if p.requires_grad:
                (slow if any(k in name for k in self.cfg.lr_mult_keywords) else fast).append(p)
        return [{"params": fast, "lr": self.cfg.lr},
                {"params": slow, "lr": self.cfg.lr * self.cfg.lr_mult}]


def build_model(cfg: PAVENetConfig) -> PAVENet:
    """The PAVE-Net model of `cfg` (random initialisation; see `load_backbone_weights` for ImageNet weights)."""
    return PAVENet(cfg)
