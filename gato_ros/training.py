"""Train a Gato model on episodes of one or several tasks.

This module is part of the ROS-free core: it imports neither rclpy nor message packages.

Each training sequence is a window of whole timesteps of one episode, at most
``context_length`` tokens, drawn at a uniformly random start. A share ``prompt_probability``
(25%, Gato) of the sequences gets a demonstration of the same task prepended: half the
time its last timesteps (the goal), half the time a uniformly placed window, at most
``prompt_max_tokens`` tokens. Whole batches are prompted or not, so that unprompted
batches are not padded to a prompt's length. Prompts come from episodes not marked
unsuccessful; their actions are expert actions and stay loss targets. The instruction is put
in the first timestep of the episode window, as the policy does at deployment.

Batches mix tasks, observation and action shapes: sequences are right-padded (see
:func:`gato_ros.modeling_gato.collate_sequences`); causal attention keeps padding invisible to
real tokens and the loss mask ignores it. Loss: next-token cross-entropy on text and action
tokens. Optimizer: AdamW (betas 0.9/0.95, decoupled weight decay on matrices only), linear
warmup then cosine decay to ``min_learning_rate_ratio`` of the peak, gradient clipping,
gradient accumulation over ``grad_accum_steps`` micro-batches, and optionally an exponential
moving average of the weights (``ema_decay``), which is then what is validated and saved.

Training runs through Hugging Face Accelerate: a plain call is one process (CPU or one
GPU); the same code trains data-parallel on several GPUs or nodes when the program is started
by ``accelerate launch`` or ``torchrun`` (see :mod:`gato_ros.commands.train`). Each process
draws its own batches from a generator seeded with ``seed + process_index``, so process 0
draws what a single-process run draws and the effective batch is ``batch_size *
grad_accum_steps * num_processes`` sequences (the learning rate is not rescaled). Gradients
are averaged across processes once per optimizer step. The validation batches are the same
for any number of processes; each process evaluates its share and the sums are added.

The output directory is a policy checkpoint (see :mod:`gato_ros.policy`) plus
``training_state/`` (optimizer tensors, every process's RNG states and, with averaging, the
weights and their average in safetensors, step and the rest in JSON: nothing pickled) to
resume, and ``train_summary.json`` (losses, throughput of all processes). Only the main
process writes them. A run resumed with the same number of processes continues exactly; with
another number, each process starts a fresh data stream seeded with
``(seed + process_index, step)``.
"""

import contextlib
from dataclasses import asdict, dataclass, field, replace
import functools
import json
import math
from pathlib import Path
import time
import warnings

from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedDataParallelKwargs, gather_object, get_int_from_env
from gato_ros.configuration_gato import GatoConfig
from gato_ros.data import Episode, EpisodeSpec, Normalizer, NORMALIZER_GROUPS
from gato_ros.modeling_gato import collate_sequences, GatoModel, next_token_loss
from gato_ros.policy import Checkpoint, default_prompt_tokens, write_safetensors
from gato_ros.text_tokenizer import DEFAULT_MODEL_PATH, TextTokenizer
from gato_ros.tokenizer import (concatenate_sequences, timestep_token_count, tokenize_episode,
                                TokenizedSequence)
import numpy as np
from safetensors.torch import load_file
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

STATE_DIR = 'training_state'
STATE_TENSORS_FILE = 'optimizer.safetensors'
STATE_JSON_FILE = 'trainer_state.json'
SUMMARY_FILE = 'train_summary.json'
MIXED_PRECISIONS = ('no', 'bf16', 'fp16')
# What a run learns from and how it is validated. A resumed run keeps them, or its batches,
# validation set and losses silently stop continuing the saved run's: a resume that fell
# back to the CLI's default batch size validated on other batches and looked like a worse
# model. The schedule (max_steps, learning rates, warmup, decay) and the machinery (device,
# threads, precision, eval and save intervals) may change.
RESUMED_OPTIONS = ('batch_size', 'grad_accum_steps', 'weight_decay', 'adam_betas',
                   'grad_clip_norm', 'prompt_probability', 'prompt_max_tokens', 'val_fraction',
                   'val_batches', 'seed', 'normalize_by', 'action_input_noise_bins',
                   'init_checkpoint', 'init_weights_only', 'ema_decay')


@dataclass
class TrainConfig:
    """Settings of :func:`train`.

    Attributes:
        output_dir: checkpoint directory (created; resumed from with ``resume``).
        preset: model size, see :func:`gato_ros.configuration_gato.list_presets`.
        model_overrides: GatoConfig fields to change, e.g. ``{'context_length': 256}``.
        max_steps: optimizer steps to reach (counting steps of a resumed run).
        batch_size: sequences per micro-batch.
        grad_accum_steps: micro-batches per optimizer step.
        learning_rate: peak learning rate.
        min_learning_rate_ratio: final learning rate as a fraction of the peak.
        warmup_steps: steps of linear warmup.
        lr_decay_steps: length of warmup + cosine decay; None: ``max_steps``.
        weight_decay: AdamW decoupled weight decay of weight matrices.
        adam_betas: AdamW betas.
        grad_clip_norm: clip the gradient norm to this value.
        prompt_probability: share of sequences with a prepended demonstration.
        prompt_max_tokens: token budget of a prompt; None: the policy's default.
        val_fraction: share of each task's episodes held out for validation.
        val_batches: validation micro-batches (fixed at the start).
        eval_every: validate every n steps (and at the end); 0: only at the end.
        save_every: checkpoint every n steps (and at the end); 0: only at the end.
        seed: seed of data sampling, initialization, dropout.
        num_threads: torch CPU threads; None leaves torch's default.
        device: 'cpu' forces the CPU; 'auto' takes Accelerate's choice (under a launcher the
            process's GPU, else the first GPU, else the CPU); a device type ('cuda', 'mps')
            must be the one Accelerate picks. No index: choose GPUs with CUDA_VISIBLE_DEVICES.
        mixed_precision: 'no', 'bf16' or 'fp16' autocast of the forward pass (fp16 also
            scales the loss).
        resume: continue from ``output_dir`` if it holds a training state, with the saved
            run's model settings, task specs and instruction tokenizer (``preset`` and
            ``text_model_path`` unused; ``model_overrides`` must agree with them) on the
            same episodes and with the same ``RESUMED_OPTIONS``.
        progress: show a tqdm progress bar.
        text_model_path: SentencePiece model of instructions; None: the shipped one.
        action_input_noise_bins: std (in bins) of noise on the continuous action ids the
            model reads, its targets staying clean (see :func:`corrupt_action_inputs`); 0: off.
        normalize_by: what shares standardization statistics: ``'embodiment'`` (all tasks of
            an arm: action tokens mean the same motion in every task, and the policy accepts
            new tasks of a known arm from a prompt) or ``'task'``.
        init_checkpoint: fine-tune: start from this checkpoint's weights, model settings,
            statistics and instruction tokenizer (so its tokens keep their meaning; tasks
            whose statistics group it lacks get theirs fitted on this data), with a fresh
            optimizer and schedule; ``preset``, ``normalize_by`` and
            ``text_model_path`` are then unused and ``model_overrides`` apply on top of its
            settings. Its tasks keep their observations and action, but may gain image
            observations (a new camera). None: a new model.
        init_weights_only: take only the weights, model settings and instruction tokenizer
            of ``init_checkpoint``, and fit statistics and task specs on this data (with
            ``normalize_by``): for a checkpoint trained on other outputs, such as the
            object-localization pretraining of ``collect --localization``.
        ema_decay: keep an exponential moving average of the weights, updated after every
            optimizer step with this decay (``average = decay * average + (1 - decay) *
            weights``), and save and validate it instead of the last weights; 0: off.

    """

    output_dir: str = 'runs/gato'
    preset: str = 'gato-5m'
    model_overrides: dict = field(default_factory=dict)
    max_steps: int = 1000
    batch_size: int = 8
    grad_accum_steps: int = 1
    learning_rate: float = 3e-4
    min_learning_rate_ratio: float = 0.1
    warmup_steps: int = 100
    lr_decay_steps: int | None = None
    weight_decay: float = 0.1
    adam_betas: tuple = (0.9, 0.95)
    grad_clip_norm: float = 1.0
    prompt_probability: float = 0.25
    prompt_max_tokens: int | None = None
    val_fraction: float = 0.1
    val_batches: int = 4
    eval_every: int = 200
    save_every: int = 500
    seed: int = 0
    num_threads: int | None = None
    device: str = 'cpu'
    mixed_precision: str = 'no'
    resume: bool = False
    progress: bool = True
    text_model_path: str | None = None
    normalize_by: str = 'embodiment'
    action_input_noise_bins: float = 0.0
    init_checkpoint: str | None = None
    init_weights_only: bool = False
    ema_decay: float = 0.0

    def __post_init__(self):
        for name in ('batch_size', 'grad_accum_steps', 'val_batches'):
            if getattr(self, name) <= 0:
                raise ValueError(f'{name} must be positive, got {getattr(self, name)}')
        for name in ('max_steps', 'warmup_steps', 'eval_every', 'save_every',
                     'action_input_noise_bins'):
            if getattr(self, name) < 0:
                raise ValueError(f'{name} must be >= 0, got {getattr(self, name)}')
        for name in ('prompt_probability', 'val_fraction', 'min_learning_rate_ratio'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {getattr(self, name)}')
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f'ema_decay must be in [0, 1), got {self.ema_decay}')
        if not self.learning_rate > 0:
            raise ValueError(f'learning_rate must be positive, got {self.learning_rate}')
        if self.normalize_by not in NORMALIZER_GROUPS:
            raise ValueError(f'normalize_by must be one of {NORMALIZER_GROUPS}, '
                             f'got {self.normalize_by!r}')
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise ValueError(f'mixed_precision must be one of {MIXED_PRECISIONS}, got '
                             f'{self.mixed_precision!r}')
        if ':' in self.device:
            raise ValueError(f"device takes a type ('auto', 'cpu', 'cuda', ...) without an "
                             f'index, got {self.device!r}; choose GPUs with '
                             'CUDA_VISIBLE_DEVICES or a launcher')
        if self.init_weights_only and not self.init_checkpoint:
            raise ValueError('init_weights_only needs an init_checkpoint')


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Return the learning rate of an optimizer step: linear warmup, then cosine decay.

    Args:
        step: the step index (0-based).
        config: the training settings.

    Returns:
        The learning rate.

    """
    peak = config.learning_rate
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    decay_steps = config.lr_decay_steps or config.max_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, decay_steps - config.warmup_steps))
    floor = peak * config.min_learning_rate_ratio
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))


class SequenceSampler:
    """Draw training sequences (optionally prompted windows) from episodes.

    Args:
        episodes: the episodes to sample from.
        normalizer: standardization statistics covering their tasks.
        model_config: the model config (context length, tokenizer settings).
        text_tokenizer: the instruction tokenizer.
        prompt_probability: share of batches (so of sequences) with prompts.
        prompt_max_tokens: token budget of a prompt.

    """

    def __init__(self, episodes: list, normalizer: Normalizer, model_config: GatoConfig,
                 text_tokenizer: TextTokenizer, prompt_probability: float,
                 prompt_max_tokens: int):
        self.episodes = episodes
        self.normalizer = normalizer
        self.tokenizer_config = model_config.tokenizer_config
        self.context_length = model_config.context_length
        self.max_window_timesteps = model_config.max_window_timesteps or None
        self.text_tokenizer = text_tokenizer
        self.prompt_probability = prompt_probability
        self.prompt_max_tokens = prompt_max_tokens
        self.prompts = {}
        for episode in episodes:
            if episode.success is not False:
                self.prompts.setdefault(episode.task, []).append(episode)
        self.step_tokens = {episode.task: timestep_token_count(episode.spec(),
                                                               self.tokenizer_config)
                            for episode in episodes}

    def _window(self, episode: Episode, budget: int, rng: np.random.Generator,
                use_instruction: bool, at_end: bool = False,
                max_steps: int | None = None) -> TokenizedSequence | None:
        """Tokenize a window of whole timesteps within ``budget`` tokens, or None if none fits."""
        text_tokens = 0
        if use_instruction and episode.instruction is not None:
            text_tokens = len(self.text_tokenizer.encode(episode.instruction))
        num_steps = min(len(episode), (budget - text_tokens) // self.step_tokens[episode.task],
                        max_steps or len(episode))
        if num_steps < 1:
            return None
        last_start = len(episode) - num_steps
        start = last_start if at_end else int(rng.integers(0, last_start + 1))
        return tokenize_episode(episode, self.normalizer, self.tokenizer_config,
                                text_tokenizer=self.text_tokenizer,
                                use_instruction=use_instruction, start_step=start,
                                stop_step=start + num_steps)

    def sample_batch(self, rng: np.random.Generator, size: int) -> list:
        """Draw one batch of training sequences, prompted or not as a whole.

        Deciding once per batch keeps the share of prompted sequences, but spares unprompted
        batches the padding: with one-timestep windows a prompt is several times a window's
        length, and one prompted sequence in a batch used to lengthen all of them.

        Args:
            rng: the random generator of data sampling.
            size: sequences in the batch.

        Returns:
            list: ``size`` sequences of :meth:`sample`.

        """
        prompted = bool(rng.random() < self.prompt_probability)
        return [self.sample(rng, prompted) for _ in range(size)]

    def sample(self, rng: np.random.Generator, prompted: bool = False) -> TokenizedSequence:
        """Draw one training sequence.

        Args:
            rng: the random generator of data sampling.
            prompted: prepend a demonstration of the episode's task, when one exists.

        Returns:
            The sequence, at most ``context_length`` tokens.

        """
        episode = self.episodes[int(rng.integers(len(self.episodes)))]
        parts = []
        candidates = self.prompts.get(episode.task, [])
        if candidates and prompted:
            demonstration = candidates[int(rng.integers(len(candidates)))]
            prompt = self._window(demonstration, self.prompt_max_tokens, rng,
                                  use_instruction=False, at_end=bool(rng.random() < 0.5))
            parts = [] if prompt is None else [prompt]
        budget = self.context_length - sum(len(part) for part in parts)
        window = self._window(episode, budget, rng, use_instruction=True,
                              max_steps=self.max_window_timesteps)
        if window is None:
            # Only a long prompt can crowd the window out; train() checked that a timestep
            # fits the context alone.
            parts, window = [], self._window(episode, self.context_length, rng, True,
                                             max_steps=self.max_window_timesteps)
        return concatenate_sequences(parts + [window])


def _task_specs(episodes: list) -> dict:
    """Return task -> spec, checking that every episode of a task has the same spec."""
    specs = {}
    for episode in episodes:
        spec = episode.spec()
        known = specs.setdefault(episode.task, spec)
        if known.to_dict() != spec.to_dict():
            raise ValueError(f'episodes of task {episode.task!r} disagree: {known.to_dict()} '
                             f'vs {spec.to_dict()}')
    return specs


def _initial_checkpoint(config: TrainConfig, episodes: list, train_episodes: list,
                        resume_dir: Path | None = None):
    """Return the checkpoint a run starts from: new, fine-tuned, or resumed (resume_dir)."""
    specs = _task_specs(episodes)
    if resume_dir is not None:
        return _resumed_checkpoint(resume_dir, config, specs, train_episodes)
    if not config.init_checkpoint:
        return Checkpoint(GatoModel(GatoConfig.from_preset(config.preset,
                                                           **config.model_overrides)),
                          specs, Normalizer.fit(train_episodes, group_by=config.normalize_by),
                          TextTokenizer(config.text_model_path or DEFAULT_MODEL_PATH))
    base = Checkpoint.load(config.init_checkpoint)
    model = GatoModel(GatoConfig.from_dict({**base.model.config.to_dict(),
                                            **config.model_overrides}))
    model.load_state_dict(base.model.state_dict())
    if config.init_weights_only:
        return Checkpoint(model, specs,
                          Normalizer.fit(train_episodes, group_by=config.normalize_by),
                          base.text_tokenizer)
    _check_fine_tunable(config.init_checkpoint, base, specs)
    return Checkpoint(model, {**base.specs, **specs},
                      _extended_normalizer(base.normalizer, train_episodes),
                      base.text_tokenizer)


def _extended_normalizer(base: Normalizer, train_episodes: list) -> Normalizer:
    """Return the base's statistics plus statistics fitted for the groups it has none of.

    The base's own groups keep their statistics, so its tokens keep their meaning; a new
    task or output kind (the turn scenes of ``collect --localization-label turn``) gets its
    own, fitted on its training episodes.
    """
    new = [episode for episode in train_episodes if not base.covers(episode.task)]
    if not new:
        return base
    fitted = Normalizer.fit(new, min_std=base.min_std, group_by=base.group_by)
    return Normalizer({**base.stats, **fitted.stats}, base.min_std, base.group_by)


def _resumed_checkpoint(resume_dir: Path, config: TrainConfig, specs: dict,
                        train_episodes: list) -> Checkpoint:
    """Load the run to resume, checking that the options and episodes are the saved run's."""
    saved = Checkpoint.load(resume_dir)
    settings = saved.model.config.to_dict()
    changed = {name: value for name, value in config.model_overrides.items()
               if settings.get(name) != value}
    if changed:
        saved_values = {name: settings.get(name) for name in changed}
        raise ValueError(f'cannot resume: {resume_dir} holds a model with {saved_values}, '
                         f'asked for {changed}')
    differing = sorted(task for task, spec in specs.items()
                       if task not in saved.specs or saved.specs[task].to_dict() != spec.to_dict())
    # A fine-tune keeps its base's statistics, so only a run that fitted its own can be
    # checked against these episodes' statistics.
    fitted_here = not config.init_checkpoint or config.init_weights_only
    if differing or (fitted_here and Normalizer.fit(
            train_episodes, group_by=saved.normalizer.group_by).to_dict()
            != saved.normalizer.to_dict()):
        why = (f'tasks {differing} changed' if differing else 'normalizer statistics '
               'changed; a fine-tuned run resumes with its --init-from')
        raise ValueError(f'cannot resume: the episodes differ from those of {resume_dir} '
                         f'({why})')
    return saved


def _check_fine_tunable(path: str, base: Checkpoint, specs: dict) -> None:
    """Raise ValueError unless the base checkpoint's specs fit these tasks.

    A task may gain cameras (a wrist camera mounted since): images are not standardized, so
    the base's statistics still give its other tokens their meaning.
    """
    differing = sorted(task for task, spec in specs.items()
                       if task in base.specs and not _adds_only_images(base.specs[task], spec))
    if differing:
        raise ValueError(f'cannot fine-tune {path}: the observations or actions of tasks '
                         f'{differing} differ from its own other than by added images '
                         '(--init-weights-from takes only its weights)')


def _adds_only_images(base_spec: EpisodeSpec, spec: EpisodeSpec) -> bool:
    """Return whether spec is base_spec with zero or more image observations added."""
    added = set(spec.observations) - set(base_spec.observations)
    return (spec.action == base_spec.action
            and all(spec.observations.get(key) == value
                    for key, value in base_spec.observations.items())
            and all(spec.observations[key].kind == 'image' for key in added))


def _split_episodes(episodes: list, val_fraction: float, seed: int) -> tuple:
    """Hold out ``floor(val_fraction * n)`` random episodes of each task for validation."""
    rng = np.random.default_rng(seed)
    train_episodes, val_episodes = [], []
    for task in sorted({episode.task for episode in episodes}):
        task_episodes = [episode for episode in episodes if episode.task == task]
        order = rng.permutation(len(task_episodes))
        num_val = int(val_fraction * len(task_episodes))
        val_episodes += [task_episodes[index] for index in order[:num_val]]
        train_episodes += [task_episodes[index] for index in order[num_val:]]
    return train_episodes, val_episodes


def _make_optimizer(model: GatoModel, config: TrainConfig) -> torch.optim.AdamW:
    # Decay matrices (linear, conv, embedding tables), not biases or normalization gains.
    decay = [param for param in model.parameters() if param.dim() >= 2]
    no_decay = [param for param in model.parameters() if param.dim() < 2]
    return torch.optim.AdamW(
        [{'params': decay, 'weight_decay': config.weight_decay},
         {'params': no_decay, 'weight_decay': 0.0}],
        lr=config.learning_rate, betas=tuple(config.adam_betas))


def corrupt_action_inputs(tokens: torch.Tensor, is_action: torch.Tensor, std_bins: float,
                          rng: np.random.Generator, config) -> torch.Tensor:
    """Return input ids whose continuous action tokens are moved by Gaussian noise.

    The targets stay clean: the model learns to predict the expert's action after actions
    that were not exactly the expert's, as its own sampled actions will be in closed loop,
    instead of continuing the previous action (the copycat problem of behaviour cloning
    with action history).

    Args:
        tokens: (B, L) token ids.
        is_action: (B, L) True on action tokens.
        std_bins: noise std in bins of the continuous range.
        rng: generator of the noise (the training's data generator, saved with it).
        config: the :class:`gato_ros.tokenizer.TokenizerConfig`.

    Returns:
        (B, L) ids; only continuous action ids change, and stay in the continuous range.
    """
    low, high = config.continuous_offset, config.continuous_offset + config.num_bins
    noise = torch.from_numpy(np.rint(rng.normal(0.0, std_bins, tuple(tokens.shape))))
    moved = (tokens + noise.to(tokens.device, tokens.dtype)).clamp(low, high - 1)
    continuous = is_action & (tokens >= low) & (tokens < high)
    return torch.where(continuous, moved, tokens)


def _batch_loss(model: GatoModel, sequences: list, pad_id: int, device: str,
                corrupt=None) -> tuple:
    """Return the loss, the action-token accuracy (greedy) and the token count of a batch.

    ``corrupt(tokens, is_action) -> tokens``, when given, changes the model's input ids; the
    targets stay the clean ids.
    """
    inputs, targets = collate_sequences(sequences, pad_id, device)
    model_inputs = inputs if corrupt is None else {
        **inputs, 'tokens': corrupt(inputs['tokens'], targets['is_action'])}
    logits = model(**model_inputs).logits  # (B, L, V)
    loss = next_token_loss(logits, inputs['tokens'], targets['loss_mask'])
    predicted = logits[:, :-1].argmax(dim=-1)  # (B, L - 1)
    is_action = targets['is_action'][:, 1:]  # (B, L - 1)
    correct = (predicted == inputs['tokens'][:, 1:]) & is_action
    accuracy = correct.sum().item() / max(1, is_action.sum().item())
    return loss, accuracy, sum(len(item) for item in sequences)


def _sum_across(accelerator: Accelerator, values: list) -> list:
    """Add numbers over all processes."""
    if accelerator.num_processes == 1:
        return values  # no device round trip (MPS has no float64)
    # float64 keeps token counts exact past float32's 2**24.
    summed = accelerator.reduce(
        torch.tensor(values, dtype=torch.float64, device=accelerator.device), 'sum')
    return summed.tolist()


def _evaluate(accelerator: Accelerator, model, batches: list, pad_id: int) -> dict:
    """Return the mean loss and action accuracy of the batches, each process doing a share."""
    model.eval()
    with torch.no_grad():
        results = [_batch_loss(model, batch, pad_id, accelerator.device)[:2]
                   for batch in batches[accelerator.process_index::accelerator.num_processes]]
    model.train()
    loss_sum, accuracy_sum = _sum_across(accelerator, [
        sum(loss.item() for loss, _ in results), sum(accuracy for _, accuracy in results)])
    return {'val_loss': loss_sum / len(batches),
            'val_action_accuracy': accuracy_sum / len(batches)}


def _input_corruption(model: GatoModel, config: TrainConfig, rng: np.random.Generator):
    """Return the input corruption of :func:`_batch_loss`, or None when it is off."""
    if config.action_input_noise_bins <= 0.0:
        return None
    tokenizer_config = model.config.tokenizer_config
    return functools.partial(corrupt_action_inputs, std_bins=config.action_input_noise_bins,
                             rng=rng, config=tokenizer_config)


def _optimizer_step(accelerator: Accelerator, model, optimizer, step: int,
                    sampler: SequenceSampler, rng: np.random.Generator, pad_id: int,
                    config: TrainConfig) -> tuple:
    """Run one optimizer step; return this process's loss (mean of micro-batches) and tokens."""
    for group in optimizer.param_groups:
        group['lr'] = learning_rate_at(step, config)
    optimizer.zero_grad(set_to_none=True)
    step_loss, tokens = 0.0, 0
    corrupt = _input_corruption(accelerator.unwrap_model(model), config, rng)
    for micro_step in range(config.grad_accum_steps):
        # Gradients are averaged across processes once per step: in the last backward pass.
        last = micro_step == config.grad_accum_steps - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            batch = sampler.sample_batch(rng, config.batch_size)
            loss, _, count = _batch_loss(model, batch, pad_id, accelerator.device, corrupt)
            accelerator.backward(loss / config.grad_accum_steps)
        step_loss += loss.item() / config.grad_accum_steps
        tokens += count
    accelerator.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
    optimizer.step()
    return step_loss, tokens


def _make_ema(model: GatoModel, config: TrainConfig) -> AveragedModel | None:
    """Return the moving average of the model's weights, or None when ema_decay is 0."""
    if config.ema_decay == 0.0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay))


def _save(accelerator: Accelerator, config: TrainConfig, checkpoint: Checkpoint, optimizer,
          step: int, rng: np.random.Generator, history: list,
          ema: AveragedModel | None) -> None:
    """Write the checkpoint (the averaged weights, if any) and the training state."""
    # A collective operation: every process calls _save and sends its RNG states.
    rng_states = gather_object([(rng.bit_generator.state, torch.get_rng_state())])
    if accelerator.is_main_process:
        directory = Path(config.output_dir)
        (checkpoint if ema is None else replace(checkpoint, model=ema.module)).save(directory)
        _write_training_state(directory / STATE_DIR, optimizer, accelerator.scaler, step,
                              rng_states, history, options_as_json(config),
                              _ema_tensors(checkpoint.model, ema))
    accelerator.wait_for_everyone()


def _ema_tensors(model: GatoModel, ema: AveragedModel | None) -> dict:
    """Return the average and, as the checkpoint holds the average, the weights to train on."""
    if ema is None:
        return {}
    return {**{f'ema.{name}': value for name, value in ema.state_dict().items()},
            **{f'weights.{name}': value for name, value in model.state_dict().items()}}


def _write_training_state(directory: Path, optimizer: torch.optim.Optimizer, scaler,
                          step: int, rng_states: list, history: list, options: dict,
                          extra: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    state = optimizer.state_dict()
    tensors = {f'state.{index}.{name}': value
               for index, entry in state['state'].items() for name, value in entry.items()}
    tensors = {name: value.detach().cpu().contiguous()
               for name, value in {**tensors, **extra}.items()}
    tensors['torch_rng_state'] = torch.stack([torch_state for _, torch_state in rng_states])
    write_safetensors(tensors, directory / STATE_TENSORS_FILE)
    # The JSON is written last: a state directory with it is complete.
    (directory / STATE_JSON_FILE).write_text(json.dumps({
        'step': step, 'param_groups': state['param_groups'],
        'numpy_rng_states': [numpy_state for numpy_state, _ in rng_states],
        'grad_scaler': None if scaler is None else scaler.state_dict(),
        'options': options, 'history': history}, indent=1))


def _load_training_state(directory: Path, optimizer: torch.optim.Optimizer,
                         accelerator: Accelerator, rng: np.random.Generator,
                         seed: int) -> tuple:
    """Restore the optimizer and RNG states; return step, history and the saved tensors."""
    meta = json.loads((directory / STATE_JSON_FILE).read_text())
    tensors = load_file(directory / STATE_TENSORS_FILE)
    step, index = int(meta['step']), accelerator.process_index
    # One row and one JSON entry per process; states written by single-process versions
    # of this module hold a single unstacked state.
    torch_states = tensors.pop('torch_rng_state').reshape(-1, torch.get_rng_state().numel())
    numpy_states = meta.get('numpy_rng_states') or [meta['numpy_rng_state']]
    if len(numpy_states) == accelerator.num_processes:
        # clone: torch.set_rng_state reads a row view from its storage's start.
        torch.set_rng_state(torch_states[index].clone())
        rng.bit_generator.state = numpy_states[index]
    else:
        rng.bit_generator.state = np.random.default_rng(
            [seed + index, step]).bit_generator.state
    state = {}
    for key, value in tensors.items():
        if key.startswith('state.'):  # the optimizer's; the rest are RNG and EMA tensors
            _, param_index, name = key.split('.', 2)
            state.setdefault(int(param_index), {})[name] = value
    optimizer.load_state_dict({'state': state, 'param_groups': meta['param_groups']})
    if accelerator.scaler is not None and meta.get('grad_scaler'):
        accelerator.scaler.load_state_dict(meta['grad_scaler'])
    return step, list(meta['history']), tensors


def _load_ema(tensors: dict, model: GatoModel, ema: AveragedModel) -> None:
    """Load the saved training weights into model and their moving average into ema."""
    for module, prefix in ((model, 'weights.'), (ema, 'ema.')):
        module.load_state_dict({key.removeprefix(prefix): value
                                for key, value in tensors.items() if key.startswith(prefix)})


def cpu_has_native_bf16(capabilities) -> bool:
    """Return whether an x86 CPU computes bfloat16 in hardware (AVX512-BF16 or AMX).

    Without it, bf16 autocast on the CPU converts every operand and runs much slower than
    float32: 240 against 2,400 tokens/s training gato-2m on a 2-core AVX2 EPYC (earlier
    development machines had trained it in bf16 at 3,800).

    Args:
        capabilities: ``torch.cpu.get_capabilities()``.

    Returns:
        bool: False only for an x86 CPU without those instructions (other CPUs: True, not
        judged).

    """
    if capabilities.get('architecture') not in ('x86_64', 'x86'):
        return True
    return bool(capabilities.get('avx512_bf16') or capabilities.get('amx_bf16'))


def _make_accelerator(config: TrainConfig) -> Accelerator:
    """Create the run's Accelerator on the device and with the precision ``config`` asks."""
    # Accelerate keeps its settings in process-wide singletons; each run may ask for others.
    # Only a launcher's process group has to outlive a run.
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    AcceleratorState._reset_state(reset_partial_state=not distributed)
    accelerator = Accelerator(
        cpu=config.device == 'cpu', mixed_precision=config.mixed_precision,
        # A batch without images leaves the image encoder unused on its process.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    if config.device not in ('auto', accelerator.device.type):
        raise ValueError(f'device {config.device!r} asked, but Accelerate placed this process '
                         f'on {accelerator.device}')
    if (accelerator.device.type == 'cpu' and config.mixed_precision == 'bf16'
            and not cpu_has_native_bf16(torch.cpu.get_capabilities())):
        warnings.warn('bf16 autocast on a CPU without AVX512-BF16 or AMX is emulated and '
                      'about 10x slower than float32 here; use mixed_precision no '
                      '(train --mixed-precision no)', stacklevel=3)
    # Without a backend (e.g. device 'auto' on a machine without GPUs) each launched process
    # would train alone and all would write the same files.
    launched = get_int_from_env(['PMI_SIZE', 'OMPI_COMM_WORLD_SIZE', 'MV2_COMM_WORLD_SIZE',
                                 'WORLD_SIZE'], 1)
    if accelerator.num_processes != launched:
        raise ValueError(f'{launched} processes were launched, but Accelerate joined '
                         f'{accelerator.num_processes} on {accelerator.device}; use device '
                         "'cpu' to train several processes on CPUs")
    return accelerator


def options_as_json(config: TrainConfig) -> dict:
    """Return the settings as they are saved with the training state (JSON values).

    Args:
        config: the run's settings.

    Returns:
        dict: field name -> JSON value (tuples become lists).

    """
    return json.loads(json.dumps(asdict(config)))


def saved_options(output_dir) -> dict | None:
    """Return the options saved with the training state in a run's directory.

    Args:
        output_dir: the run's directory (``TrainConfig.output_dir``).

    Returns:
        dict of :func:`options_as_json`, or None when the directory holds no training state
        or one written before the options were saved.

    """
    path = Path(output_dir) / STATE_DIR / STATE_JSON_FILE
    return json.loads(path.read_text()).get('options') if path.is_file() else None


def _check_resumed_options(config: TrainConfig) -> None:
    saved = saved_options(config.output_dir)
    if saved is None:
        return  # a state from before options were saved: nothing to compare with
    asked = options_as_json(config)
    # Options newer than the saved run had their default value in it.
    saved = {**options_as_json(TrainConfig()), **saved}
    differing = [f'{name} {asked[name]!r} (saved: {saved[name]!r})'
                 for name in RESUMED_OPTIONS if saved[name] != asked[name]]
    if differing:
        raise ValueError(f'cannot resume {config.output_dir}: options differ from the saved '
                         f"run's: {', '.join(differing)}; resume with the saved values "
                         '(gato-ros train --resume takes them when not given) or train into '
                         'a new directory')


def _resume_found(accelerator: Accelerator, config: TrainConfig) -> bool:
    """Return whether to resume, checking that every process sees the same training state."""
    found = config.resume and (Path(config.output_dir) / STATE_DIR / STATE_JSON_FILE).is_file()
    found_by = gather_object([found])
    if any(found_by) and not all(found_by):
        raise ValueError(f'cannot resume: processes {found_by} (True: found) do not all see '
                         f'the training state in {config.output_dir}; put it on a shared '
                         'filesystem')
    return found


def _check_fits(sampler: SequenceSampler, episodes: list) -> None:
    for episode in episodes:
        text = (len(sampler.text_tokenizer.encode(episode.instruction))
                if episode.instruction is not None else 0)
        needed = text + sampler.step_tokens[episode.task]
        if needed > sampler.context_length:
            raise ValueError(f'a timestep of task {episode.task!r} needs {needed} tokens, more '
                             f'than context_length {sampler.context_length}')


def _write_summary(output_dir: Path, config: TrainConfig, accelerator: Accelerator,
                   checkpoint: Checkpoint, history: list, counts: dict) -> None:
    """Write ``train_summary.json``: the run's counts, last losses, settings and history."""
    last_eval = next((item for item in reversed(history) if 'val_loss' in item), {})
    summary = {
        **counts,
        'final_train_loss': history[-1]['train_loss'] if history else None,
        'val_loss': last_eval.get('val_loss'),
        'val_action_accuracy': last_eval.get('val_action_accuracy'),
        'num_parameters': sum(param.numel() for param in checkpoint.model.parameters()),
        'num_processes': accelerator.num_processes,
        'mixed_precision': accelerator.mixed_precision,
        'tasks': sorted(checkpoint.specs), 'config': options_as_json(config), 'history': history}
    (output_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))


def train(episodes, config: TrainConfig | None = None) -> Path:
    """Train (or resume training) a Gato model and write a policy checkpoint.

    Call it in every process of a launcher (``accelerate launch``, ``torchrun``): the
    processes train one model data-parallel and the main one writes the files.

    Args:
        episodes: iterable of :class:`gato_ros.data.Episode` (several tasks allowed).
        config: training settings (default :class:`TrainConfig`).

    Returns:
        The checkpoint directory, loadable by :meth:`gato_ros.policy.GatoPolicy.from_pretrained`.

    Raises:
        ValueError: for no episodes, inconsistent task specs, a timestep longer than the
            context, a device other than the one Accelerate picks, or a resumed run with
            other episodes, another model, other ``RESUMED_OPTIONS`` or a training state not
            all processes see.

    """
    config = config or TrainConfig()
    episodes = list(episodes)
    if not episodes or not all(isinstance(item, Episode) for item in episodes):
        raise ValueError('train needs a non-empty list of Episode objects')
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    accelerator = _make_accelerator(config)
    torch.manual_seed(config.seed)
    output_dir = Path(config.output_dir)
    train_episodes, val_episodes = _split_episodes(episodes, config.val_fraction, config.seed)
    resuming = _resume_found(accelerator, config)
    if resuming:
        _check_resumed_options(config)
    checkpoint = _initial_checkpoint(config, episodes, train_episodes,
                                     output_dir if resuming else None)
    model_config, normalizer = checkpoint.model.config, checkpoint.normalizer
    text_tokenizer = checkpoint.text_tokenizer
    sampler = SequenceSampler(train_episodes, normalizer, model_config, text_tokenizer,
                              config.prompt_probability,
                              config.prompt_max_tokens or default_prompt_tokens(model_config))
    _check_fits(sampler, episodes)
    pad_id = model_config.tokenizer_config.pad_id
    val_batches = []
    if val_episodes:
        val_sampler = SequenceSampler(val_episodes, normalizer, model_config, text_tokenizer,
                                      config.prompt_probability, sampler.prompt_max_tokens)
        val_rng = np.random.default_rng(config.seed + 1)
        val_batches = [val_sampler.sample_batch(val_rng, config.batch_size)
                       for _ in range(config.val_batches)]

    rng = np.random.default_rng(config.seed + accelerator.process_index)
    optimizer = _make_optimizer(checkpoint.model, config)
    step, history, state_tensors = 0, [], {}
    if resuming:
        step, history, state_tensors = _load_training_state(
            output_dir / STATE_DIR, optimizer, accelerator, rng, config.seed)
    model, optimizer = accelerator.prepare(checkpoint.model.train(), optimizer)
    # What is saved: the bare model, without a data-parallel wrapper.
    checkpoint.model = accelerator.unwrap_model(model)
    ema = _make_ema(checkpoint.model, config)
    if resuming and ema is not None:
        _load_ema(state_tensors, checkpoint.model, ema)

    bar = tqdm(total=config.max_steps, initial=step, desc='train', unit='step',
               disable=not (config.progress and accelerator.is_main_process))
    tokens, start_step, start_time = 0, step, time.perf_counter()
    while step < config.max_steps:
        step_loss, count = _optimizer_step(accelerator, model, optimizer, step, sampler, rng,
                                           pad_id, config)
        if ema is not None:
            ema.update_parameters(checkpoint.model)
        step += 1
        tokens += count
        step_loss = _sum_across(accelerator, [step_loss])[0] / accelerator.num_processes
        record = {'step': step, 'train_loss': step_loss}
        last = step == config.max_steps
        if val_batches and (last or (config.eval_every and step % config.eval_every == 0)):
            record.update(_evaluate(accelerator, model if ema is None else ema.module,
                                    val_batches, pad_id))
        history.append(record)
        bar.update(1)
        bar.set_postfix(loss=f'{step_loss:.3f}')
        if not last and config.save_every and step % config.save_every == 0:
            _save(accelerator, config, checkpoint, optimizer, step, rng, history, ema)
    bar.close()
    elapsed_s = time.perf_counter() - start_time
    tokens = int(_sum_across(accelerator, [tokens])[0])
    _save(accelerator, config, checkpoint, optimizer, step, rng, history, ema)
    if accelerator.is_main_process:
        _write_summary(output_dir, config, accelerator, checkpoint, history, {
            'steps': step, 'start_step': start_step, 'elapsed_s': elapsed_s,
            'tokens_per_s': tokens / elapsed_s if step > start_step else None,
            'train_tokens': tokens, 'num_train_episodes': len(train_episodes),
            'num_val_episodes': len(val_episodes)})
    accelerator.wait_for_everyone()
    return output_dir
