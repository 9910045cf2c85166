"""The Lightning module: a model, its task's loss, its optimiser and schedule, dev-set scoring."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch

from emofuse.experiment import TrainingConfig
from emofuse.models.standardize import SystemModel
from emofuse.tasks import Task


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
        self._dev_targets: list[torch.Tensor] = []

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["epochs_completed"] = self.epochs_completed

    def forward(self, inputs: list) -> torch.Tensor:
        return self.system(inputs)

    def on_train_epoch_start(self) -> None:
        self.epochs_completed = self.current_epoch + 1  # by the time this epoch's checkpoint is saved
        set_epoch = getattr(self.system.model, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(self.current_epoch)

    def training_step(self, batch: tuple, batch_index: int) -> torch.Tensor:
        inputs, targets = batch
        outputs = self(inputs)
        loss = self.task.loss(outputs, targets, self.loss_weights)
        self.log("train_loss", loss, prog_bar=False, on_epoch=True, on_step=False, batch_size=len(targets), sync_dist=True)
        return loss

    def validation_step(self, batch: tuple, batch_index: int) -> None:
        inputs, targets = batch
        outputs = self(inputs)
        self.log("dev_loss", self.task.loss(outputs, targets, self.loss_weights), on_epoch=True, batch_size=len(targets), sync_dist=True)
        self._dev_outputs.append(outputs.detach().float())
        self._dev_targets.append(targets.detach())

    def on_validation_epoch_end(self) -> None:
        if not self._dev_outputs:
            return
        outputs, targets = torch.cat(self._dev_outputs), torch.cat(self._dev_targets)
        self._dev_outputs.clear()
        self._dev_targets.clear()
        if self.trainer.world_size > 1:  # score on every process's share
            outputs = self.all_gather(outputs).flatten(0, 1)
            targets = self.all_gather(targets).flatten(0, 1)
        scores = self.task.scores_from_outputs(outputs)
        if self.task.kind == "categorical":
            truth = [self.task.classes[i] for i in targets.cpu().numpy()]
        else:
            truth = targets.cpu().numpy()
        value = self.task.evaluate(truth, scores)[self.task.selection_metric]
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
        if config.optimizer == "adam":
            optimizer = torch.optim.Adam(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
        elif config.optimizer == "adamw":
            optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
        elif config.optimizer == "nadam":
            optimizer = torch.optim.NAdam(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
        elif config.optimizer == "rmsprop":
            optimizer = torch.optim.RMSprop(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
        else:
            optimizer = torch.optim.SGD(
                groups,
                lr=config.learning_rate,
                momentum=config.momentum,
                nesterov=config.nesterov,
                weight_decay=config.weight_decay,
            )
        scheduler = self._scheduler(optimizer)
        if scheduler is None:
            return {"optimizer": optimizer}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def _scheduler(self, optimizer: torch.optim.Optimizer) -> dict | None:
        config = self.training_config
        if config.scheduler == "none":
            return None
        if config.scheduler == "linear_warmup":
            total = max(1, int(self.trainer.estimated_stepping_batches))
            warmup = max(1, int(total * config.warmup_fraction))

            def factor(step: int) -> float:  # linear warm-up, then linear decay to zero
                if step < warmup:
                    return (step + 1) / warmup
                return max(0.0, (total - step) / max(1, total - warmup))

            return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
        if config.scheduler == "cosine":
            total = max(1, int(self.trainer.estimated_stepping_batches))
            return {"scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total), "interval": "step"}

        def halving(epoch: int) -> float:  # constant for step_start epochs, then x gamma every step_size
            if epoch < config.step_start:
                return 1.0
            return config.gamma ** ((epoch - config.step_start) // config.step_size + 1)

        return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, halving), "interval": "epoch"}
