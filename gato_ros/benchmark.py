"""Measure inference latency, KV-cache speedup, prefill time and memory of model presets.

This module is part of the ROS-free core: it imports neither rclpy nor message packages.
``gato-ros bench`` (:mod:`gato_ros.commands.bench`) is its command line; docs/benchmarks.md
quotes its numbers.

Every preset is measured on the same arm-like task: a 64x64 RGB image and 8 joint values
observed, an 8-dimensional continuous action. Its checkpoint has random weights (speed and
memory do not depend on training) and is written to a temporary directory and loaded back
through :class:`gato_ros.policy.Checkpoint`, like a deployed one. Measured per preset:

* ``select_action`` latency over ``steps`` control steps of :class:`gato_ros.policy.GatoPolicy`
  (prompt, instruction, KV cache, window rebuilds: the deployment path), split into steady
  steps and steps that rebuilt the window (see the policy's module docstring);
* the same greedy action decoded at the model level with the KV cache (one forward pass per
  action token) and without it (the whole window recomputed per action token), on the same
  window; their ratio is the speedup the cache brings;
* the prefill of a full context window, and the KV cache bytes it fills;
* parameters and their bytes, the peak resident memory of the measuring process and its
  growth from loading the checkpoint on (sampled by a thread) and, on CUDA, the peak allocated
  device memory. Each preset is measured in a fresh process so that these are its own;
* optionally, training throughput: forward and backward passes on full-context batches.

Times come from ``time.perf_counter``; on CUDA the device is synchronized before each reading.
Machines are shared, so the report gives medians and ratios measured within one run.
"""

from concurrent.futures import ProcessPoolExecutor
import copy
from dataclasses import asdict, dataclass, field
import gc
import json
import multiprocessing
import os
from pathlib import Path
import platform
import tempfile
import threading
import time

from gato_ros.configuration_gato import GatoConfig, list_presets
from gato_ros.data import Episode, EpisodeSpec, Normalizer, TensorSpec
from gato_ros.modeling_gato import collate_sequences, GatoModel, next_token_loss
from gato_ros.policy import Checkpoint, GatoPolicy, PolicyConfig
from gato_ros.text_tokenizer import TextTokenizer
from gato_ros.tokenizer import (action_token_range, concatenate_sequences, timestep_token_count,
                                tokenize_episode, tokenize_timestep, window_sequence)
import numpy as np
import psutil
import torch

TASK = 'arm'
INSTRUCTION = 'pick up the blue foam cube'
REPORT_FORMAT_VERSION = 1
_MIB = 2 ** 20


@dataclass
class BenchConfig:
    """Settings of one benchmark run.

    Attributes:
        presets: model presets measured (see :func:`gato_ros.configuration_gato.list_presets`),
            built with random weights.
        device: torch device, e.g. ``'cpu'`` or ``'cuda'``.
        threads: torch CPU threads; None keeps torch's default.
        steps: control steps timed per preset.
        warmup_steps: untimed control steps before them; None runs until the window has been
            rebuilt once, so that the timed steps start inside the steady fill/rebuild cycle.
        decode_repeats: timed repeats of the action decoded with and without the KV cache and
            of the full-context prefill.
        image_size: side of the square RGB camera image, in pixels.
        num_joints: joint values observed.
        action_dim: continuous action dimensions.
        control_rates_hz: control rates checked against the measured latency.
        context_length: context length in tokens; None keeps the preset's.
        train: also measure training throughput.
        train_batch_size: sequences per training batch, each a full context window.
        train_steps: timed forward+backward passes (after one untimed pass).
        seed: seed of the random weights and the synthetic data.

    """

    presets: tuple = ('gato-5m', 'gato-20m')
    device: str = 'cpu'
    threads: int | None = None
    steps: int = 30
    warmup_steps: int | None = None
    decode_repeats: int = 3
    image_size: int = 64
    num_joints: int = 8
    action_dim: int = 8
    control_rates_hz: tuple = (10.0, 20.0)
    context_length: int | None = None
    train: bool = False
    train_batch_size: int = 4
    train_steps: int = 3
    seed: int = 0

    def __post_init__(self):
        self.presets = tuple(self.presets)
        unknown = [name for name in self.presets if name not in list_presets()]
        if not self.presets or unknown:
            raise ValueError(f'presets must be a non-empty list of {list_presets()}, '
                             f'got {list(self.presets)}')
        for name in ('steps', 'decode_repeats', 'image_size', 'num_joints', 'action_dim',
                     'train_batch_size', 'train_steps'):
            if int(getattr(self, name)) < 1:
                raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}')
        for name in ('threads', 'warmup_steps', 'context_length'):
            value = getattr(self, name)
            if value is not None and value < (0 if name == 'warmup_steps' else 1):
                raise ValueError(f'{name} must be None or positive, got {value}')
        if not self.control_rates_hz or min(self.control_rates_hz) <= 0:
            raise ValueError(f'control_rates_hz must be positive rates, got '
                             f'{self.control_rates_hz}')
        self.control_rates_hz = tuple(float(rate) for rate in self.control_rates_hz)
        if torch.device(self.device).type == 'cuda' and not torch.cuda.is_available():
            raise ValueError(f'device {self.device!r} asked, but torch sees no CUDA device '
                             f"(torch {torch.__version__}); use device 'cpu'")


@dataclass
class LatencyStats:
    """Summary of a list of durations.

    Attributes:
        count: number of durations.
        median_s: median, seconds.
        p90_s: 90th percentile, seconds.
        p99_s: 99th percentile, seconds (the maximum for fewer than 100 durations, almost).
        max_s: maximum, seconds.

    """

    count: int
    median_s: float
    p90_s: float
    p99_s: float
    max_s: float

    @classmethod
    def of(cls, seconds) -> 'LatencyStats | None':
        """Summarize durations.

        Args:
            seconds: the durations, seconds.

        Returns:
            The summary, or None when there is no duration.

        """
        values = np.asarray(list(seconds), np.float64)
        if values.size == 0:
            return None
        return cls(int(values.size), float(np.median(values)),
                   float(np.percentile(values, 90)), float(np.percentile(values, 99)),
                   float(values.max()))


@dataclass
class PresetResult:
    """Everything measured for one preset (durations in seconds, memory in bytes).

    Attributes:
        preset: the preset name.
        num_parameters: parameters of the model.
        parameter_bytes: bytes of those parameters as loaded (float32).
        context_length: context length in tokens.
        step_tokens: tokens of one control step (observation, separator, action).
        checkpoint_load_s: time to load the checkpoint into a policy.
        latency: ``select_action`` over all timed steps.
        steady: steps that extended the KV cache.
        rebuild: steps that rebuilt the window (None if no timed step did).
        control_rate_hz: ``1 / latency.median_s``.
        fits: control rate -> ``'yes'`` (p99 within the period), ``'median only'`` or ``'no'``.
        decode_window_tokens: window of the decoding comparison (median window of the steps).
        cached_action_s: median time of one action decoded with the KV cache.
        recomputed_action_s: median time of the same action without the cache.
        kv_cache_speedup: ``recomputed_action_s / cached_action_s``.
        actions_match: whether both decodings chose the same action tokens.
        prefill_tokens: tokens of the full-context window prefilled.
        prefill_s: median time of that prefill.
        kv_cache_bytes: bytes of the KV cache after that prefill.
        peak_rss_bytes: peak resident memory of the measuring process (a fresh one per
            preset), from loading the checkpoint to the end of the inference measurements.
        peak_rss_growth_bytes: that peak above the process's level before loading.
        peak_device_bytes: peak allocated CUDA memory (None on CPU).
        train: training throughput (None unless asked).

    """

    preset: str
    num_parameters: int
    parameter_bytes: int
    context_length: int
    step_tokens: int
    checkpoint_load_s: float
    latency: LatencyStats
    steady: LatencyStats | None
    rebuild: LatencyStats | None
    control_rate_hz: float
    fits: dict
    decode_window_tokens: int
    cached_action_s: float
    recomputed_action_s: float
    kv_cache_speedup: float
    actions_match: bool
    prefill_tokens: int
    prefill_s: float
    kv_cache_bytes: int
    peak_rss_bytes: int
    peak_rss_growth_bytes: int
    peak_device_bytes: int | None
    train: dict | None = field(default=None)


class PeakMemory:
    """Context manager: peak resident memory of this process, and its growth over the entry level.

    A thread samples the resident set size every ``interval_s``; on CUDA the allocator's peak
    is read too. Results: ``peak_bytes``, ``growth_bytes`` and ``device_bytes`` (None on CPU).

    Args:
        device: the torch device measured.
        interval_s: sampling period, seconds.

    """

    def __init__(self, device: str, interval_s: float = 0.01):
        self.device = torch.device(device)
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.growth_bytes = 0
        self.device_bytes = None
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._baseline = 0
        self._peak = 0

    def _sample(self):
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __enter__(self) -> 'PeakMemory':
        """Record the baseline and start sampling."""
        gc.collect()
        if self.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(self.device)
        self._baseline = self._peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        """Stop sampling and store the peaks."""
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self._peak, self._process.memory_info().rss)
        self.growth_bytes = self.peak_bytes - self._baseline
        if self.device.type == 'cuda':
            self.device_bytes = int(torch.cuda.max_memory_allocated(self.device))


def arm_spec(config: BenchConfig) -> EpisodeSpec:
    """Return the spec of the benchmark task.

    Args:
        config: the benchmark settings (image size, joints, action dimensions).

    Returns:
        An image and joint values observed, a continuous action.

    """
    return EpisodeSpec(TASK, {
        'image': TensorSpec('image', (config.image_size, config.image_size, 3)),
        'joints': TensorSpec('continuous', (config.num_joints,))},
        TensorSpec('continuous', (config.action_dim,)))


def make_arm_episode(config: BenchConfig, num_steps: int, rng: np.random.Generator) -> Episode:
    """Return a random episode of the benchmark task.

    Args:
        config: the benchmark settings.
        num_steps: timesteps.
        rng: random generator.

    Returns:
        The episode, with an instruction (noise images, joints in rad, actions).

    """
    size = config.image_size
    return Episode(
        {'image': rng.integers(0, 256, (num_steps, size, size, 3), dtype=np.uint8),
         'joints': rng.normal(0.0, 0.5, (num_steps, config.num_joints)).astype(np.float32)},
        rng.normal(0.0, 0.1, (num_steps, config.action_dim)).astype(np.float32), TASK,
        instruction=INSTRUCTION, success=True)


def _synchronize(device: torch.device) -> None:
    """Wait for queued device work, so that a clock reading includes it."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def save_random_checkpoint(preset: str, config: BenchConfig, episode: Episode,
                           directory) -> Path:
    """Write a checkpoint of a randomly initialized preset for the benchmark task.

    Args:
        preset: the preset name.
        config: the benchmark settings (seed, context length).
        episode: an episode of the task; the normalizer is fitted on it.
        directory: the checkpoint directory.

    Returns:
        The checkpoint directory.

    """
    torch.manual_seed(config.seed)
    overrides = {} if config.context_length is None else {'context_length': config.context_length}
    model = GatoModel(GatoConfig.from_preset(preset, **overrides))
    checkpoint = Checkpoint(model, {TASK: arm_spec(config)}, Normalizer.fit([episode]),
                            TextTokenizer())
    return checkpoint.save(directory)


def time_control_steps(policy: GatoPolicy, episode: Episode, config: BenchConfig) -> list:
    """Run warm-up then timed ``select_action`` steps on the episode's observations.

    The policy is reset with the instruction and the episode as prompt, as deployed.

    Args:
        policy: the policy.
        episode: observations (cycled through) and the prompt.
        config: the benchmark settings (steps, warmup_steps).

    Returns:
        One ``(seconds, window_tokens_before, rebuilt)`` tuple per timed step; ``rebuilt``
        is True when the step rebuilt the window instead of extending the KV cache.

    """
    policy.reset(TASK, instruction=INSTRUCTION, prompt=episode, seed=config.seed)
    device = torch.device(config.device)
    records, step, rebuilds = [], 0, 0
    warmup = config.warmup_steps
    while (step < warmup) if warmup is not None else rebuilds == 0:
        rebuilds += _timed_step(policy, episode.observation(step % len(episode)), device)[2]
        step += 1
    for index in range(step, step + config.steps):
        records.append(_timed_step(policy, episode.observation(index % len(episode)), device))
    return records


def _timed_step(policy: GatoPolicy, observation: dict, device: torch.device) -> tuple:
    before = policy.window_tokens
    start = time.perf_counter()
    policy.select_action(observation)
    _synchronize(device)
    return time.perf_counter() - start, before, policy.window_tokens < before


def _greedy(logits: torch.Tensor, token_range: tuple) -> int:
    """Return the most likely action token id after the last position of (1, L, V) logits."""
    low, high = token_range
    return low + int(torch.argmax(logits[0, -1, low:high]))


def _action_inputs(ids: list, local_position: int, device: torch.device) -> dict:
    """Return model inputs of sampled action tokens: (1, n) ids and local positions."""
    tokens = torch.tensor([ids], dtype=torch.long, device=device)  # (1, n)
    return {'tokens': tokens, 'local_positions': torch.full_like(tokens, local_position)}


def decode_with_cache(model: GatoModel, past: dict, step: dict, action_dim: int,
                      local_position: int, repeats: int) -> tuple:
    """Decode one greedy action after a prefilled window, one forward pass per action token.

    Args:
        model: the model (eval mode).
        past: inputs of the window before the current observation (prefilled, not timed).
        step: inputs of the current observation and its separator.
        action_dim: action tokens to decode.
        local_position: local position of action tokens.
        repeats: timed repeats, each from a copy of the prefilled cache.

    Returns:
        ``(ids, seconds)``: the action token ids and the time of each repeat.

    """
    device = step['tokens'].device
    token_range = action_token_range('continuous', model.config.tokenizer_config)
    seconds = []
    with torch.inference_mode():
        prefilled = model(**past, use_cache=True, logits_to_keep=1).cache
        for _ in range(repeats):
            cache = copy.deepcopy(prefilled)
            _synchronize(device)
            start = time.perf_counter()
            logits = model(**step, cache=cache, use_cache=True, logits_to_keep=1).logits
            ids = [_greedy(logits, token_range)]
            while len(ids) < action_dim:
                logits = model(**_action_inputs(ids[-1:], local_position, device), cache=cache,
                               use_cache=True, logits_to_keep=1).logits
                ids.append(_greedy(logits, token_range))
            _synchronize(device)
            seconds.append(time.perf_counter() - start)
    return ids, seconds


def decode_recomputed(model: GatoModel, window: dict, action_dim: int, local_position: int,
                      repeats: int) -> tuple:
    """Decode one greedy action without a KV cache: the whole window per action token.

    Args:
        model: the model (eval mode).
        window: inputs of the window up to the current observation's separator.
        action_dim: action tokens to decode.
        local_position: local position of action tokens.
        repeats: timed repeats.

    Returns:
        ``(ids, seconds)``: the action token ids and the time of each repeat.

    """
    device = window['tokens'].device
    token_range = action_token_range('continuous', model.config.tokenizer_config)
    seconds = []
    with torch.inference_mode():
        for _ in range(repeats):
            _synchronize(device)
            start = time.perf_counter()
            ids = []
            while len(ids) < action_dim:
                inputs = dict(window)
                if ids:
                    extra = _action_inputs(ids, local_position, device)
                    for name in ('tokens', 'local_positions'):
                        inputs[name] = torch.cat([window[name], extra[name]], dim=1)  # (1, L+n)
                    inputs['patch_index'] = torch.cat(
                        [window['patch_index'], torch.full_like(extra['tokens'], -1)], dim=1)
                ids.append(_greedy(model(**inputs, logits_to_keep=1).logits, token_range))
            _synchronize(device)
            seconds.append(time.perf_counter() - start)
    return ids, seconds


def compare_decoding(policy: GatoPolicy, episode: Episode, window_tokens: int,
                     config: BenchConfig) -> dict:
    """Time the same action decoded with and without the KV cache on one window.

    Args:
        policy: the policy whose model, normalizer and text tokenizer are used.
        episode: the synthetic episode; its last observation is the current one and its
            earlier timesteps (with actions) fill the window.
        window_tokens: tokens of the window before the current observation (at most).
        config: the benchmark settings (repeats).

    Returns:
        ``decode_window_tokens``, ``cached_action_s``, ``recomputed_action_s`` (medians),
        ``kv_cache_speedup`` and ``actions_match``.

    """
    tokenizer_config = policy.tokenizer_config
    history = tokenize_episode(episode, policy.checkpoint.normalizer, tokenizer_config,
                               text_tokenizer=policy.checkpoint.text_tokenizer,
                               stop_step=len(episode) - 1)
    past = window_sequence(history, window_tokens)
    current = tokenize_timestep(episode.observation(len(episode) - 1), config=tokenizer_config,
                                normalizer=policy.checkpoint.normalizer, task=TASK)
    device = policy.config.device
    pad_id, position = tokenizer_config.pad_id, tokenizer_config.action_local_position
    past_inputs, _ = collate_sequences([past], pad_id, device)
    step_inputs, _ = collate_sequences([current], pad_id, device)
    window_inputs, _ = collate_sequences([concatenate_sequences([past, current])], pad_id,
                                         device)
    cached_ids, cached_s = decode_with_cache(
        policy.model, past_inputs, step_inputs, config.action_dim, position,
        config.decode_repeats)
    recomputed_ids, recomputed_s = decode_recomputed(
        policy.model, window_inputs, config.action_dim, position, config.decode_repeats)
    cached, recomputed = float(np.median(cached_s)), float(np.median(recomputed_s))
    return {'decode_window_tokens': len(past) + len(current), 'cached_action_s': cached,
            'recomputed_action_s': recomputed, 'kv_cache_speedup': recomputed / cached,
            'actions_match': cached_ids == recomputed_ids}


def _full_window(policy: GatoPolicy, episode: Episode):
    """Return the most recent whole timesteps of the episode that fit the context."""
    sequence = tokenize_episode(episode, policy.checkpoint.normalizer, policy.tokenizer_config,
                                text_tokenizer=policy.checkpoint.text_tokenizer)
    return window_sequence(sequence, policy.model.config.context_length)


def measure_prefill(policy: GatoPolicy, episode: Episode, repeats: int) -> dict:
    """Time the prefill of a full context window and measure the KV cache it fills.

    Args:
        policy: the policy whose model is used.
        episode: an episode with more tokens than the context.
        repeats: timed repeats.

    Returns:
        ``prefill_tokens``, ``prefill_s`` (median) and ``kv_cache_bytes``.

    """
    window = _full_window(policy, episode)
    inputs, _ = collate_sequences([window], policy.tokenizer_config.pad_id, policy.config.device)
    device = inputs['tokens'].device
    seconds = []
    with torch.inference_mode():
        for _ in range(repeats):
            _synchronize(device)
            start = time.perf_counter()
            cache = policy.model(**inputs, use_cache=True, logits_to_keep=1).cache
            _synchronize(device)
            seconds.append(time.perf_counter() - start)
    return {'prefill_tokens': len(window), 'prefill_s': float(np.median(seconds)),
            'kv_cache_bytes': cache_bytes(cache)}


def cache_bytes(cache) -> int:
    """Return the bytes held by the keys and values of a KV cache.

    Args:
        cache: a ``transformers.DynamicCache``.

    Returns:
        The bytes of every layer's keys and values.

    """
    return sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers)


def measure_training(policy: GatoPolicy, episode: Episode, config: BenchConfig) -> dict:
    """Time forward and backward passes on a batch of full context windows.

    The model is in training mode (dropout on) during the passes and back in eval mode after.
    No optimizer step is taken, so the weights do not change.

    Args:
        policy: the policy whose model is used.
        episode: an episode with more tokens than the context.
        config: the benchmark settings (batch size, steps).

    Returns:
        ``batch_size``, ``batch_tokens``, ``step_s`` (median), ``tokens_per_s`` and
        ``peak_rss_bytes``, ``peak_rss_growth_bytes`` and ``peak_device_bytes`` of the
        passes.

    """
    model = policy.model
    window = _full_window(policy, episode)
    inputs, targets = collate_sequences([window] * config.train_batch_size,
                                        policy.tokenizer_config.pad_id, policy.config.device)
    device = inputs['tokens'].device
    seconds = []
    model.train()
    try:
        with PeakMemory(policy.config.device) as memory:
            for index in range(config.train_steps + 1):
                _synchronize(device)
                start = time.perf_counter()
                logits = model(**inputs).logits  # (B, L, V)
                next_token_loss(logits, inputs['tokens'], targets['loss_mask']).backward()
                model.zero_grad(set_to_none=True)
                _synchronize(device)
                # The first pass allocates gradients and warms kernels: not timed.
                if index > 0:
                    seconds.append(time.perf_counter() - start)
    finally:
        model.eval()
    step_s = float(np.median(seconds))
    tokens = int(inputs['tokens'].numel())
    return {'batch_size': config.train_batch_size, 'batch_tokens': tokens, 'step_s': step_s,
            'tokens_per_s': tokens / step_s, 'peak_rss_bytes': memory.peak_bytes,
            'peak_rss_growth_bytes': memory.growth_bytes,
            'peak_device_bytes': memory.device_bytes}


def _fits(latency: LatencyStats, rate_hz: float) -> str:
    period_s = 1.0 / rate_hz
    if latency.p99_s <= period_s:
        return 'yes'
    return 'median only' if latency.median_s <= period_s else 'no'


def _task_episode(preset: str, config: BenchConfig) -> tuple:
    """Return ``(episode, context_length, step_tokens)`` of a preset: the same in every process."""
    model_config = GatoConfig.from_preset(preset)
    context = config.context_length or model_config.context_length
    step_tokens = timestep_token_count(arm_spec(config), model_config.tokenizer_config)
    # Enough timesteps to fill the context with whole timesteps plus the current one.
    episode = make_arm_episode(config, context // step_tokens + 2,
                               np.random.default_rng(config.seed))
    return episode, context, step_tokens


def measure_checkpoint(preset: str, config: BenchConfig, directory) -> PresetResult:
    """Measure a checkpoint written by :func:`save_random_checkpoint`, in this process.

    Args:
        preset: the preset name of the checkpoint.
        config: the benchmark settings.
        directory: the checkpoint directory.

    Returns:
        The measurements; memory is counted from the level before loading.

    """
    episode, context, step_tokens = _task_episode(preset, config)
    with PeakMemory(config.device) as memory:
        start = time.perf_counter()
        policy = GatoPolicy.from_pretrained(directory, PolicyConfig(device=config.device))
        load_s = time.perf_counter() - start
        records = time_control_steps(policy, episode, config)
        window = int(np.median([before for _, before, _ in records]))
        decoding = compare_decoding(policy, episode, window, config)
        prefill = measure_prefill(policy, episode, config.decode_repeats)
    train = measure_training(policy, episode, config) if config.train else None
    latency = LatencyStats.of(seconds for seconds, _, _ in records)
    parameters = list(policy.model.parameters())
    return PresetResult(
        preset=preset, num_parameters=sum(item.numel() for item in parameters),
        parameter_bytes=sum(item.numel() * item.element_size() for item in parameters),
        context_length=context, step_tokens=step_tokens, checkpoint_load_s=load_s,
        latency=latency,
        steady=LatencyStats.of(seconds for seconds, _, rebuilt in records if not rebuilt),
        rebuild=LatencyStats.of(seconds for seconds, _, rebuilt in records if rebuilt),
        control_rate_hz=1.0 / latency.median_s,
        fits={f'{rate:g}': _fits(latency, rate) for rate in config.control_rates_hz},
        **decoding, **prefill, peak_rss_bytes=memory.peak_bytes,
        peak_rss_growth_bytes=memory.growth_bytes, peak_device_bytes=memory.device_bytes,
        train=train)


def _measure_in_child(preset: str, config: BenchConfig, directory: str) -> dict:
    """Entry point of the measuring process: apply the thread count, then measure."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    return asdict(measure_checkpoint(preset, config, directory))


def benchmark_preset(preset: str, config: BenchConfig) -> dict:
    """Write a random checkpoint of a preset and measure it in a fresh process.

    A fresh (spawned) process per preset makes its memory figures its own: in a shared
    process the allocator keeps memory freed by earlier presets and reuses it.

    Args:
        preset: the preset name.
        config: the benchmark settings.

    Returns:
        The :class:`PresetResult` as a dict.

    """
    episode, _, _ = _task_episode(preset, config)
    with tempfile.TemporaryDirectory(prefix='gato_bench_') as directory:
        save_random_checkpoint(preset, config, episode, directory)
        context = multiprocessing.get_context('spawn')
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return pool.submit(_measure_in_child, preset, config, directory).result()


def machine_description(device: str, threads: int) -> dict:
    """Describe where the benchmark runs.

    Args:
        device: the torch device measured.
        threads: torch CPU threads of the measuring processes.

    Returns:
        Platform, CPU count, torch version and threads, and the CUDA device name if used.

    """
    return {
        'platform': platform.platform(),
        'processor': platform.processor() or platform.machine(),
        'cpu_count': os.cpu_count(), 'torch': torch.__version__,
        'torch_threads': threads, 'device': device,
        'device_name': (torch.cuda.get_device_name(torch.device(device))
                        if torch.device(device).type == 'cuda' else None)}


def run_benchmark(config: BenchConfig, progress=None) -> dict:
    """Measure every preset of the config.

    Args:
        config: the benchmark settings.
        progress: optional callable receiving one line of text before each preset.

    Returns:
        The report: ``format_version``, ``machine``, ``config`` and ``results`` (one
        :class:`PresetResult` as a dict per preset).

    """
    # Each preset runs in its own process, which applies config.threads.
    threads = config.threads or torch.get_num_threads()
    results = []
    for preset in config.presets:
        if progress is not None:
            progress(f'measuring {preset} on {config.device} ({threads} threads)...')
        results.append(benchmark_preset(preset, config))
    machine = machine_description(config.device, threads)
    return {'format_version': REPORT_FORMAT_VERSION, 'machine': machine,
            'config': asdict(config), 'results': results}


def write_report(report: dict, path) -> Path:
    """Write a report as JSON.

    Args:
        report: the output of :func:`run_benchmark`.
        path: the JSON file; its directory is created if needed.

    Returns:
        The path.

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    return path


def _ms(seconds) -> str:
    return '-' if seconds is None else f'{1e3 * seconds:.1f} ms'


def _stats_ms(stats: dict | None) -> str:
    if stats is None:
        return '-'
    return f'{1e3 * stats["median_s"]:.1f} / {1e3 * stats["p90_s"]:.1f} / ' \
           f'{1e3 * stats["p99_s"]:.1f} (n={stats["count"]})'


def _mib(count) -> str:
    return '-' if count is None else f'{count / _MIB:.1f} MiB'


def _report_rows(result: dict) -> list:
    """Return (label, value) rows of one preset's result."""
    train = result['train'] or {}
    rows = [
        ('parameters', f'{result["num_parameters"] / 1e6:.1f}M'),
        ('parameter memory (float32)', _mib(result['parameter_bytes'])),
        ('context / step tokens', f'{result["context_length"]} / {result["step_tokens"]}'),
        ('checkpoint load', _ms(result['checkpoint_load_s'])),
        ('select_action med/p90/p99', _stats_ms(result['latency'])),
        ('  steady steps', _stats_ms(result['steady'])),
        ('  window rebuild steps', _stats_ms(result['rebuild'])),
        ('control rate (1/median)', f'{result["control_rate_hz"]:.1f} Hz'),
    ]
    rows += [(f'  fits {rate} Hz (p99)', verdict) for rate, verdict in result['fits'].items()]
    rows += [
        (f'action, KV cache ({result["decode_window_tokens"]} tok)',
         _ms(result['cached_action_s'])),
        ('action, recomputed window', _ms(result['recomputed_action_s'])),
        ('KV cache speedup', f'{result["kv_cache_speedup"]:.1f}x'
         + ('' if result['actions_match'] else ' (actions differ!)')),
        (f'prefill ({result["prefill_tokens"]} tokens)', _ms(result['prefill_s'])),
        ('KV cache at full context', _mib(result['kv_cache_bytes'])),
        ('peak RSS (growth)', f"{_mib(result['peak_rss_bytes'])} "
                              f"({_mib(result['peak_rss_growth_bytes'])})"),
        ('peak device memory', _mib(result['peak_device_bytes'])),
    ]
    if train:
        rows += [('train fwd+bwd (batch tokens)',
                  f'{_ms(train["step_s"])} ({train["batch_tokens"]})'),
                 ('train throughput', f'{train["tokens_per_s"]:.0f} tokens/s'),
                 ('train peak RSS (growth)', f"{_mib(train['peak_rss_bytes'])} "
                                             f"({_mib(train['peak_rss_growth_bytes'])})")]
    return rows


def format_report(report: dict) -> str:
    """Format a report as a text table, one column per preset.

    Args:
        report: the output of :func:`run_benchmark`.

    Returns:
        The table, preceded by a line describing the machine.

    """
    machine = report['machine']
    columns = [_report_rows(result) for result in report['results']]
    labels = [label for label, _ in columns[0]]
    names = [result['preset'] for result in report['results']]
    label_width = max(len(label) for label in labels)
    widths = [max(len(name), *(len(value) for _, value in column))
              for name, column in zip(names, columns)]
    header = ' | '.join([' ' * label_width] + [
        name.rjust(width) for name, width in zip(names, widths)])
    lines = [f'device {machine["device"]} ({machine["device_name"] or machine["processor"]}), '
             f'{machine["torch_threads"]} torch threads, {machine["cpu_count"]} CPUs, '
             f'torch {machine["torch"]}; latencies med / p90 / p99',
             header, '-' * len(header)]
    for row, label in enumerate(labels):
        lines.append(' | '.join([label.ljust(label_width)] + [
            column[row][1].rjust(width) for column, width in zip(columns, widths)]))
    return '\n'.join(lines)
