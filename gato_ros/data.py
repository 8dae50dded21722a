"""Episodes, their specs and the per-task standardization statistics.

This module is part of the ROS-free core: it imports neither rclpy nor message packages.

Conventions (shared with the tokenizer and the policy):

* An observation is a ``dict[str, np.ndarray]`` for one timestep. The kind of each entry follows
  from its dtype and shape: ``uint8`` (H, W, 3) is an RGB image, a floating 1-D vector is
  continuous (radians, metres, ...), an integer 1-D vector is discrete (values in [0, 1024)).
* An action is a 1-D vector, floating (continuous) or integer (discrete).
* An :class:`Episode` stacks T timesteps: every observation array and the action array have T as
  their first dimension.

Scaling: continuous observations and actions are standardized per task (or per embodiment, all
tasks of one arm together), per key and per dimension by a :class:`Normalizer` fitted on the
training episodes, ``(x - mean) / std`` with
``std`` floored at ``min_std``. The tokenizer then mu-law compands the standardized value, clips
it to [-1, 1] and bins it; decoded actions are de-standardized with the same statistics.
"""

from dataclasses import dataclass, field
import math
from pathlib import Path
from typing import Iterable

import numpy as np

KINDS = ('continuous', 'discrete', 'image')
TWIST_KIND = 'twist'
# Values of a Cartesian twist (geometry_msgs/Twist): linear x, y, z then angular x, y, z.
TWIST_SIZE = 6
# Key under which a task's action statistics live in a Normalizer; observation keys may not use
# it so the two can never be confused.
ACTION_KEY = 'action'
# What shares one set of Normalizer statistics: each task, or all tasks of one embodiment.
NORMALIZER_GROUPS = ('task', 'embodiment')
NPZ_FORMAT_VERSION = 1
_OBS_PREFIX = 'obs/'


def infer_kind(value: np.ndarray, name: str = 'value') -> str:
    """Return the kind of one timestep's observation entry or action.

    Args:
        value: the array of one timestep (no time dimension).
        name: what the array is, used in error messages.

    Returns:
        One of ``'continuous'``, ``'discrete'`` or ``'image'``.

    Raises:
        ValueError: if the array is not a uint8 (H, W, 3) image or a non-empty 1-D vector of
            floats or integers.

    """
    value = np.asarray(value)
    if value.ndim == 3:
        if value.dtype != np.uint8:
            raise ValueError(
                f'{name}: an image must be uint8 (H, W, 3), got dtype {value.dtype}')
        if value.shape[2] != 3 or value.shape[0] == 0 or value.shape[1] == 0:
            raise ValueError(
                f'{name}: an image must have shape (H, W, 3) with H, W > 0, '
                f'got {value.shape}')
        return 'image'
    if value.ndim != 1 or value.shape[0] == 0:
        raise ValueError(
            f'{name}: expected a non-empty 1-D vector or a uint8 (H, W, 3) image, '
            f'got shape {value.shape}')
    if np.issubdtype(value.dtype, np.floating):
        return 'continuous'
    if np.issubdtype(value.dtype, np.integer):
        return 'discrete'
    raise ValueError(f'{name}: expected a float or integer vector, got dtype {value.dtype}')


def check_values(value: np.ndarray, kind: str, name: str) -> None:
    """Check that the values of an array are usable for its kind.

    Args:
        value: the array (any leading dimensions).
        kind: its kind, one of :data:`KINDS`.
        name: what the array is, used in error messages.

    Raises:
        ValueError: if a continuous array holds NaN or inf, or a discrete one negative values.

    """
    if kind == 'continuous' and not np.all(np.isfinite(value)):
        raise ValueError(f'{name}: expected finite values, got NaN or inf')
    if kind == 'discrete' and value.size and value.min() < 0:
        raise ValueError(f'{name}: discrete values must be >= 0, got {value.min()}')


@dataclass(frozen=True)
class TensorSpec:
    """Kind and per-timestep shape of one observation entry or of the action.

    Attributes:
        kind: one of ``'continuous'``, ``'discrete'``, ``'image'``.
        shape: shape of one timestep's value, e.g. ``(8,)`` or ``(64, 64, 3)``.

    """

    kind: str
    shape: tuple

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f'kind must be one of {KINDS}, got {self.kind!r}')
        object.__setattr__(self, 'shape', tuple(int(s) for s in self.shape))
        expected_ndim = 3 if self.kind == 'image' else 1
        if len(self.shape) != expected_ndim or min(self.shape) <= 0:
            raise ValueError(
                f'a {self.kind} spec needs {expected_ndim} positive dimensions, '
                f'got shape {self.shape}')

    def validate(self, value: np.ndarray, name: str) -> None:
        """Check one timestep's value against this spec.

        Args:
            value: the array of one timestep.
            name: what the array is, used in error messages.

        Raises:
            ValueError: if kind, shape or values do not match.

        """
        kind = infer_kind(value, name)
        if kind != self.kind:
            raise ValueError(f'{name}: expected a {self.kind} value, got a {kind} one')
        if tuple(value.shape) != self.shape:
            raise ValueError(f'{name}: expected shape {self.shape}, got {tuple(value.shape)}')
        check_values(value, kind, name)


@dataclass
class EpisodeSpec:
    """What a task observes and commands: observation entries and the action.

    Attributes:
        task: the task name.
        observations: observation key -> :class:`TensorSpec`.
        action: the action's :class:`TensorSpec` (continuous or discrete, shape ``(A,)``).

    """

    task: str
    observations: dict
    action: TensorSpec

    def __post_init__(self):
        if not self.observations:
            raise ValueError(f'task {self.task!r}: a spec needs at least one observation key')
        if ACTION_KEY in self.observations:
            raise ValueError(f'observation key {ACTION_KEY!r} is reserved for the action')
        if self.action.kind == 'image':
            raise ValueError('an action must be continuous or discrete, got image')

    @property
    def action_dim(self) -> int:
        """Number of action dimensions A."""
        return self.action.shape[0]

    def validate_observation(self, observation: dict) -> None:
        """Check one timestep's observation against the spec.

        Args:
            observation: key -> array of one timestep.

        Raises:
            ValueError: if keys, kinds, shapes or values do not match.

        """
        if set(observation) != set(self.observations):
            raise ValueError(
                f'task {self.task!r}: expected observation keys {sorted(self.observations)}, '
                f'got {sorted(observation)}')
        for key, spec in self.observations.items():
            spec.validate(np.asarray(observation[key]), f'observation[{key!r}]')

    def validate_action(self, action: np.ndarray) -> None:
        """Check one timestep's action against the spec.

        Args:
            action: the action vector (A,).

        Raises:
            ValueError: if kind, dimension or values do not match.

        """
        self.action.validate(np.asarray(action), 'action')

    def to_dict(self) -> dict:
        """Return a JSON-serializable dict.

        Returns:
            ``{'task', 'observations': {key: {'kind', 'shape'}}, 'action': {'kind', 'shape'}}``.

        """
        return {
            'task': self.task,
            'observations': {
                key: {'kind': spec.kind, 'shape': list(spec.shape)}
                for key, spec in sorted(self.observations.items())},
            'action': {'kind': self.action.kind, 'shape': list(self.action.shape)},
        }

    @classmethod
    def from_dict(cls, data: dict) -> 'EpisodeSpec':
        """Build a spec from :meth:`to_dict` output.

        Args:
            data: the dict.

        Returns:
            The spec.

        Raises:
            ValueError: if a field is missing or invalid.

        """
        try:
            return cls(
                task=str(data['task']),
                observations={
                    key: TensorSpec(value['kind'], tuple(value['shape']))
                    for key, value in data['observations'].items()},
                action=TensorSpec(data['action']['kind'], tuple(data['action']['shape'])),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f'invalid episode spec dict, missing or bad field: {error}')


@dataclass
class Episode:
    """One recorded episode of T timesteps.

    Attributes:
        observations: key -> array (T, ...): uint8 images (T, H, W, 3), float vectors (T, D),
            integer discrete vectors (T, D).
        actions: (T, A) float (continuous) or integer (discrete) actions; ``actions[t]`` is the
            action taken after observing ``observations[...][t]``.
        task: the task name.
        instruction: optional natural-language instruction.
        success: whether the episode reached the task goal, if known.

    """

    observations: dict
    actions: np.ndarray
    task: str
    instruction: str | None = None
    success: bool | None = None

    def __post_init__(self):
        if not isinstance(self.observations, dict):
            raise ValueError(
                f'observations must be a dict of arrays, got {type(self.observations)}')
        self.actions = np.asarray(self.actions)
        self.observations = {key: np.asarray(v) for key, v in self.observations.items()}
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f'task must be a non-empty string, got {self.task!r}')
        if self.instruction is not None and not isinstance(self.instruction, str):
            raise ValueError(f'instruction must be a string or None, got {self.instruction!r}')
        if self.actions.ndim != 2:
            raise ValueError(f'actions must have shape (T, A), got {self.actions.shape}')
        if self.actions.shape[0] == 0:
            raise ValueError('an episode needs at least one timestep, got T = 0')
        if not self.observations:
            raise ValueError('an episode needs at least one observation key, got none')
        spec = self.spec()
        num_steps = len(self)
        for key, value in self.observations.items():
            if value.shape[0] != num_steps:
                raise ValueError(
                    f'observations[{key!r}] has {value.shape[0]} timesteps, '
                    f'expected {num_steps} like the actions')
            check_values(value, spec.observations[key].kind, f'observations[{key!r}]')
        check_values(self.actions, spec.action.kind, 'actions')

    def __len__(self) -> int:
        """Return the number of timesteps T."""
        return int(self.actions.shape[0])

    def spec(self) -> EpisodeSpec:
        """Return the episode's :class:`EpisodeSpec` (kinds and shapes per timestep).

        Returns:
            The spec.

        Raises:
            ValueError: if an entry has no valid kind.

        """
        observations = {}
        for key, value in sorted(self.observations.items()):
            if not isinstance(key, str) or not key:
                raise ValueError(f'observation keys must be non-empty strings, got {key!r}')
            if value.ndim == 0 or value.shape[0] == 0:
                raise ValueError(
                    f'observations[{key!r}] must have shape (T, ...) with T > 0, '
                    f'got {value.shape}')
            observations[key] = TensorSpec(
                infer_kind(value[0], f'observations[{key!r}]'), value.shape[1:])
        action = TensorSpec(infer_kind(self.actions[0], 'actions'), self.actions.shape[1:])
        return EpisodeSpec(self.task, observations, action)

    def observation(self, step: int) -> dict:
        """Return the observation of one timestep.

        Args:
            step: the timestep index in [0, T).

        Returns:
            key -> array of that timestep.

        """
        return {key: value[step] for key, value in self.observations.items()}

    def save(self, path) -> None:
        """Save the episode to one ``.npz`` file (no pickled objects).

        Args:
            path: the file path; the parent directory must exist.

        """
        arrays = {_OBS_PREFIX + key: value for key, value in self.observations.items()}
        arrays['actions'] = self.actions
        arrays['task'] = np.array(self.task)
        arrays['format_version'] = np.array(NPZ_FORMAT_VERSION)
        if self.instruction is not None:
            arrays['instruction'] = np.array(self.instruction)
        if self.success is not None:
            arrays['success'] = np.array(bool(self.success))
        with open(path, 'wb') as stream:
            np.savez_compressed(stream, **arrays)

    @classmethod
    def load(cls, path) -> 'Episode':
        """Load an episode saved by :meth:`save`.

        Args:
            path: the ``.npz`` file.

        Returns:
            The validated episode.

        Raises:
            FileNotFoundError: if the file does not exist.
            ValueError: if the file is not a gato_ros episode or its content is invalid.

        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f'episode file not found: {path}')
        with np.load(path, allow_pickle=False) as data:
            missing = {'actions', 'task', 'format_version'} - set(data.files)
            if missing:
                raise ValueError(f'{path}: not a gato_ros episode, missing {sorted(missing)}')
            version = int(data['format_version'])
            if version != NPZ_FORMAT_VERSION:
                raise ValueError(
                    f'{path}: expected episode format {NPZ_FORMAT_VERSION}, got {version}')
            return cls(
                observations={
                    name[len(_OBS_PREFIX):]: data[name] for name in data.files
                    if name.startswith(_OBS_PREFIX)},
                actions=data['actions'],
                task=str(data['task']),
                instruction=str(data['instruction']) if 'instruction' in data.files else None,
                success=bool(data['success']) if 'success' in data.files else None,
            )


def load_episodes(directory) -> list:
    """Load every ``*.npz`` episode of a directory, in file-name order.

    Args:
        directory: the directory.

    Returns:
        The list of episodes.

    Raises:
        FileNotFoundError: if the directory does not exist or holds no ``.npz`` file.

    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f'episode directory not found: {directory}')
    paths = sorted(directory.glob('*.npz'))
    if not paths:
        raise FileNotFoundError(f'no *.npz episode in {directory}')
    return [Episode.load(path) for path in paths]


@dataclass
class Normalizer:
    """Per-group, per-key, per-dimension mean and std of continuous values.

    A group is either each task (``group_by='task'``) or each embodiment
    (``group_by='embodiment'``: all tasks ``'<arm>/<task>'`` of one arm share statistics, so an
    action token means the same joint motion in every task of that arm, and a task the model
    never saw can be standardized from its arm's statistics: Gato's prompting of new tasks).
    Tasks whose outputs are not the arm's motions are named ``'<arm>/<kind>/<task>'`` and
    share the statistics of their arm and kind (see :func:`task_family`).

    Attributes:
        stats: group -> key -> ``{'mean': [...], 'std': [...]}``; the action uses the key
            :data:`ACTION_KEY`. Stored std values are already floored at ``min_std``.
        min_std: floor applied to std so that constant dimensions do not divide by zero.
        group_by: ``'task'`` or ``'embodiment'`` (see :func:`task_family`).

    """

    stats: dict = field(default_factory=dict)
    min_std: float = 1e-3
    group_by: str = 'task'

    def __post_init__(self):
        if not (self.min_std > 0 and math.isfinite(self.min_std)):
            raise ValueError(f'min_std must be a positive finite number, got {self.min_std}')
        if self.group_by not in NORMALIZER_GROUPS:
            raise ValueError(f'group_by must be one of {NORMALIZER_GROUPS}, got {self.group_by!r}')

    @classmethod
    def fit(cls, episodes: Iterable[Episode], min_std: float = 1e-3,
            group_by: str = 'task') -> 'Normalizer':
        """Compute the statistics of the continuous entries of training episodes.

        Args:
            episodes: the episodes (several tasks allowed).
            min_std: floor of the std.
            group_by: ``'task'`` or ``'embodiment'``: what shares one set of statistics.

        Returns:
            The fitted normalizer.

        Raises:
            ValueError: if no episode is given, group_by is unknown, or tasks sharing a
                group give a key different sizes.

        """
        normalizer = cls({}, min_std, group_by)
        values, first_task = {}, {}
        for episode in episodes:
            spec = episode.spec()
            entries = {
                key: episode.observations[key] for key, item in spec.observations.items()
                if item.kind == 'continuous'}
            if spec.action.kind == 'continuous':
                entries[ACTION_KEY] = episode.actions
            name = normalizer.group_of(episode.task)
            group = values.setdefault(name, {})
            for key, array in entries.items():
                arrays = group.setdefault(key, [])
                first_task.setdefault((name, key), episode.task)
                if arrays and arrays[0].shape[1:] != array.shape[1:]:
                    raise ValueError(
                        f'tasks {first_task[name, key]!r} and {episode.task!r} share the '
                        f'statistics of {name!r} but their {key!r} values have shapes '
                        f'{arrays[0].shape[1:]} and {array.shape[1:]}: normalize by task '
                        '(--normalize-by task) or train them in separate runs')
                arrays.append(np.asarray(array, np.float64))
        if not values:
            raise ValueError('Normalizer.fit needs at least one episode, got none')
        for name, per_key in values.items():
            normalizer.stats[name] = {}
            for key, arrays in per_key.items():
                stacked = np.concatenate(arrays, axis=0)  # (sum T, D)
                normalizer.stats[name][key] = {
                    'mean': stacked.mean(axis=0).tolist(),
                    'std': np.maximum(stacked.std(axis=0), min_std).tolist()}
        return normalizer

    @property
    def groups(self) -> list:
        """Sorted names of the statistics groups: tasks or embodiments."""
        return sorted(self.stats)

    def group_of(self, task: str) -> str:
        """Return the name of the statistics group a task uses.

        Args:
            task: the task name.

        Returns:
            The task itself, or its family (its arm) when ``group_by`` is ``'embodiment'``.

        """
        return task_family(task) if self.group_by == 'embodiment' else task

    def covers(self, task: str) -> bool:
        """Return whether the normalizer has statistics for a task (trained on or not).

        Args:
            task: the task name.

        Returns:
            True when the task's group has statistics.

        """
        return self.group_of(task) in self.stats

    def _mean_std(self, task: str, key: str, dim: int) -> tuple:
        group = self.group_of(task)
        if group not in self.stats:
            raise ValueError(f'no normalizer statistics for task {task!r} (group {group!r}), '
                             f'have {self.groups}')
        if key not in self.stats[group]:
            raise ValueError(
                f'no normalizer statistics for key {key!r} of task {task!r}, '
                f'have {sorted(self.stats[group])}')
        mean = np.asarray(self.stats[group][key]['mean'], np.float64)
        std = np.asarray(self.stats[group][key]['std'], np.float64)
        if dim != mean.shape[0]:
            raise ValueError(
                f'{task}/{key}: expected {mean.shape[0]} dimensions, got {dim}')
        return mean, std

    def normalize(self, task: str, key: str, values: np.ndarray) -> np.ndarray:
        """Standardize values: ``(x - mean) / std``.

        Args:
            task: the task name.
            key: observation key or :data:`ACTION_KEY`.
            values: array (..., D).

        Returns:
            float32 array of the same shape.

        Raises:
            ValueError: for an unknown task/key or a wrong last dimension.

        """
        values = np.asarray(values, np.float64)
        mean, std = self._mean_std(task, key, values.shape[-1])
        return ((values - mean) / std).astype(np.float32)

    def denormalize(self, task: str, key: str, values: np.ndarray) -> np.ndarray:
        """Invert :meth:`normalize`: ``x * std + mean``.

        Args:
            task: the task name.
            key: observation key or :data:`ACTION_KEY`.
            values: standardized array (..., D).

        Returns:
            float32 array of the same shape.

        Raises:
            ValueError: for an unknown task/key or a wrong last dimension.

        """
        values = np.asarray(values, np.float64)
        mean, std = self._mean_std(task, key, values.shape[-1])
        return (values * std + mean).astype(np.float32)

    def to_dict(self) -> dict:
        """Return a JSON-serializable dict.

        Returns:
            ``{'min_std': float, 'group_by': str,
            'stats': {group: {key: {'mean': [...], 'std': [...]}}}}``.

        """
        return {'min_std': self.min_std, 'group_by': self.group_by, 'stats': self.stats}

    @classmethod
    def from_dict(cls, data: dict) -> 'Normalizer':
        """Build a normalizer from :meth:`to_dict` output.

        Args:
            data: the dict.

        Returns:
            The normalizer.

        Raises:
            ValueError: if a field is missing.

        """
        # Checkpoints written before grouping existed have no 'group_by': per task.
        if 'stats' not in data or 'min_std' not in data:
            raise ValueError(
                f"normalizer dict needs 'stats' and 'min_std', got {sorted(data)}")
        return cls(
            {task: {key: {'mean': list(item['mean']), 'std': list(item['std'])}
                    for key, item in per_key.items()}
             for task, per_key in data['stats'].items()},
            float(data['min_std']), data.get('group_by', 'task'))


def task_family(task):
    """Return the family of a task name: the tasks that share statistics per embodiment.

    Args:
        task: a task name: ``'<arm>/<task>'`` (see :func:`episode_task_name`);
            ``'<arm>/<kind>/<task>'`` for outputs other than the arm's motions, such as the
            localization scenes of ``collect --localization``; or plain.

    Returns:
        str: the part before the last ``/`` (the arm, or the arm and kind); the whole name
        when there is none.
    """
    return task.rsplit('/', 1)[0]


def episode_task_name(arm, task, action_space='joint'):
    """Return the task name under which an arm's episodes are stored and prompted.

    One model serves several arms whose joint counts differ, and specs are keyed by task, so
    the arm is part of the name: ``panda/reach_target``. Episodes whose actions are the
    tool's Cartesian twist are ``panda/twist/reach_target``: their own statistics (see
    :func:`task_family`), and a name that says which controller they command.

    Args:
        arm: simulated arm name.
        task: simulator task name.
        action_space: ``'joint'`` (joint deltas) or ``'twist'``.

    Returns:
        str: ``'<arm>/<task>'`` or ``'<arm>/twist/<task>'``.

    Raises:
        ValueError: on another action space.
    """
    if action_space not in ('joint', TWIST_KIND):
        raise ValueError(f"action_space must be 'joint' or {TWIST_KIND!r}, got {action_space!r}")
    return f'{arm}/{task}' if action_space == 'joint' else f'{arm}/{TWIST_KIND}/{task}'


def arm_action_space(tasks, arm):
    """Return the action space a checkpoint acts in on one arm.

    Args:
        tasks: the checkpoint's task names.
        arm: simulated arm name.

    Returns:
        str: ``'twist'`` when its episodes of the arm are all ``'<arm>/twist/<task>'``,
        ``'joint'`` otherwise (also when it has none of the arm: the name then fails later).
    """
    spaces = {action_space_of(task) for task in tasks
              if task_family(task) in (arm, f'{arm}/{TWIST_KIND}')}
    return TWIST_KIND if spaces == {TWIST_KIND} else 'joint'


def action_space_of(task):
    """Return the action space of an episode task name (see :func:`episode_task_name`).

    Args:
        task: a task name.

    Returns:
        str: ``'twist'`` for ``'<arm>/twist/<task>'``, ``'joint'`` otherwise.
    """
    return TWIST_KIND if task_family(task).endswith(f'/{TWIST_KIND}') else 'joint'
