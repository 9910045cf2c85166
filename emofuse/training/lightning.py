"""The Lightning loop: train a :class:`~emofuse.systems.neural.NeuralSystem` on one fold.

:func:`fit_neural` fits the input standardisers on the training utterances, trains with the
task's loss, the configured optimiser and schedule, checkpoints every epoch (``last.ckpt``, to
resume an interrupted fold) and the best dev epoch (``best.ckpt``), and finally loads the
selected weights into the system. With inputs from a feature store, training batches stream
from it (:mod:`emofuse.training.streaming`). With :mod:`emofuse.training.extraction`, the only
modules that import Lightning.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import pathlib
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from emofuse.experiment import TrainingConfig
from emofuse.models.standardize import Standardizer
from emofuse.models.standardize import SystemModel
from emofuse.predictions import Predictions
from emofuse.systems.base import InvalidSystemError
from emofuse.systems.base import SystemData
from emofuse.systems.neural import NeuralSystem
from emofuse.tasks import Task
from emofuse.training.allocator import retain_freed_memory
from emofuse.training.data import BucketBatchSampler
from emofuse.training.data import Collator
from emofuse.training.data import UtteranceDataset
from emofuse.training.data import fit_rows
from emofuse.training.seeding import seed_everything
from emofuse.training.streaming import StreamingDataset
from emofuse.training.streaming import uses_store

log = logging.getLogger(__name__)


class TrainingDiverged(ValueError):
    """The training loss, or the outputs on the dev set, became NaN or infinite: the fold stops
    instead of writing NaN scores."""


class EmotionModule(L.LightningModule):
    """Trains a :class:`SystemModel` with the task's loss; logs ``dev_score`` (UA or mean CCC)."""

    def __init__(self, system: SystemModel, task: Task, training: TrainingConfig, loss_weights: torch.Tensor) -> None:
        super().__init__()
        self.system = system
        self.task = task
        self.training_config = training
        self.register_buffer("loss_weights", loss_weights.float())
        self.epochs_completed = 0
        self._dev_outputs: list[torch.Tensor] = []
        self.dev_sharded = True  # the dev loader is split across DDP processes (see fit_neural)
        self._dev_targets: list[torch.Tensor] = []
        self._finite_dev_seen = False  # an epoch with finite dev outputs, that selection on dev can keep

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["epochs_completed"] = self.epochs_completed

    def forward(self, inputs: list) -> torch.Tensor:
        return self.system(inputs)

    def on_train_epoch_start(self) -> None:
        self.epochs_completed = self.current_epoch + 1  # by the time this epoch's checkpoint is saved
        # Lightning sets the epoch of a loader's sampler, not of a batch sampler (length bucketing)
        # or a dataset: set them here, so that a resumed fold draws this epoch's batches again
        loader = self.trainer.train_dataloader
        for part in (getattr(loader, "batch_sampler", None), getattr(loader, "dataset", None)):
            set_part_epoch = getattr(part, "set_epoch", None)
            if callable(set_part_epoch):
                set_part_epoch(self.current_epoch)
        set_epoch = getattr(self.system.model, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(self.current_epoch)

    def training_step(self, batch: tuple, batch_index: int) -> torch.Tensor:
        inputs, targets = batch
        if self.training_config.mixup > 0 and all(isinstance(values, torch.Tensor) for values, _ in inputs):
            inputs, loss_of = self._mixup(inputs, targets)
        else:
            def loss_of(outputs: torch.Tensor) -> torch.Tensor:
                return self.task.loss(outputs, targets, self.loss_weights)
        outputs, auxiliary = self.system.training_outputs(inputs)
        loss = loss_of(outputs)
        for weight, extra in auxiliary:  # e.g. a fusion's output from its acoustic input alone
            loss = loss + weight * loss_of(extra)
        if not bool(torch.isfinite(loss)):
            config = self.training_config
            rates = ", ".join(f"{group['lr']:.3g}" for group in self.trainer.optimizers[0].param_groups)
            hint = (" or set training.gradient_clip" if config.gradient_clip is None
                    else f" (gradients are already clipped at norm {config.gradient_clip:g})")
            schedule = "no schedule" if config.scheduler == "none" else f"the {config.scheduler} schedule"
            raise TrainingDiverged(f"training diverged: the loss is {float(loss.detach())} at epoch {self.current_epoch + 1}, "
                                   f"step {self.global_step + 1} (learning rate {rates} at this step, of "
                                   f"training.learning_rate {config.learning_rate:g} with {schedule}); "
                                   f"lower training.learning_rate{hint}")
        self.log("train_loss", loss, prog_bar=False, on_epoch=True, on_step=False, batch_size=len(targets), sync_dist=True)
        return loss

    def _mixup(self, inputs: list, targets: torch.Tensor) -> tuple[list, Any]:
        """Mixup (Zhang et al., 2018): each utterance mixed with another of the batch, weight
        ``lam ~ Beta(alpha, alpha)``; padded frames mix too, the mixed length is the longer one.
        Returns the mixed inputs and the loss of outputs on them."""
        alpha = self.training_config.mixup
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        partner = torch.randperm(len(targets), device=targets.device)
        mixed = [(lam * values + (1 - lam) * values[partner],
                  None if lengths is None else torch.maximum(lengths, lengths[partner])) for values, lengths in inputs]

        def loss_of(outputs: torch.Tensor) -> torch.Tensor:
            if self.task.type == "categorical":
                return (lam * self.task.loss(outputs, targets, self.loss_weights)
                        + (1 - lam) * self.task.loss(outputs, targets[partner], self.loss_weights))
            return self.task.loss(outputs, lam * targets + (1 - lam) * targets[partner], self.loss_weights)

        return mixed, loss_of

    def validation_step(self, batch: tuple, batch_index: int) -> None:
        inputs, targets = batch
        outputs = self(inputs)
        self.log("dev_loss", self.task.loss(outputs, targets, self.loss_weights), on_epoch=True, batch_size=len(targets),
                 sync_dist=True)
        self._dev_outputs.append(outputs.detach().float())
        self._dev_targets.append(targets.detach())

    def on_validation_epoch_end(self) -> None:
        if not self._dev_outputs:
            return
        outputs, targets = torch.cat(self._dev_outputs), torch.cat(self._dev_targets)
        self._dev_outputs.clear()
        self._dev_targets.clear()
        if self.trainer.world_size > 1 and self.dev_sharded:  # score on every process's share
            outputs = self.all_gather(outputs).flatten(0, 1)
            targets = self.all_gather(targets).flatten(0, 1)
        if not bool(torch.isfinite(outputs).all()):  # every process sees the same (e.g. batch-norm statistics overflowed)
            config = self.training_config
            message = (f"the dev outputs are not finite after epoch {self.current_epoch + 1} (training.learning_rate "
                       f"{config.learning_rate:g}, precision {config.precision}) although the training loss was")
            # selection on dev keeps an earlier, finite epoch: this one scores -1, never chance level (NaN
            # outputs predict the first class), so it is never selected; with none to keep, or with the last
            # epoch kept, the fold would write NaN scores: it stops
            if config.selection == "last" or not self._finite_dev_seen:
                raise TrainingDiverged(f"training diverged: {message}; lower training.learning_rate or train in float32")
            log.warning("%s; the best earlier epoch stays selected", message)
            self.log("dev_score", -1.0, prog_bar=True, sync_dist=True)
            return
        self._finite_dev_seen = True
        scores = self.task.scores(outputs.cpu().numpy())
        predictions = Predictions(self.task.type, self.task.outputs, [str(k) for k in range(len(scores))], scores,
                                  truth=targets.cpu().numpy())
        value = predictions.evaluate()[self.task.selection_metric]
        self.log("dev_score", float(np.nan_to_num(value, nan=-1.0)), prog_bar=True, sync_dist=True)  # same on every rank

    def configure_optimizers(self) -> dict:
        config = self.training_config
        groups = self.system.model.parameter_groups(config.learning_rate)
        if config.encoder_learning_rate is not None:
            for group in groups:
                if group.get("pretrained"):
                    group["lr"] = config.encoder_learning_rate
        for group in groups:
            group.pop("pretrained", None)
        # fused Adam/AdamW/SGD: one kernel over all parameters (6-9x faster steps than the default
        # per-tensor loop on CPU; benchmarks/training_speed.py). Lightning clips no gradients of a
        # fused optimizer under mixed precision (it would unscale them itself): there the multi-tensor
        # (foreach) loop instead
        fused = not (config.precision.endswith("-mixed") and config.gradient_clip is not None)
        kernel = {"fused": True} if fused else {"foreach": True}
        if config.optimizer == "adam":
            optimizer = torch.optim.Adam(groups, lr=config.learning_rate, weight_decay=config.weight_decay, **kernel)
        elif config.optimizer == "adamw":
            optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay, **kernel)
        elif config.optimizer == "nadam":
            optimizer = torch.optim.NAdam(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
        elif config.optimizer == "rmsprop":
            optimizer = torch.optim.RMSprop(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
        else:
            optimizer = torch.optim.SGD(groups, lr=config.learning_rate, momentum=config.momentum,
                                        nesterov=config.nesterov, weight_decay=config.weight_decay, **kernel)
        scheduler = self._scheduler(optimizer)
        if scheduler is None:
            return {"optimizer": optimizer}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def _scheduler(self, optimizer: torch.optim.Optimizer) -> dict | None:
        config = self.training_config
        if config.scheduler == "none":
            return None
        total = max(1, int(self.trainer.estimated_stepping_batches))
        if config.scheduler == "linear_warmup":
            warmup = max(1, int(total * config.warmup_fraction))

            def factor(step: int) -> float:  # linear warm-up, then linear decay to zero
                if step < warmup:
                    return (step + 1) / warmup
                return max(0.0, (total - step) / max(1, total - warmup))

            return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
        if config.scheduler == "cosine":
            warmup = int(total * config.warmup_fraction)

            def cosine(step: int) -> float:  # linear warm-up, then cosine decay to zero
                if step < warmup:
                    return (step + 1) / warmup
                return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

            return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, cosine), "interval": "step"}
        if config.scheduler == "one_cycle":
            peaks = [group["lr"] for group in optimizer.param_groups]
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peaks, total_steps=total,
                                                            pct_start=config.warmup_fraction)
            return {"scheduler": scheduler, "interval": "step"}

        def halving(epoch: int) -> float:  # constant for step_start epochs, then x gamma every step_size
            if epoch < config.step_start:
                return 1.0
            return config.gamma ** ((epoch - config.step_start) // config.step_size + 1)

        return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, halving), "interval": "epoch"}


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's start-up chatter and the warnings that small CPU runs always trigger."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for message in (".*does not have many workers.*", ".*number of training batches.*", ".*LeafSpec.*",
                        ".*litlogger.*", ".*no `val_dataloader`.*", ".*module\\(s\\) in eval mode.*",
                        ".*Checkpoint directory .* exists and is not empty.*", ".*IterableDataset.*has `__len__`.*",
                        ".*infer the batch indices.*"):
            warnings.filterwarnings("ignore", message=message)
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


class RandomState(L.Callback):
    """Keeps Python's, numpy's and torch's random number generator states in every checkpoint
    and restores them on resume, so that a resumed fold draws the same batches, dropout masks
    and crops as an uninterrupted one (and ends with bit-identical weights on CPU)."""

    def state_dict(self) -> dict[str, Any]:  # plain types and tensors: checkpoints load with weights_only
        import random

        version, internal, gauss = random.getstate()
        name, keys, position, has_gauss, cached = np.random.get_state()
        return {"python": [version, list(internal), gauss],
                "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)],
                "torch": torch.get_rng_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        import random

        version, internal, gauss = state_dict["python"]
        random.setstate((version, tuple(internal), gauss))
        name, keys, position, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])


class ReleaseProcessGroup(L.Callback):
    """Destroys the distributed process group when a fit or an extraction (``predict``) ends, in every process.

    Lightning destroys it at exit only for NCCL; a spawned CPU worker that leaves its gloo group
    standing can abort at interpreter exit ("terminate called without an active exception",
    SIGABRT) while the other process is still handing back results. The barrier first lets both
    processes finish their last collective; a later fit in the same process initialises a new group."""

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def _same(batch: Any) -> Any:
    return batch


def uses_buckets(system: NeuralSystem, training: TrainingConfig) -> bool:
    """Whether training batches are length-bucketed: ``length_bucketing``, where ``auto`` means
    yes unless the model has batch norm (see :class:`~emofuse.experiment.TrainingConfig`)."""
    if training.length_bucketing != "auto":
        return bool(training.length_bucketing)
    return not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in system.module.modules())


def _loader(system: NeuralSystem, data: SystemData, training: TrainingConfig, *, seed: int, shuffle: bool,
            bucketing: bool = False,
            repeat: int = 1) -> DataLoader:
    specs = system.spec.inputs
    ids = list(data.ids) * repeat
    targets = None if data.truth is None else torch.from_numpy(np.tile(np.asarray(data.truth), (repeat,) + (1,) * (np.ndim(data.truth) - 1)))
    inputs = [data.inputs[i.name] for i in specs]
    collate = Collator(specs)
    if shuffle and uses_store(inputs):  # training from a feature store: streamed, see emofuse.training.streaming
        stream = StreamingDataset(ids, inputs, targets, collate, batch_size=training.batch_size,
                                  buffer=training.shuffle_buffer, bucketing=bucketing, seed=seed)
        return DataLoader(stream, batch_size=None, collate_fn=_same, num_workers=training.num_workers)
    dataset = UtteranceDataset(ids, inputs, targets, seed=seed)
    if shuffle and bucketing:
        sampler = BucketBatchSampler([dataset.length(i) for i in range(len(dataset))], batch_size=training.batch_size, seed=seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=training.num_workers)
    # a last training batch of one item would break batch norm: drop it
    drop_last = shuffle and len(ids) % training.batch_size == 1 and len(ids) > 1
    return DataLoader(dataset, batch_size=training.batch_size, shuffle=shuffle, collate_fn=collate,
                      num_workers=training.num_workers, drop_last=drop_last)


def fit_standardizers(system: NeuralSystem, train: SystemData) -> None:
    """Fit each input's standardiser (where the system has one) on the training utterances."""
    for spec, standardizer in zip(system.spec.inputs, system.module.standardizers, strict=True):
        if isinstance(standardizer, Standardizer):
            standardizer.fit(fit_rows(train.inputs[spec.name], train.ids))


def fit_neural(system: NeuralSystem, train: SystemData, dev: SystemData | None, *, task: Task, training: TrainingConfig,
               seed: int | None = 0, directory: pathlib.Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Train ``system`` in place (see the module docstring); returns ``epochs_trained`` and, with
    dev selection, ``best_dev_score`` and ``best_epoch``. ``seed`` seeds every generator first (``None``: the caller
    did, before building the system). Re-calling it with the same ``directory`` resumes from the
    last checkpoint there."""
    if train.truth is None:
        raise InvalidSystemError("training needs the targets")
    has_dev = dev is not None and len(dev) > 0
    if training.selection == "best_dev" and not has_dev:
        raise InvalidSystemError("selection best_dev needs a dev set (use selection: last, or a protocol with a dev split)")
    retain_freed_memory()  # each step's large blocks reused from the heap, not mapped afresh (see its module)
    if seed is not None:
        seed_everything(seed)
    else:  # the caller seeded everything; crops and batch order follow the same seed
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
    fit_standardizers(system, train)
    module = EmotionModule(system.module, task, training, torch.from_numpy(task.loss_weights(np.asarray(train.truth))))
    # training mode (dropout, batch-norm statistics), set by each model's own train() (frozen parts stay
    # in eval mode): Lightning keeps the modes its modules come with, and a built system is in eval mode
    module.train()
    bucketing = uses_buckets(system, training)
    train_loader = _loader(system, train, training, seed=seed, shuffle=True, repeat=training.repeat, bucketing=bucketing)
    dev_loader = _loader(system, dev, training, seed=seed, shuffle=False) if has_dev else None  # type: ignore[arg-type]
    scratch = None
    if directory is None:
        scratch = tempfile.TemporaryDirectory(prefix="emofuse-fit-")
        directory = pathlib.Path(scratch.name)
    checkpoints = directory / "checkpoints"
    # best.ckpt on dev, then last.ckpt after every epoch (for resuming): in this order, so that
    # last.ckpt holds the best-epoch tracking *after* this epoch's dev score (a fold resumed from
    # it chooses the same best epoch as an uninterrupted one)
    callbacks: list[L.Callback] = [RandomState(), ReleaseProcessGroup()]
    if training.selection == "best_dev":
        callbacks.append(L.pytorch.callbacks.ModelCheckpoint(dirpath=checkpoints, filename="best", monitor="dev_score",
                                                             mode="max", save_top_k=1, enable_version_counter=False))
    callbacks.append(L.pytorch.callbacks.ModelCheckpoint(dirpath=checkpoints, filename="last", monitor=None, save_top_k=1,
                                                         enable_version_counter=False))
    if training.ema_decay is not None:
        # validation swaps the averaged weights in; every checkpoint stores them as its state_dict
        # (the current ones under current_model_state, which a resumed fold continues from)
        callbacks.append(L.pytorch.callbacks.WeightAveraging(avg_fn=_ema_with_warmup(training.ema_decay)))
    if training.early_stopping_patience is not None and training.selection == "best_dev":
        # checked when the dev score is computed, before the checkpoints are written (not at the end of
        # the training epoch, after them): last.ckpt then carries the patience count of its own epoch
        callbacks.append(L.pytorch.callbacks.EarlyStopping(monitor="dev_score", mode="max", check_on_train_epoch_end=False,
                                                           patience=training.early_stopping_patience))
    try:
        with quiet_lightning():
            trainer = L.Trainer(
                max_epochs=training.max_epochs,
                accelerator=training.accelerator,
                devices=training.devices,
                num_nodes=training.num_nodes,
                strategy=training.strategy,
                precision=training.precision,
                gradient_clip_val=training.gradient_clip,
                callbacks=callbacks,
                logger=L.pytorch.loggers.CSVLogger(directory, name="logs"),  # logs/version_N per attempt
                enable_progress_bar=progress,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                default_root_dir=directory,
                limit_val_batches=1.0 if dev_loader is not None else 0,
                # length buckets shard themselves across processes (Lightning cannot inject a
                # distributed sampler into a batch sampler); the dev set is then scored whole on each
                use_distributed_sampler=not bucketing,
            )
            module.dev_sharded = not bucketing
            last = checkpoints / "last.ckpt"
            trainer.fit(module, train_loader, dev_loader, ckpt_path=str(last) if last.exists() else None)
        # weights from the checkpoint files, which every strategy (including ddp_spawn) writes
        selected = checkpoints / ("best.ckpt" if training.selection == "best_dev" else "last.ckpt")
        if not selected.exists():
            selected = checkpoints / "last.ckpt"
        checkpoint = torch.load(selected, map_location="cpu", weights_only=True)
        module.load_state_dict(checkpoint["state_dict"])
        last_checkpoint = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)
        fitted: dict[str, Any] = {"epochs_trained": int(last_checkpoint.get("epochs_completed", 0))}
        best = _best_score(checkpoint)
        if best is not None:
            fitted["best_dev_score"] = best
            fitted["best_epoch"] = int(checkpoint.get("epoch", -1)) + 1  # 1-based: the epochs a refit trains
    finally:
        if scratch is not None:
            scratch.cleanup()
    # scored where it trained: on the GPU after GPU training (its weights are saved from any device)
    on_gpu = training.accelerator in {"gpu", "cuda", "auto"} and torch.cuda.is_available()
    system.module = module.system.to("cuda" if on_gpu else "cpu").eval()
    return fitted


def _ema_with_warmup(decay: float) -> Any:
    """The exponential moving average's update with TensorFlow's warm-up of the decay,
    ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates: the average follows the fast early
    steps closely instead of mixing the first weights into a network that has moved away from
    them, whose batch-norm statistics then fit neither (CNN14 on EmoDB answered one class
    for 11 epochs with a plain 0.99)."""

    def update(average: torch.Tensor, current: torch.Tensor, updates: torch.Tensor) -> torch.Tensor:
        rate = min(decay, (1.0 + float(updates)) / (10.0 + float(updates)))
        return rate * average + (1.0 - rate) * current

    return update


def _best_score(checkpoint: dict) -> float | None:
    """The best dev score recorded by the monitoring ModelCheckpoint in a Lightning checkpoint."""
    for key, state in checkpoint.get("callbacks", {}).items():
        if key.startswith("ModelCheckpoint") and "dev_score" in key and state.get("best_model_score") is not None:
            return float(state["best_model_score"])
    return None
