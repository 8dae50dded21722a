"""Run a trained Gato checkpoint as a policy: observation in, action out.

This module is part of the ROS-free core: it imports neither rclpy nor message packages.

A checkpoint is a directory of safetensors and JSON (nothing is unpickled):

* ``config.json``: the :class:`gato_ros.configuration_gato.GatoConfig`;
* ``model.safetensors``: the weights;
* ``gato_spec.json``: the observation/action spec of every task, the normalizer statistics
  and the tokenizer settings;
* ``instructions.model``: the SentencePiece model of the instructions.

Deployment loop (Gato): the window starts with the prompt (a demonstration of the task, if
given), then the episode's timesteps; the instruction goes into the first timestep of the
episode part. Each :meth:`GatoPolicy.select_action` appends the observation and the separator
and samples the action one token per forward pass, reusing the KV cache.

Window: before a timestep would overflow ``context_length`` (observation, separator and all its
action tokens), the window is rebuilt from the prompt, the instruction and the most recent
whole timesteps that fit in ``refill_tokens`` (half the context by default) and the cache is
prefilled again. Keeping only half makes this expensive prefill happen once every half context
instead of at every step. The prompt is cut at :meth:`GatoPolicy.reset` to its last whole
timesteps that fit ``prompt_max_tokens`` and the first timestep, so it always stays in the
window.
"""

from dataclasses import dataclass, replace
import json
from pathlib import Path

from gato_ros.configuration_gato import GatoConfig
from gato_ros.data import Episode, EpisodeSpec, Normalizer
from gato_ros.modeling_gato import collate_sequences, GatoModel
from gato_ros.text_tokenizer import TextTokenizer
from gato_ros.tokenizer import (action_token_range, concatenate_sequences, decode_action,
                                decode_continuous, encode_continuous, timestep_token_count,
                                tokenize_episode, tokenize_timestep, TokenizedSequence,
                                TokenizerConfig, window_sequence)
import numpy as np
from safetensors.torch import load_file, save
import torch

CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
SPEC_FILE = 'gato_spec.json'
TEXT_MODEL_FILE = 'instructions.model'
CHECKPOINT_FILES = (CONFIG_FILE, WEIGHTS_FILE, SPEC_FILE, TEXT_MODEL_FILE)
SPEC_FORMAT_VERSION = 1
# Share of the context a prompt may take, in training and at deployment alike.
PROMPT_CONTEXT_FRACTION = 0.25
ACTION_DECODINGS = ('mode', 'mean')


def default_prompt_tokens(config: GatoConfig) -> int:
    """Return the default token budget of a prompt demonstration.

    Args:
        config: the model config.

    Returns:
        ``PROMPT_CONTEXT_FRACTION`` of the context length.

    """
    return int(config.context_length * PROMPT_CONTEXT_FRACTION)


def write_safetensors(tensors: dict, path) -> None:
    """Write tensors as a safetensors file with the mode any new file gets (umask).

    ``safetensors.torch.save_file`` creates its files readable by the owner alone; written
    through Python, weights and optimizer state are as readable as the JSON beside them, so
    others on a shared disk can load a checkpoint too.

    Args:
        tensors: name -> contiguous CPU tensor.
        path: the destination file, replaced if present.
    """
    Path(path).write_bytes(save(tensors, metadata={'format': 'pt'}))


@dataclass
class Checkpoint:
    """Everything a policy needs, as stored in a checkpoint directory.

    Attributes:
        model: the model.
        specs: task name -> :class:`gato_ros.data.EpisodeSpec`.
        normalizer: standardization statistics of continuous observations and actions.
        text_tokenizer: the instruction tokenizer.

    """

    model: GatoModel
    specs: dict
    normalizer: Normalizer
    text_tokenizer: TextTokenizer

    def save(self, directory) -> Path:
        """Write the checkpoint files (safetensors and JSON only).

        Args:
            directory: the directory, created if needed.

        Returns:
            The directory path.

        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.config.to_json_file(directory / CONFIG_FILE)
        state = {name: value.detach().cpu().contiguous()
                 for name, value in self.model.state_dict().items()}
        write_safetensors(state, directory / WEIGHTS_FILE)
        spec = {
            'format_version': SPEC_FORMAT_VERSION,
            'tasks': {name: item.to_dict() for name, item in sorted(self.specs.items())},
            'normalizer': self.normalizer.to_dict(),
            'tokenizer': self.model.config.tokenizer_config.to_dict(),
        }
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2))
        self.text_tokenizer.save(directory / TEXT_MODEL_FILE)
        return directory

    @classmethod
    def load(cls, directory) -> 'Checkpoint':
        """Read a checkpoint written by :meth:`save`.

        Args:
            directory: the checkpoint directory.

        Returns:
            The checkpoint, model in eval mode.

        Raises:
            FileNotFoundError: if the directory or one of its files is missing.
            ValueError: if the files disagree (config vs spec vs weights) or are malformed.

        """
        directory = Path(directory)
        missing = [name for name in CHECKPOINT_FILES if not (directory / name).is_file()]
        if missing:
            raise FileNotFoundError(f'{directory} is not a complete gato_ros checkpoint: '
                                    f'missing {missing}, expected {list(CHECKPOINT_FILES)}')
        config_dict = json.loads((directory / CONFIG_FILE).read_text())
        if config_dict.get('model_type') != GatoConfig.model_type:
            raise ValueError(f"{directory / CONFIG_FILE}: expected model_type 'gato', got "
                             f"{config_dict.get('model_type')!r}")
        config = GatoConfig.from_dict(config_dict)
        spec = json.loads((directory / SPEC_FILE).read_text())
        if spec.get('format_version') != SPEC_FORMAT_VERSION:
            raise ValueError(f'{directory / SPEC_FILE}: expected format_version '
                             f"{SPEC_FORMAT_VERSION}, got {spec.get('format_version')!r}")
        if TokenizerConfig.from_dict(spec['tokenizer']) != config.tokenizer_config:
            raise ValueError(f'tokenizer settings differ: {CONFIG_FILE} has {config.tokenizer}, '
                             f"{SPEC_FILE} has {spec['tokenizer']}")
        model = GatoModel(config)
        _load_weights(model, directory / WEIGHTS_FILE)
        text_tokenizer = TextTokenizer(directory / TEXT_MODEL_FILE)
        if text_tokenizer.vocab_size > config.tokenizer_config.text_vocab_size:
            raise ValueError(f'the text tokenizer has {text_tokenizer.vocab_size} pieces, more '
                             f'than text_vocab_size {config.tokenizer_config.text_vocab_size}')
        return cls(model.eval(), {name: EpisodeSpec.from_dict(item)
                                  for name, item in spec['tasks'].items()},
                   Normalizer.from_dict(spec['normalizer']), text_tokenizer)


def _load_weights(model: GatoModel, path: Path) -> None:
    """Load safetensors weights strictly: every tensor present, none extra, same shapes."""
    state = load_file(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f'{name}: file {tuple(state[name].shape)} vs config {tuple(value.shape)}'
             for name, value in expected.items()
             if name in state and state[name].shape != value.shape]
    if missing or unexpected or wrong:
        raise ValueError(f'{path} does not match {CONFIG_FILE}: missing {missing[:5]}, '
                         f'unexpected {unexpected[:5]}, shape mismatches {wrong[:5]}')
    model.load_state_dict(state)


@dataclass
class PolicyConfig:
    """Deployment settings of :class:`GatoPolicy`.

    Attributes:
        temperature: 0 decodes deterministically (see ``action_decoding``); > 0 samples
            from the softmax of logits / temperature.
        action_decoding: deterministic choice of a continuous action token: ``'mode'`` the
            most likely bin; ``'mean'`` the bin of the expected (standardized) value under
            the predicted distribution. The mode of a spread-out distribution falls on the
            frequent near-zero bins, so greedy steps come out too short; the mean keeps
            their size. Discrete actions always take the mode.
        seed: seed of the sampling generator (used when temperature > 0).
        prompt_max_tokens: most tokens of the prompt demonstration kept (its last whole
            timesteps); None: ``PROMPT_CONTEXT_FRACTION`` of the context, as in training.
        refill_tokens: window size after an overflow; None: half the context length.
        device: torch device of the model.

    """

    temperature: float = 0.0
    action_decoding: str = 'mode'
    seed: int = 0
    prompt_max_tokens: int | None = None
    refill_tokens: int | None = None
    device: str = 'cpu'

    def __post_init__(self):
        if not (self.temperature >= 0.0 and np.isfinite(self.temperature)):
            raise ValueError(f'temperature must be finite and >= 0, got {self.temperature}')
        if self.action_decoding not in ACTION_DECODINGS:
            raise ValueError(f'action_decoding must be one of {ACTION_DECODINGS}, '
                             f'got {self.action_decoding!r}')
        if self.action_decoding == 'mean' and self.temperature > 0.0:
            raise ValueError("action_decoding 'mean' is deterministic: set temperature to 0")
        for name in ('prompt_max_tokens', 'refill_tokens'):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f'{name} must be positive or None, got {value}')


class GatoPolicy:
    """A Gato checkpoint acting in one task at a time.

    Args:
        checkpoint: model, specs, normalizer and text tokenizer.
        config: deployment settings (default :class:`PolicyConfig`).

    """

    def __init__(self, checkpoint: Checkpoint, config: PolicyConfig | None = None):
        self.config = config or PolicyConfig()
        self.checkpoint = checkpoint
        self.model = checkpoint.model.to(self.config.device).eval()
        self.tokenizer_config = self.model.config.tokenizer_config
        self._generator = torch.Generator(device=self.config.device)
        self._generator.manual_seed(self.config.seed)
        # Standardized value of every continuous bin, for 'mean' decoding.
        self._bin_values = torch.from_numpy(decode_continuous(
            np.arange(*action_token_range('continuous', self.tokenizer_config)),
            self.tokenizer_config)).double()
        self._task, self._task_spec = None, None
        self._history = []
        self._cache = None
        self._window_steps = 0
        if len(self.tasks) == 1:
            self.reset()

    @classmethod
    def from_pretrained(cls, path, config: PolicyConfig | None = None) -> 'GatoPolicy':
        """Load a policy from a checkpoint directory.

        Args:
            path: the checkpoint directory (see the module docstring).
            config: deployment settings.

        Returns:
            The policy; reset to the task if the checkpoint has only one.

        Raises:
            FileNotFoundError: if a checkpoint file is missing.
            ValueError: if the checkpoint files disagree.

        """
        return cls(Checkpoint.load(path), config)

    def save_pretrained(self, path) -> Path:
        """Write the policy's checkpoint directory.

        Args:
            path: the directory, created if needed.

        Returns:
            The directory path.

        """
        return self.checkpoint.save(path)

    @property
    def tasks(self) -> list:
        """Sorted names of the tasks the checkpoint was trained on."""
        return sorted(self.checkpoint.specs)

    @property
    def task(self) -> str | None:
        """The current task, or None before :meth:`reset`."""
        return self._task

    @property
    def observation_spec(self) -> dict:
        """Observation key -> :class:`gato_ros.data.TensorSpec` of the current task."""
        return dict(self._spec().observations)

    @property
    def action_dim(self) -> int:
        """Action dimension of the current task."""
        return self._spec().action_dim

    @property
    def window_tokens(self) -> int:
        """Tokens in the model's KV cache (the current window), at most the context length."""
        return self._cache.get_seq_length() if self._cache is not None else 0

    def _spec(self) -> EpisodeSpec:
        if self._task is None:
            raise RuntimeError(f'call reset(task=...) first; tasks: {self.tasks}')
        return self._task_spec

    def task_spec(self, task: str) -> EpisodeSpec:
        """Return the spec the policy uses for a task, trained on or new.

        A task the checkpoint was not trained on is accepted when its statistics group is
        covered (a checkpoint normalized per embodiment: any ``'<arm>/<task>'`` of a trained
        arm) and all trained tasks of that group share one spec; the model then learns which
        task it is from the instruction and the prompt, as Gato does for new tasks.

        Args:
            task: the task name.

        Returns:
            The task's spec.

        Raises:
            ValueError: for a task the checkpoint cannot serve.

        """
        if task in self.checkpoint.specs:
            return self.checkpoint.specs[task]
        normalizer = self.checkpoint.normalizer
        group = normalizer.group_of(task)
        # Specs of the group's trained tasks, renamed to the new task, deduplicated.
        specs = {json.dumps(renamed.to_dict(), sort_keys=True): renamed
                 for name, spec in self.checkpoint.specs.items()
                 if normalizer.group_of(name) == group
                 for renamed in [replace(spec, task=task)]}
        if not normalizer.covers(task) or len(specs) != 1:
            raise ValueError(
                f'unknown task {task!r}, expected one of {self.tasks}'
                + (' or a new task of one of the embodiments '
                   f'{normalizer.groups}' if normalizer.group_by == 'embodiment' else ''))
        return next(iter(specs.values()))

    def reset(self, task: str | None = None, instruction: str | None = None,
              prompt: Episode | None = None, seed: int | None = None) -> None:
        """Start a new episode.

        Args:
            task: the task; may be None when the checkpoint has one task.
            instruction: natural-language instruction, put into the first timestep.
            prompt: a successful demonstration of the task, prepended to the window.
            seed: re-seed the sampling generator; None continues its stream.

        Raises:
            ValueError: for a task the checkpoint cannot serve (see :meth:`task_spec`), a
                prompt of another task or spec, or a context too short for one timestep.

        """
        if task is None:
            if len(self.tasks) != 1:
                raise ValueError(f'the checkpoint has several tasks, pass one of {self.tasks}')
            task = self.tasks[0]
        self._task_spec = self.task_spec(task)
        self._task = task
        self._instruction_ids = (
            [] if instruction is None else self.checkpoint.text_tokenizer.encode(instruction))
        self._step_tokens = timestep_token_count(self._spec(), self.tokenizer_config)
        # The first timestep (with instruction) and all its action tokens but the last one,
        # which is only fed at the next step, must fit.
        first_step = len(self._instruction_ids) + self._step_tokens - 1
        if first_step > self.model.config.context_length:
            raise ValueError(f'one timestep needs {first_step} tokens, more than '
                             f'context_length {self.model.config.context_length}')
        self._prompt = None if prompt is None else self._tokenize_prompt(prompt, first_step)
        if seed is not None:
            self._generator.manual_seed(seed)
        self._history = []
        self._cache = None

    def _tokenize_prompt(self, prompt: Episode, first_step: int) -> TokenizedSequence:
        if prompt.task != self._task or prompt.spec().to_dict() != self._spec().to_dict():
            raise ValueError(f'the prompt must be an episode of task {self._task!r} with spec '
                             f'{self._spec().to_dict()}, got task {prompt.task!r} with spec '
                             f'{prompt.spec().to_dict()}')
        budget = min(self.config.prompt_max_tokens or default_prompt_tokens(self.model.config),
                     self.model.config.context_length - first_step)
        if budget < self._step_tokens:
            raise ValueError(f'the prompt may take {budget} tokens, less than one timestep '
                             f'({self._step_tokens} tokens); raise prompt_max_tokens or the '
                             'context length')
        sequence = tokenize_episode(prompt, self.checkpoint.normalizer, self.tokenizer_config,
                                    use_instruction=False)
        # The end of a demonstration shows the goal, so its last timesteps are kept.
        return window_sequence(sequence, budget)

    def _tokenize_step(self, observation: dict, action_ids, with_instruction: bool):
        """Tokenize one timestep; with ``action_ids`` its action tokens are those ids."""
        spec = self._spec()
        placeholder = None
        if action_ids is not None:
            # The tokenizer lays out the action tokens (positions, masks) from a placeholder
            # action whose ids are then replaced by the sampled ones, so the exact ids survive
            # instead of a decode/encode round trip.
            dtype = np.float32 if spec.action.kind == 'continuous' else np.int64
            placeholder = np.zeros(spec.action_dim, dtype)
        instruction_ids = self._instruction_ids if with_instruction else None
        step = tokenize_timestep(
            observation, placeholder, instruction_ids or None, config=self.tokenizer_config,
            normalizer=self.checkpoint.normalizer, task=self._task)
        if action_ids is not None:
            step.tokens[step.is_action] = action_ids
        return step

    def select_action(self, observation: dict) -> np.ndarray:
        """Return the action for an observation, continuing the current episode.

        Args:
            observation: key -> array of the current task's spec (see ``observation_spec``).

        Returns:
            float32 (A,) de-standardized continuous action or int64 (A,) discrete action.

        Raises:
            ValueError: if the observation does not match the spec (keys, shapes, dtypes,
                finite values).
            RuntimeError: if no task is set (see :meth:`reset`).

        """
        spec = self._spec()
        if not isinstance(observation, dict):
            raise ValueError(f'observation must be a dict of arrays, got {type(observation)}')
        observation = {key: np.array(value) for key, value in observation.items()}
        spec.validate_observation(observation)
        with torch.inference_mode():
            logits = self._feed_observation(observation)
            low, high = action_token_range(spec.action.kind, self.tokenizer_config)
            action_ids = []
            for index in range(spec.action_dim):
                if index > 0:
                    logits = self._forward(self._action_token(action_ids[-1]))
                action_ids.append(low + self._sample(logits[low:high], spec.action.kind))
        self._history.append((observation, np.asarray(action_ids, np.int64)))
        # A rebuilt window never holds more timesteps than this, so older ones are dropped.
        del self._history[:-(self.model.config.context_length // self._step_tokens + 1)]
        return decode_action(np.asarray(action_ids), spec.action.kind, self.tokenizer_config,
                             self.checkpoint.normalizer, self._task)

    def _feed_observation(self, observation: dict) -> torch.Tensor:
        """Feed the previous step's last action token, the observation and the separator."""
        # The pending action token, the observation with its separator and all action tokens
        # but the last one: exactly one timestep's worth of tokens.
        needed = self._step_tokens
        limit = self.model.config.max_window_timesteps
        if (self._cache is None
                or self._cache.get_seq_length() + needed > self.model.config.context_length
                or (limit and self._window_steps >= limit)):
            self._cache = None
            sequence = self._rebuild_window(observation)
        else:
            # The previous step's last action token was sampled but not fed yet.
            sequence = concatenate_sequences([
                self._action_token(int(self._history[-1][1][-1])),
                self._tokenize_step(observation, None, False)])
            self._window_steps += 1
        return self._forward(sequence)

    def _rebuild_window(self, observation: dict) -> TokenizedSequence:
        """Return prompt + instruction + recent whole timesteps + the new observation."""
        prompt_tokens = len(self._prompt) if self._prompt is not None else 0
        fixed = prompt_tokens + len(self._instruction_ids) + self._step_tokens - 1
        budget = min(self.model.config.context_length,
                     max(self.config.refill_tokens or self.model.config.context_length // 2,
                         fixed))
        kept = min(len(self._history), (budget - fixed) // self._step_tokens)
        if self.model.config.max_window_timesteps:
            kept = min(kept, self.model.config.max_window_timesteps - 1)
        recent = self._history[len(self._history) - kept:]
        steps = [self._tokenize_step(obs, ids, index == 0)
                 for index, (obs, ids) in enumerate(recent)]
        steps.append(self._tokenize_step(observation, None, not recent))
        self._window_steps = kept + 1
        return concatenate_sequences(([self._prompt] if self._prompt is not None else [])
                                     + steps)

    def _forward(self, sequence: TokenizedSequence) -> torch.Tensor:
        inputs, _ = collate_sequences([sequence], self.tokenizer_config.pad_id,
                                      self.config.device)
        output = self.model(**inputs, cache=self._cache, use_cache=True, logits_to_keep=1)
        self._cache = output.cache
        return output.logits[0, -1]  # (vocab_size,)

    def _action_token(self, token: int) -> TokenizedSequence:
        """Return a one-token sequence of a sampled action token."""
        size = self.tokenizer_config.patch_size
        return TokenizedSequence(
            tokens=np.array([token], np.int64), patch_index=np.array([-1], np.int64),
            patches=np.zeros((0, 3, size, size), np.float32),
            patch_rows=np.zeros((0, 2), np.int64), patch_cols=np.zeros((0, 2), np.int64),
            local_positions=np.array([self.tokenizer_config.action_local_position], np.int64),
            loss_mask=np.ones(1, np.float32), timesteps=np.zeros(1, np.int64),
            is_action=np.ones(1, bool))

    def _sample(self, logits: torch.Tensor, kind: str) -> int:
        """Return the chosen index within an action kind's logits."""
        if self.config.temperature > 0.0:
            probabilities = torch.softmax(logits.float() / self.config.temperature, dim=-1)
            return int(torch.multinomial(probabilities, 1, generator=self._generator))
        if self.config.action_decoding == 'mean' and kind == 'continuous':
            expected = torch.softmax(logits.double().cpu(), dim=-1) @ self._bin_values
            return int(encode_continuous(float(expected), self.tokenizer_config)
                       - self.tokenizer_config.continuous_offset)
        return int(torch.argmax(logits))
