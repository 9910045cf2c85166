"""Learning checks over the model registry: every neural model and model fusion, in the tiny
configuration its builder's ``Example`` declares, (a) starts from the loss of uniform guessing,
(b) memorises 32 synthetic utterances within a fixed step budget and (c) gives a gradient to
every parameter that trains. A newly registered model is covered automatically.

The utterances carry their class (a class mean plus noise for feature vectors and frames, a
class tone for waveforms, class words for text), but (b) only asks for memorisation: a model
that cannot fit 32 examples has a bug (a detached branch, a wrong mask, a dead activation).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import CLASS_WORDS
from test_systems import NEURAL
from test_systems import _example_spec

from emofuse.components import MODELS

torch = pytest.importorskip("torch")

CLASSES = 3
UTTERANCES = 32
STEPS = 300  # Adam at 3e-3 on the full batch; every model so far needs 100 or fewer
CHECK_EVERY = 10

#: Models built over trained member systems (classification-block fusion).
OVER_MEMBERS = [n for n in MODELS.names() if MODELS.get(n).builder.example is not None
                and "member" in MODELS.get(n).builder.example.inputs]


def _inputs(spec, rng):
    """Synthetic values of each input of ``spec`` for UTTERANCES utterances, and their classes."""
    from emofuse.models.batching import collate_input

    classes = np.arange(UTTERANCES) % CLASSES
    words = list(CLASS_WORDS.values())
    columns = []
    for position, input_spec in enumerate(spec.inputs):
        means = np.random.default_rng(100 + position).standard_normal((CLASSES, max(input_spec.dim, 1))).astype(np.float32)
        column = []
        for index, label in enumerate(classes):
            frames = int(rng.integers(20, 60))
            if input_spec.kind == "text":
                column.append(f"{words[label % len(words)]} {words[index % len(words)].split()[0]}")
            elif input_spec.kind == "waveform":
                t = np.arange(frames * 160) / 16000
                column.append((0.3 * np.sin(2 * np.pi * (200 + 300 * label) * t)
                               + 0.05 * rng.standard_normal(t.size)).astype(np.float32))
            elif input_spec.kind == "vector":
                column.append(means[label] + 0.5 * rng.standard_normal(input_spec.dim).astype(np.float32))
            else:
                column.append(means[label] + 0.5 * rng.standard_normal((frames, input_spec.dim)).astype(np.float32))
        columns.append(collate_input(input_spec.kind, column))
    return columns, torch.from_numpy(classes)


def _system(name, paths):
    from emofuse.config import Component
    from emofuse.config import parse
    from emofuse.systems.base import SystemSpec
    from emofuse.systems.base import build_system

    if name not in OVER_MEMBERS:
        return build_system(_example_spec(name, paths))
    members = [build_system(_example_spec("mlp", paths)) for _ in range(2)]
    entry = MODELS.get(name)
    model = Component(name, parse(entry.config_class, dict(entry.builder.example.config)))
    spec = SystemSpec("categorical", members[0].spec.outputs, inputs=tuple(i for m in members for i in m.spec.inputs),
                      model=model, normalization="none", member_specs=tuple(m.spec for m in members),
                      features={k: v for m in members for k, v in m.spec.features.items()})
    return build_system(spec, members=members)


@pytest.fixture(scope="module")
def paths(tiny_bert, tiny_wav2vec2):
    return {"tiny_text_model": tiny_bert, "tiny_ssl_model": tiny_wav2vec2}


@pytest.mark.parametrize("name", NEURAL + OVER_MEMBERS)
def test_every_neural_model_learns(name, paths, one_torch_thread):
    torch.manual_seed(0)
    system = _system(name, paths)
    module = system.module
    inputs, targets = _inputs(system.spec, np.random.default_rng(0))

    # (a) the loss at initialisation is that of uniform posteriors, ln(classes)
    module.eval()
    with torch.no_grad():
        initial = torch.nn.functional.cross_entropy(module(inputs), targets).item()
    assert initial == pytest.approx(math.log(CLASSES), abs=0.1), f"{name}: initial loss {initial:.3f}"

    # (c) one backward pass reaches every parameter that trains
    module.train()
    trainable = {n: p for n, p in module.named_parameters() if p.requires_grad}
    assert trainable, f"{name}: nothing to train"
    torch.nn.functional.cross_entropy(module(inputs), targets).backward()
    dead = [n for n, p in trainable.items() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not dead, f"{name}: parameters without a gradient: {dead}"

    # (b) it memorises the 32 utterances (eval-mode accuracy >= 95 %) within the step budget
    optimizer = torch.optim.Adam(trainable.values(), lr=3e-3)
    accuracy = 0.0
    for step in range(1, STEPS + 1):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(inputs), targets).backward()
        optimizer.step()
        if step % CHECK_EVERY == 0:
            module.eval()
            with torch.no_grad():
                accuracy = (module(inputs).argmax(dim=1) == targets).float().mean().item()
            module.train()
            if accuracy >= 0.95:
                break
    assert accuracy >= 0.95, f"{name}: training accuracy {accuracy:.2f} after {STEPS} steps"


@pytest.mark.parametrize("name", NEURAL)
def test_every_neural_model_starts_dimensional_training_from_a_ccc_loss_of_one(name, paths, one_torch_thread):
    """For valence/arousal/dominance outputs near zero at initialisation, each target's CCC is
    near 0: the CCC loss (1 - CCC per target, weighted) starts at the sum of the weights."""
    import dataclasses

    from emofuse.experiment import TaskConfig
    from emofuse.systems.base import build_system
    from emofuse.tasks.build import build_task

    torch.manual_seed(0)
    spec = _example_spec(name, paths)
    spec = dataclasses.replace(spec, task_type="dimensional", outputs=("valence", "arousal", "dominance"))
    system = build_system(spec)
    task = build_task(TaskConfig(type="dimensional"))
    inputs, classes = _inputs(spec, np.random.default_rng(0))
    targets = torch.stack([classes.float() - 1.0, 1.0 - classes.float(), 0.5 * classes.float()], dim=1)
    weights = torch.from_numpy(task.loss_weights(targets.numpy()))
    system.module.eval()
    with torch.no_grad():
        loss = task.loss(system.module(inputs), targets, weights).item()
    assert loss == pytest.approx(float(weights.sum()), abs=0.15), f"{name}: initial CCC loss {loss:.3f}"


@pytest.mark.parametrize("name", NEURAL + OVER_MEMBERS)
def test_every_neural_model_trains_in_bfloat16_mixed_precision(name, paths, one_torch_thread):
    """``training.precision: bf16-mixed`` (Lightning's ``torch.autocast`` in bfloat16, on a CPU as
    on a GPU): a training step on padded batches gives a finite loss near ln(classes) and a finite
    gradient to every parameter that trains, and the weights and batch-norm statistics stay float32."""
    torch.manual_seed(0)
    system = _system(name, paths)
    module = system.module.train()
    inputs, targets = _inputs(system.spec, np.random.default_rng(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = torch.nn.functional.cross_entropy(module(inputs).float(), targets)
    loss.backward()
    assert math.isfinite(loss.item()) and loss.item() == pytest.approx(math.log(CLASSES), abs=0.5), f"{name}: loss {loss.item():.3f}"
    trainable = {n: p for n, p in module.named_parameters() if p.requires_grad}
    bad = [n for n, p in trainable.items() if p.grad is None or not bool(torch.isfinite(p.grad).all())]
    assert not bad, f"{name}: parameters without a finite gradient: {bad}"
    state = {n: t for n, t in module.state_dict().items() if t.is_floating_point()}
    assert all(t.dtype == torch.float32 for t in state.values()), f"{name}: {[n for n, t in state.items() if t.dtype != torch.float32]}"
    assert all(bool(torch.isfinite(t).all()) for t in state.values()), f"{name}: non-finite weights or statistics"
