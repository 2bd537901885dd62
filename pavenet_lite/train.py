"""Training: `Trainer` runs the PAVE-Net recipe on PoseTrack-format data (SynthTrack or real PoseTrack).

One optimizer step = `accum` micro-batches of `batch_size` clips. AdamW with the paper's learning-rate multiplier for
the backbone and the sampling offsets, gradient clipping, linear warm-up then a x0.1 step; AMP on CUDA (bf16, or fp16
with a gradient scaler); DDP when launched by `torchrun`. Checkpoints hold everything needed for an exact resume on
CPU: model, optimizer, scheduler, scaler, RNG state, step, and both configs. The data order is a pure function of
(seed, epoch, rank) (`data.sampling`) and each clip's augmentation a pure function of (seed, epoch, index), so a
resumed run replays exactly the batches the uninterrupted run would have seen. The run's record (metrics log,
command line, card) is `run_card`.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from pavenet_lite import run_card
from pavenet_lite.checkpoint import check_config_matches, load_checkpoint, load_weights, save_checkpoint
from pavenet_lite.config import PAVENetConfig, get_config
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.data.errors import AnnotationError
from pavenet_lite.data.sampling import EpochIndexed, RunOrder
from pavenet_lite.data.subset import read_subset
from pavenet_lite.data.transforms import AUGMENTATIONS
from pavenet_lite.ema import ModelEMA
from pavenet_lite.files import remove_stale_temps, write_text_atomic
from pavenet_lite.losses import SetCriterion
from pavenet_lite.matcher import HungarianMatcher
from pavenet_lite.model import build_model, load_backbone_weights
from pavenet_lite.model.inflate import init_from_checkpoint
from pavenet_lite.run_card import RUN_FILES


@dataclass
class TrainConfig:
    """Everything about a run that is not the architecture (that is `PAVENetConfig`)."""

    data: str
    out: str
    config: str = "tiny"
    frames: int = 3
    steps: int | None = None  # optimizer steps; exactly one of steps / epochs
    epochs: int | None = None
    batch_size: int = 4
    accum: int = 1
    lr: float | None = None  # None: the model config's lr
    warmup: int = 50
    lr_drop: float = 0.8  # fraction of the run after which the lr is multiplied by 0.1
    device: str = "cpu"
    amp: bool = False
    amp_dtype: str = "bf16"  # "bf16" or "fp16" (fp16 uses a GradScaler)
    seed: int = 0
    log_every: int = 10
    val_every: int = 0  # 0: validate only at the end
    ckpt_every: int = 100  # write last.pt every N steps, and before and after every validation
    val_split: str = "val"
    val_videos: int | None = None  # validate on the first n val videos (None: all)
    num_workers: int = 0
    init_from: str | None = None  # start from these weights (any F: inflated over frames, pavenet_lite.model.inflate)
    backbone_weights: str | None = None  # torchvision ImageNet ResNet state dict for the backbone
    train_videos: int | None = None  # train on this many videos of the split (data.subset.spread)
    video_list: str | None = None  # or on the videos named in this text file
    overrides: dict[str, Any] = field(default_factory=dict)  # PAVENetConfig fields to override
    progress: bool = True


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _join_processes(device: str) -> tuple[int, int, torch.device]:
    """(world size, rank, device) of this process; joins the process group when launched by `torchrun`, and gives
    each CUDA process the GPU of its local rank."""
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    dev = torch.device(device)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    return world, rank, dev


class Trainer:
    """Train PAVE-Net. `Trainer(TrainConfig(...)).fit()`; `--resume` = `Trainer(cfg).fit(resume=True)`."""

    def __init__(self, tcfg: TrainConfig, model_cfg: PAVENetConfig | None = None):
        self.tcfg = tcfg
        self.world, self.rank, self.device = _join_processes(tcfg.device)
        if tcfg.amp and self.device.type != "cuda":
            raise ValueError("--amp needs a CUDA device (pass --device cuda)")
        self.cfg = model_cfg or get_config(tcfg.config, num_frames=tcfg.frames, **tcfg.overrides)
        torch.manual_seed(tcfg.seed)
        self.model = build_model(self.cfg)
        self.init_card = self._load_initial_weights()  # the card of the run the --init-from weights came from
        self.model.to(self.device)
        self.ema = ModelEMA(self.model, self.cfg.ema_decay) if self.cfg.ema_decay > 0 else None
        self.criterion = SetCriterion(self.cfg, HungarianMatcher.from_config(self.cfg))
        self.ddp = self._wrap_ddp() if self.world > 1 else None
        lr = tcfg.lr if tcfg.lr is not None else self.cfg.lr
        groups = self.model.param_groups()
        for g in groups:  # the model's groups carry cfg.lr; a run-level lr rescales both, keeping the multiplier
            g["lr"] *= lr / self.cfg.lr
        self.optimizer = torch.optim.AdamW(groups, weight_decay=self.cfg.weight_decay)
        check_split(tcfg.data, tcfg.val_split)  # validation comes last: a missing split must not cost the run
        self.dataset = PoseTrackClips(tcfg.data, "train", num_frames=self.cfg.num_frames,
                                      max_size=self.cfg.max_size, train=True, seed=tcfg.seed,
                                      with_frame_targets=self.cfg.loss_neighbour > 0,
                                      augment=AUGMENTATIONS[self.cfg.augment],
                                      videos=read_subset(tcfg.data, "train", tcfg.train_videos, tcfg.video_list,
                                                         require_labeled=True))
        self.steps_per_epoch, self.total_steps = self._run_length()
        drop_at = int(tcfg.lr_drop * self.total_steps)
        warmup = min(tcfg.warmup, max(1, self.total_steps // 10))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / warmup) * (0.1 if s >= drop_at else 1.0))
        self.amp_dtype = torch.bfloat16 if tcfg.amp_dtype == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=tcfg.amp and self.amp_dtype == torch.float16)
        self.step = 0
        self.best_map = -1.0
        self.val_pending = False  # last.pt was written before the validation due at its step had finished
        self.elapsed = 0.0  # seconds of training (and validation) before this process took over, from last.pt
        self._clock = time.perf_counter()
        self.out = Path(tcfg.out)

    def _load_initial_weights(self) -> dict[str, Any] | None:
        """ImageNet backbone weights or `--init-from` weights (inflated to F frames), if asked for; returns the card
        of the run the init weights came from. A resumed run overwrites them with last.pt: they only decide where
        step 0 starts."""
        tcfg = self.tcfg
        if tcfg.backbone_weights:
            if tcfg.init_from:
                raise ValueError("--backbone-weights and --init-from both set the backbone weights; give one")
            load_backbone_weights(self.model.backbone, tcfg.backbone_weights, strict=True)
        if not tcfg.init_from:
            return None
        init = load_checkpoint(tcfg.init_from)
        init_from_checkpoint(self.model, init, self.cfg.num_frames, tcfg.init_from)
        return run_card.init_card(Path(tcfg.init_from), init)

    def _wrap_ddp(self) -> torch.nn.parallel.DistributedDataParallel:
        ids = [self.device.index] if self.device.type == "cuda" else None
        # The RLE flows are used by the loss, outside forward, so DDP cannot track them: we leave them out of DDP
        # and average their gradients ourselves (`_sync_flow_grads`). find_unused_parameters: a rank whose clips
        # match nobody runs no joint decoder in that step.
        flow_params = [f"flows.{n}" for n, _ in self.model.flows.named_parameters()]
        torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self.model, flow_params)
        return torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=True)

    def _run_length(self) -> tuple[int, int]:
        """(optimizer steps per epoch, total optimizer steps) of the run."""
        tcfg = self.tcfg
        per_step = tcfg.batch_size * tcfg.accum * self.world
        if len(self.dataset) < per_step:
            raise ValueError(f"{tcfg.data}: the train split has {len(self.dataset)} labelled clips, fewer than one "
                             f"optimizer step takes (batch_size x accum x processes = {per_step}); "
                             "lower the batch size")
        steps_per_epoch = len(self.dataset) // per_step
        if (tcfg.steps is None) == (tcfg.epochs is None):
            raise ValueError("give exactly one of steps or epochs")
        return steps_per_epoch, tcfg.steps if tcfg.steps is not None else tcfg.epochs * steps_per_epoch

    # -- state ---------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything for an exact resume. With EMA, `model` holds the averaged weights (what every reader of a
        checkpoint, prediction, export and `--init-from`, should use) and `train_model` the weights being trained."""
        state = {"model": self.eval_model().state_dict(), "config": self.cfg.to_dict(),
                 "train_config": asdict(self.tcfg), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "rng": _rng_state(),
                 "step": self.step, "best_map": self.best_map, "elapsed": self.time(),
                 "val_pending": self.val_pending}
        if self.ema is not None:
            state |= {"train_model": self.model.state_dict(), "ema_updates": self.ema.updates}
        return state

    def eval_model(self) -> torch.nn.Module:
        """The weights to validate and ship: the EMA average when `cfg.ema_decay` > 0, else the trained ones."""
        return self.ema.model if self.ema is not None else self.model

    def load_state_dict(self, state: dict[str, Any], path: str | os.PathLike) -> None:
        # Through from_dict, so a checkpoint written before a config field existed compares with its default.
        saved = PAVENetConfig.from_dict(state["config"], source=str(path)).to_dict()
        check_config_matches(path, saved, self.cfg.to_dict())
        load_weights(self.model, state.get("train_model", state["model"]), path)
        if self.ema is not None:
            load_weights(self.ema.model, state["model"], path)
            self.ema.updates = int(state["ema_updates"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.best_map = float(state.get("best_map", -1.0))
        self.elapsed = float(state.get("elapsed", 0.0))
        self.val_pending = bool(state.get("val_pending", False))

    def save(self, name: str) -> Path:
        path = self.out / name
        if self.rank == 0:
            save_checkpoint(self.state_dict(), path)
        return path

    # -- loop ----------------------------------------------------------------------------------------------------
    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]]:
        """Micro-batches from the current step on, epoch after epoch, from one loader (`RunOrder`)."""
        order = RunOrder(len(self.dataset), self.tcfg.seed, self.rank, self.world,
                         self.tcfg.batch_size * self.tcfg.accum, self.steps_per_epoch, start_step=self.step)
        loader = DataLoader(EpochIndexed(self.dataset), batch_size=self.tcfg.batch_size, sampler=order,
                            drop_last=True, collate_fn=collate_clips, num_workers=self.tcfg.num_workers,
                            pin_memory=self.device.type == "cuda",
                            generator=torch.Generator().manual_seed(self.tcfg.seed))
        return iter(loader)

    def train_step(self, micro_batches: list[tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]]
                   ) -> dict[str, float]:
        """One optimizer step over `accum` micro-batches; returns the averaged loss terms."""
        net = self.ddp or self.model
        net.train()
        totals: dict[str, float] = {}
        for i, (clips, masks, targets) in enumerate(micro_batches):
            clips, masks = clips.to(self.device, non_blocking=True), masks.to(self.device, non_blocking=True)
            targets = [{k: v.to(self.device) if torch.is_tensor(v) else v for k, v in t.items()} for t in targets]
            no_sync = self.ddp is not None and i < len(micro_batches) - 1
            ctx = self.ddp.no_sync() if no_sync else contextlib.nullcontext()
            with ctx:
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.tcfg.amp):
                    outputs = net(clips, masks, select=self.criterion.selector(targets), targets=targets)
                losses = self.criterion(outputs, targets, self.model.flows)
                self.scaler.scale(losses["loss"] / len(micro_batches)).backward()
            for k, v in losses.items():
                totals[k] = totals.get(k, 0.0) + float(v.detach()) / len(micro_batches)
        if self.ddp is not None:
            self._sync_flow_grads()
        self.scaler.unscale_(self.optimizer)
        totals["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.step += 1
        return totals

    def _sync_flow_grads(self) -> None:
        """Average the flows' gradients over processes (DDP does it for every other parameter)."""
        for p in self.model.flows.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
            p.grad /= self.world

    def fit(self, resume: bool = False, stop_at: int | None = None) -> list[dict[str, Any]]:
        """Train to `total_steps`; returns the logged metrics (also appended to `out/metrics.jsonl`).

        resume: continue from `out/last.pt` (which must exist). stop_at: return after this step with `last.pt`
        written, as an interrupted run would (the schedule still targets `total_steps`).
        """
        from tqdm.auto import tqdm

        self.out.mkdir(parents=True, exist_ok=True)
        if self.rank == 0:
            remove_stale_temps(self.out, RUN_FILES)  # left by a process killed while saving
        history: list[dict[str, Any]] = []
        if resume:
            ckpt = run_card.last_checkpoint(self.out)
            # Loaded on the CPU: RNG states must stay CPU tensors; weights and optimizer state move on load.
            self.load_state_dict(load_checkpoint(ckpt, "cpu"), ckpt)
            self._truncate_metrics()
            if self.val_pending:  # the process died during this validation: run it again
                history.append(self._validate_and_save())
        else:
            (self.out / "metrics.jsonl").unlink(missing_ok=True)
        batches = self._batches()
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.tcfg.progress or self.rank != 0,
                   desc="train")
        self._clock = time.perf_counter()
        end = self.total_steps if stop_at is None else min(stop_at, self.total_steps)
        # Seconds waiting for the loader vs all seconds, since the last log row: is the run input-bound?
        waited, window_start, window_steps = 0.0, time.perf_counter(), 0
        while self.step < end:
            t0 = time.perf_counter()
            micro_batches = [next(batches) for _ in range(self.tcfg.accum)]
            waited += time.perf_counter() - t0
            terms = self.train_step(micro_batches)
            window_steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{terms['loss']:.3f}")
            last = self.step == self.total_steps
            if self.step % self.tcfg.log_every == 0 or last:
                now = time.perf_counter()
                row = {"step": self.step, "lr": self.optimizer.param_groups[0]["lr"], "time": self.time(),
                       "step_s": (now - window_start) / window_steps, "data_s": waited / window_steps, **terms}
                history.append(self._log(row))
                waited, window_start, window_steps = 0.0, now, 0
            validating = bool(self.tcfg.val_every and self.step % self.tcfg.val_every == 0) or last
            if validating or self.step % self.tcfg.ckpt_every == 0 or self.step == end:
                self.val_pending = validating
                self.save("last.pt")  # before validating: a failed or killed validation costs no training
            if validating:
                history.append(self._validate_and_save())
        bar.close()
        if self.rank == 0 and self.step == self.total_steps:
            self.write_card(self.time())
        return history

    def _validate_and_save(self) -> dict[str, Any]:
        """Validate, log the row, and write `last.pt` again, now with the validation done (and `best_map`)."""
        row = self._log({"step": self.step, "time": self.time(), **self.validate()})
        self.val_pending = False
        self.save("last.pt")
        return row

    def time(self) -> float:
        """Wall-clock seconds of this run so far, summed over interrupted and resumed processes."""
        return self.elapsed + time.perf_counter() - self._clock

    def _truncate_metrics(self) -> None:
        """Drop rows logged after the step of `last.pt` (and a validation row of its step if that validation is to
        run again): the resumed run logs them again."""
        path = self.out / "metrics.jsonl"
        if self.rank == 0 and path.exists():
            rows = run_card.read_metrics(path)
            rows = [r for r in rows if r["step"] < self.step or (r["step"] == self.step and not (
                self.val_pending and "val_map" in r))]
            write_text_atomic("".join(json.dumps(r) + "\n" for r in rows), path)

    def _log(self, row: dict[str, Any]) -> dict[str, Any]:
        if self.rank == 0:
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
        return row

    def validate(self) -> dict[str, Any]:
        """PoseTrack mAP of the current weights on the validation split; saves `best.pt` when it improves."""
        from pavenet_lite.evaluation import drawn_skeletons, evaluate_posetrack
        from pavenet_lite.predict import DEMO_THRESHOLD, Predictor

        if self.rank != 0:
            return {}
        predictor = Predictor(self.eval_model(), self.cfg, device=self.device)
        gt, pred = predictor.predict_split(self.tcfg.data, self.tcfg.val_split, max_videos=self.tcfg.val_videos)
        result = evaluate_posetrack(gt, pred)
        total = result.table["Total"]
        if total > self.best_map:
            self.best_map = total
            self.save("best.pt")
        return {"val_map": total, "val_table": result.table, "val_per_joint": result.per_joint,
                "val_drawn": drawn_skeletons(gt, pred, DEMO_THRESHOLD)}

    def command(self) -> str:
        """The `pavenet train` command line equivalent to this run."""
        return run_card.train_command(self.tcfg, self.cfg.num_frames, self.total_steps, self.world)

    def write_card(self, wall_time: float) -> Path:
        """`out/card.json`: what a reader needs to trust or reproduce the run (`run_card.write_card`)."""
        subset = self.tcfg.train_videos is not None or self.tcfg.video_list
        return run_card.write_card(self.out, self.cfg, self.tcfg, steps=self.step, wall_time=wall_time,
                                   device=run_card.device_description(self.device, self.world),
                                   command=self.command(), best_map=self.best_map, init=self.init_card,
                                   train_videos=[v.name for v in self.dataset.videos] if subset else None)


def check_split(data: str | os.PathLike, split: str) -> None:
    """Raise `AnnotationError` unless `data/annotations/split` holds annotation files."""
    folder = Path(data) / "annotations" / split
    if not any(folder.glob("*.json")):
        raise AnnotationError(folder, "*.json", f"the '{split}' annotation files (runs validate on them)",
                              "an empty folder" if folder.is_dir() else "no such folder")
