"""Gato tokenization: turn observations and actions into one flat token sequence.

This module is part of the ROS-free core: it imports neither rclpy nor message packages.

Token id layout (V = ``text_vocab_size``, B = ``num_bins``)::

    [0, V)            text (SentencePiece ids)
    [0, 1024)         discrete values, used directly as ids (shares the start of the text
                      range like Gato, so V must be >= ``num_discrete_values``)
    [V, V + B)        continuous values: standardize, mu-law compand, clip to [-1, 1], bin
    V + B             separator between a timestep's observation and its action
    V + B + 1         padding, also the placeholder id at image-patch slots (the patch
                      embedding replaces its embedding)

``vocab_size = V + B + 2`` rows in the embedding table. Paper presets use V = 32000; small CPU
presets may use a smaller V and every offset follows it.

Continuous values (joint angles in rad, positions in m, actions) are first standardized per
task or embodiment, key and dimension by :class:`gato_ros.data.Normalizer`; the standardized
value x is mu-law companded, ``F(x) = sgn(x) log(|x| mu + 1) / log(M mu + 1)``, which maps
|x| <= M to [-1, 1]. Values with |x| > M (more than M standard deviations away) are explicitly
clipped to [-1, 1] before binning into B uniform bins; decoding returns the bin centre,
expanded and de-standardized.

Layout of one timestep: instruction text (first timestep of a sequence only), image patches of
every image key in lexicographic key order, tensor values (continuous or discrete) of every
other key in lexicographic key order, row-major, then the separator, then the action tokens.

``loss_mask[i] == 1`` marks token i as a training target (predicted from tokens before i): text
and action tokens; observation tokens and the separator carry no loss.

Local positions: observation tokens get their index inside the timestep's observation,
0, 1, ... (the same index at every timestep, text excluded, so the first timestep's
instruction does not shift them). Separator and action tokens share one index,
``action_local_position``, and text tokens share ``text_local_position``.
"""

from dataclasses import asdict, dataclass, fields
import math

import cv2
from gato_ros.data import ACTION_KEY, check_values, Episode, EpisodeSpec, infer_kind
import numpy as np


@dataclass(frozen=True)
class TokenizerConfig:
    """Settings of the Gato tokenizer.

    Attributes:
        text_vocab_size: V, number of text ids (32000 in the paper).
        num_bins: number of uniform bins for continuous values over [-1, 1].
        mu: mu-law parameter.
        M: mu-law range; standardized values with |x| <= M are not clipped.
        patch_size: side of the square image patches, in pixels.
        num_position_bins: number of bins of the patch row/column position encodings.
        num_discrete_values: discrete values are integers in [0, num_discrete_values).
        action_local_position: local position shared by separator and action tokens.
        text_local_position: local position shared by instruction text tokens.

    """

    text_vocab_size: int = 32000
    num_bins: int = 1024
    mu: float = 100.0
    M: float = 256.0
    patch_size: int = 16
    num_position_bins: int = 128
    num_discrete_values: int = 1024
    action_local_position: int = 511
    text_local_position: int = 510

    def __post_init__(self):
        for name in ('text_vocab_size', 'num_bins', 'patch_size', 'num_position_bins',
                     'num_discrete_values'):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f'{name} must be positive, got {getattr(self, name)}')
        if not (self.mu > 0 and self.M > 0):
            raise ValueError(f'mu and M must be positive, got mu={self.mu}, M={self.M}')
        if self.num_discrete_values > self.text_vocab_size:
            raise ValueError(
                f'discrete ids share the text range, so text_vocab_size '
                f'({self.text_vocab_size}) must be >= num_discrete_values '
                f'({self.num_discrete_values})')
        if min(self.action_local_position, self.text_local_position) < 1 or (
                self.action_local_position == self.text_local_position):
            raise ValueError(
                'action_local_position and text_local_position must be distinct and >= 1, '
                f'got {self.action_local_position} and {self.text_local_position}')

    @property
    def continuous_offset(self) -> int:
        """First continuous id (= V)."""
        return self.text_vocab_size

    @property
    def separator_id(self) -> int:
        """Id of the observation/action separator."""
        return self.text_vocab_size + self.num_bins

    @property
    def pad_id(self) -> int:
        """Id used for padding and as placeholder at image-patch slots."""
        return self.separator_id + 1

    @property
    def vocab_size(self) -> int:
        """Number of rows of the token embedding table."""
        return self.pad_id + 1

    @property
    def num_local_positions(self) -> int:
        """Number of rows of the local position embedding table."""
        return max(self.action_local_position, self.text_local_position) + 1

    @property
    def max_observation_tokens(self) -> int:
        """Most observation tokens one timestep may have (their local positions come first)."""
        return min(self.action_local_position, self.text_local_position)

    def to_dict(self) -> dict:
        """Return the fields as a JSON-serializable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> 'TokenizerConfig':
        """Build a config from :meth:`to_dict` output (unknown keys raise).

        Args:
            data: the dict.

        Returns:
            The config.

        Raises:
            ValueError: if a key is unknown.

        """
        known = {item.name for item in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f'unknown tokenizer config keys {sorted(unknown)}')
        return cls(**data)


def mu_law_encode(x, mu: float = 100.0, M: float = 256.0) -> np.ndarray:
    """Compand values: ``sgn(x) log(|x| mu + 1) / log(M mu + 1)``.

    Args:
        x: values (any shape).
        mu: mu-law parameter.
        M: range; |x| = M maps to 1.

    Returns:
        float64 array of the same shape (not clipped).

    """
    x = np.asarray(x, np.float64)
    return np.sign(x) * np.log1p(np.abs(x) * mu) / math.log1p(M * mu)


def mu_law_decode(y, mu: float = 100.0, M: float = 256.0) -> np.ndarray:
    """Invert :func:`mu_law_encode`.

    Args:
        y: companded values (any shape).
        mu: mu-law parameter.
        M: range.

    Returns:
        float64 array of the same shape.

    """
    y = np.asarray(y, np.float64)
    return np.sign(y) * np.expm1(np.abs(y) * math.log1p(M * mu)) / mu


def discretize(y, num_bins: int = 1024) -> np.ndarray:
    """Map values in [-1, 1] to bin indices of ``num_bins`` uniform bins.

    Bin k covers [-1 + 2k / num_bins, -1 + 2(k + 1) / num_bins); the value 1 falls in the last
    bin.

    Args:
        y: values in [-1, 1] (any shape).
        num_bins: number of bins.

    Returns:
        int64 bin indices in [0, num_bins).

    Raises:
        ValueError: if a value is outside [-1, 1] or not finite (clip explicitly first).

    """
    y = np.asarray(y, np.float64)
    if not np.all((y >= -1.0) & (y <= 1.0)):
        raise ValueError('discretize expects finite values in [-1, 1]; clip them first')
    bins = np.floor((y + 1.0) * (num_bins / 2.0)).astype(np.int64)
    return np.minimum(bins, num_bins - 1)


def undiscretize(bins, num_bins: int = 1024) -> np.ndarray:
    """Return the centres in [-1, 1] of bin indices.

    Args:
        bins: integer bin indices in [0, num_bins).
        num_bins: number of bins.

    Returns:
        float64 bin centres.

    Raises:
        ValueError: if an index is out of range.

    """
    bins = np.asarray(bins)
    if bins.size and (bins.min() < 0 or bins.max() >= num_bins):
        raise ValueError(f'bin indices must be in [0, {num_bins}), '
                         f'got [{bins.min()}, {bins.max()}]')
    return -1.0 + (bins.astype(np.float64) + 0.5) * (2.0 / num_bins)


def encode_continuous(values, config: TokenizerConfig) -> np.ndarray:
    """Tokenize standardized continuous values: compand, clip to [-1, 1], bin, offset.

    Args:
        values: standardized float values (any shape).
        config: tokenizer settings.

    Returns:
        int64 ids in [V, V + num_bins), same shape.

    Raises:
        ValueError: if a value is NaN or inf.

    """
    values = np.asarray(values, np.float64)
    check_values(values, 'continuous', 'continuous values')
    # The paper states no clipping; values beyond M standard deviations saturate at the
    # outermost bins instead of being rejected, so a rare outlier cannot stop a robot.
    companded = np.clip(mu_law_encode(values, config.mu, config.M), -1.0, 1.0)
    return discretize(companded, config.num_bins) + config.continuous_offset


def decode_continuous(ids, config: TokenizerConfig) -> np.ndarray:
    """Invert :func:`encode_continuous` up to binning (returns the bin centre, standardized).

    Args:
        ids: continuous ids in [V, V + num_bins).
        config: tokenizer settings.

    Returns:
        float32 standardized values, same shape.

    Raises:
        ValueError: if an id is not a continuous id.

    """
    ids = np.asarray(ids, np.int64)
    low, high = action_token_range('continuous', config)
    if ids.size and (ids.min() < low or ids.max() >= high):
        raise ValueError(f'continuous ids must be in [{low}, {high}), '
                         f'got [{ids.min()}, {ids.max()}]')
    centres = undiscretize(ids - config.continuous_offset, config.num_bins)
    return mu_law_decode(centres, config.mu, config.M).astype(np.float32)


def encode_discrete(values, config: TokenizerConfig) -> np.ndarray:
    """Tokenize discrete values: integers in [0, num_discrete_values) are their own ids.

    Args:
        values: integer values (any shape).
        config: tokenizer settings.

    Returns:
        int64 ids, same shape.

    Raises:
        ValueError: if values are not integers or out of range.

    """
    values = np.asarray(values)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f'discrete values must be integers, got dtype {values.dtype}')
    values = values.astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= config.num_discrete_values):
        raise ValueError(f'discrete values must be in [0, {config.num_discrete_values}), '
                         f'got [{values.min()}, {values.max()}]')
    return values


def decode_discrete(ids, config: TokenizerConfig) -> np.ndarray:
    """Invert :func:`encode_discrete`.

    Args:
        ids: discrete ids.
        config: tokenizer settings.

    Returns:
        int64 values, same shape.

    Raises:
        ValueError: if an id is out of the discrete range.

    """
    return encode_discrete(np.asarray(ids, np.int64), config)


def action_token_range(kind: str, config: TokenizerConfig) -> tuple:
    """Return the [low, high) id range that action tokens of a kind may take.

    Args:
        kind: ``'continuous'`` or ``'discrete'``.
        config: tokenizer settings.

    Returns:
        ``(low, high)``, useful to mask logits when sampling an action.

    Raises:
        ValueError: for another kind.

    """
    if kind == 'continuous':
        return config.continuous_offset, config.continuous_offset + config.num_bins
    if kind == 'discrete':
        return 0, config.num_discrete_values
    raise ValueError(f"action kind must be 'continuous' or 'discrete', got {kind!r}")


def decode_action(ids, kind: str, config: TokenizerConfig, normalizer=None,
                  task: str | None = None) -> np.ndarray:
    """Turn sampled action tokens back into an action vector.

    Args:
        ids: (A,) action token ids.
        kind: the action kind, ``'continuous'`` or ``'discrete'``.
        config: tokenizer settings.
        normalizer: :class:`gato_ros.data.Normalizer` to de-standardize continuous actions;
            None returns standardized values.
        task: task name, needed with a normalizer.

    Returns:
        float32 (continuous) or int64 (discrete) array (A,).

    Raises:
        ValueError: for ids outside the kind's range or missing statistics.

    """
    action_token_range(kind, config)
    if kind == 'discrete':
        return decode_discrete(ids, config)
    values = decode_continuous(ids, config)
    if normalizer is None:
        return values
    return normalizer.denormalize(task, ACTION_KEY, values)


def patch_grid_shape(height: int, width: int, patch_size: int = 16) -> tuple:
    """Return the (rows, cols) patch grid of an image after :func:`image_to_patches` resizing.

    Each side is resized to the nearest multiple of ``patch_size`` (at least one patch), so a
    side that already is a multiple is kept.

    Args:
        height: image height in pixels.
        width: image width in pixels.
        patch_size: patch side in pixels.

    Returns:
        ``(rows, cols)``.

    """
    return (max(1, round(height / patch_size)), max(1, round(width / patch_size)))


def image_to_patches(image: np.ndarray, patch_size: int = 16) -> np.ndarray:
    """Cut an RGB image into normalized non-overlapping patches in raster order.

    If a side is not a multiple of ``patch_size`` the image is resized (OpenCV area
    interpolation) to the grid of :func:`patch_grid_shape`. Pixels are scaled to [-1, 1] and
    divided by sqrt(patch_size) (= 4 for 16-pixel patches), as in Gato.

    Args:
        image: uint8 (H, W, 3) RGB image.
        patch_size: patch side in pixels.

    Returns:
        float32 (P, 3, patch_size, patch_size), P = rows * cols, row-major over the grid.

    Raises:
        ValueError: if the image is not uint8 (H, W, 3).

    """
    image = np.asarray(image)
    if infer_kind(image, 'image') != 'image':
        raise ValueError(f'expected a uint8 (H, W, 3) image, got shape {image.shape}')
    rows, cols = patch_grid_shape(image.shape[0], image.shape[1], patch_size)
    if image.shape[:2] != (rows * patch_size, cols * patch_size):
        image = cv2.resize(image, (cols * patch_size, rows * patch_size),
                           interpolation=cv2.INTER_AREA)
    scaled = (image.astype(np.float32) / 127.5 - 1.0) / math.sqrt(patch_size)  # (H, W, 3)
    grid = scaled.reshape(rows, patch_size, cols, patch_size, 3)
    grid = grid.transpose(0, 2, 4, 1, 3)  # (rows, cols, 3, patch, patch)
    return np.ascontiguousarray(grid.reshape(rows * cols, 3, patch_size, patch_size))


def _position_intervals(count: int, num_position_bins: int) -> np.ndarray:
    edges = (np.arange(count + 1, dtype=np.int64) * num_position_bins) // count
    start = edges[:-1]
    # With more patches than bins two patches may share a start; keep every interval non-empty.
    end = np.maximum(edges[1:], start + 1)
    return np.stack([start, end], axis=1)  # (count, 2)


def patch_positions(rows: int, cols: int, num_position_bins: int = 128) -> tuple:
    """Return each patch's [start, end) interval of the position bins, per row and column.

    Patch (r, c) covers the normalized interval [r / rows, (r + 1) / rows) vertically, which
    is quantized to ``num_position_bins`` bins; same for columns.

    Args:
        rows: patch grid rows.
        cols: patch grid columns.
        num_position_bins: number of position bins.

    Returns:
        ``(patch_rows, patch_cols)``, two int64 arrays (rows * cols, 2) in raster order.

    """
    row_intervals = _position_intervals(rows, num_position_bins)  # (rows, 2)
    col_intervals = _position_intervals(cols, num_position_bins)  # (cols, 2)
    return np.repeat(row_intervals, cols, axis=0), np.tile(col_intervals, (rows, 1))


@dataclass
class TokenizedSequence:
    """A token sequence ready for the model (numpy arrays, L tokens, P image patches).

    Attributes:
        tokens: int64 (L,) token ids; the pad id at image-patch slots.
        patch_index: int64 (L,) index into ``patches`` at image-patch slots, -1 elsewhere.
        patches: float32 (P, 3, patch, patch) normalized image patches.
        patch_rows: int64 (P, 2) [start, end) row interval of each patch in position bins.
        patch_cols: int64 (P, 2) [start, end) column interval of each patch.
        local_positions: int64 (L,) local observation position of each token.
        loss_mask: float32 (L,) 1 on targets (text and action tokens), 0 elsewhere.
        timesteps: int64 (L,) timestep of each token, 0, 0, ..., 1, ... without gaps.
        is_action: bool (L,) True on action tokens.

    """

    tokens: np.ndarray
    patch_index: np.ndarray
    patches: np.ndarray
    patch_rows: np.ndarray
    patch_cols: np.ndarray
    local_positions: np.ndarray
    loss_mask: np.ndarray
    timesteps: np.ndarray
    is_action: np.ndarray

    def __post_init__(self):
        length = self.tokens.shape[0]
        for name in ('tokens', 'patch_index', 'local_positions', 'loss_mask', 'timesteps',
                     'is_action'):
            if getattr(self, name).shape != (length,):
                raise ValueError(
                    f'{name} must have shape ({length},), got {getattr(self, name).shape}')
        num_patches = self.patches.shape[0]
        for name in ('patch_rows', 'patch_cols'):
            if getattr(self, name).shape != (num_patches, 2):
                raise ValueError(f'{name} must have shape ({num_patches}, 2), '
                                 f'got {getattr(self, name).shape}')
        steps = self.timesteps
        if length and (steps[0] != 0 or np.any(np.diff(steps) < 0) or np.any(
                np.diff(steps) > 1)):
            raise ValueError('timesteps must start at 0 and grow by 0 or 1 per token')

    def __len__(self) -> int:
        """Return the number of tokens L."""
        return int(self.tokens.shape[0])

    @property
    def num_timesteps(self) -> int:
        """Number of timesteps in the sequence."""
        return int(self.timesteps[-1]) + 1 if len(self) else 0


def _segment(tokens, local_positions, loss, is_action=False, patch_index=None):
    """Return the per-token arrays of one segment of a timestep as a dict."""
    tokens = np.asarray(tokens, np.int64)
    length = tokens.shape[0]
    return {
        'tokens': tokens,
        'patch_index': (np.full(length, -1, np.int64) if patch_index is None
                        else patch_index),
        'local_positions': np.broadcast_to(np.asarray(local_positions, np.int64), (length,)),
        'loss_mask': np.full(length, loss, np.float32),
        'is_action': np.full(length, is_action, bool),
    }


def _text_segment(instruction_ids, config: TokenizerConfig) -> dict:
    ids = np.asarray(instruction_ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(f'instruction_ids must be a 1-D integer sequence, got {ids!r}')
    if ids.size and (ids.min() < 0 or ids.max() >= config.text_vocab_size):
        raise ValueError(f'instruction ids must be in [0, {config.text_vocab_size}), '
                         f'got [{ids.min()}, {ids.max()}]')
    return _segment(ids, config.text_local_position, 1.0)


def _observation_patches(observation, kinds, config) -> tuple:
    """Return patches (P, 3, p, p), rows (P, 2), cols (P, 2) of the image keys in key order."""
    patches = [np.zeros((0, 3, config.patch_size, config.patch_size), np.float32)]
    rows, cols = [np.zeros((0, 2), np.int64)], [np.zeros((0, 2), np.int64)]
    for key in sorted(key for key, kind in kinds.items() if kind == 'image'):
        patches.append(image_to_patches(observation[key], config.patch_size))
        grid = patch_grid_shape(*np.shape(observation[key])[:2], config.patch_size)
        key_rows, key_cols = patch_positions(*grid, config.num_position_bins)
        rows.append(key_rows)
        cols.append(key_cols)
    return np.concatenate(patches), np.concatenate(rows), np.concatenate(cols)


def _observation_tensor_ids(observation, kinds, config, normalizer, task) -> list:
    """Return the token ids of the non-image entries, in lexicographic key order."""
    ids = []
    for key in sorted(kinds):
        value = np.asarray(observation[key])
        if kinds[key] == 'continuous':
            if normalizer is not None:
                value = normalizer.normalize(task, key, value)
            ids.append(encode_continuous(value, config))
        elif kinds[key] == 'discrete':
            ids.append(encode_discrete(value, config))
    return ids


def _action_ids(action, config, normalizer, task) -> np.ndarray:
    action = np.asarray(action)
    kind = infer_kind(action, 'action')
    if kind == 'image':
        raise ValueError('an action must be a 1-D vector, got an image')
    if kind == 'discrete':
        return encode_discrete(action, config)
    if normalizer is not None:
        action = normalizer.normalize(task, ACTION_KEY, action)
    return encode_continuous(action, config)


def tokenize_timestep(observation: dict, action=None, instruction_ids=None, *,
                      config: TokenizerConfig | None = None, normalizer=None,
                      task: str | None = None,
                      spec: EpisodeSpec | None = None) -> TokenizedSequence:
    """Tokenize one timestep: [text], image patches, tensors, separator, [action].

    Args:
        observation: key -> array of one timestep (see :mod:`gato_ros.data`).
        action: the action vector (A,), or None at deployment (the sequence then ends with the
            separator and the model samples the action).
        instruction_ids: text token ids placed first, or None.
        config: tokenizer settings (default :class:`TokenizerConfig`).
        normalizer: :class:`gato_ros.data.Normalizer` standardizing continuous observations
            and actions; None means the values are already standardized.
        task: task name for the normalizer.
        spec: optional :class:`gato_ros.data.EpisodeSpec` the observation and action must match.

    Returns:
        A one-timestep :class:`TokenizedSequence`.

    Raises:
        ValueError: for bad keys, shapes, dtypes, non-finite values, ids out of range or too
            many observation tokens.

    """
    config = config or TokenizerConfig()
    if normalizer is not None and task is None:
        raise ValueError('a normalizer needs the task name, got task=None')
    if not isinstance(observation, dict) or not observation:
        raise ValueError(f'observation must be a non-empty dict, got {type(observation)}')
    if spec is not None:
        spec.validate_observation(observation)
        if action is not None:
            spec.validate_action(action)
    kinds = {key: infer_kind(np.asarray(value), f'observation[{key!r}]')
             for key, value in observation.items()}
    segments = [] if instruction_ids is None else [_text_segment(instruction_ids, config)]
    patches, rows, cols = _observation_patches(observation, kinds, config)
    num_patches = len(patches)
    tensor_ids = _observation_tensor_ids(observation, kinds, config, normalizer, task)
    num_observation = num_patches + sum(item.size for item in tensor_ids)
    if num_observation > config.max_observation_tokens:
        raise ValueError(f'a timestep has {num_observation} observation tokens, at most '
                         f'{config.max_observation_tokens} fit the local positions')
    segments.append(_segment(
        np.concatenate([np.full(num_patches, config.pad_id, np.int64)]
                       + [item.ravel() for item in tensor_ids]),
        np.arange(num_observation), 0.0,
        patch_index=np.concatenate([np.arange(num_patches, dtype=np.int64),
                                    np.full(num_observation - num_patches, -1, np.int64)])))
    segments.append(_segment([config.separator_id], config.action_local_position, 0.0))
    if action is not None:
        segments.append(_segment(_action_ids(action, config, normalizer, task),
                                 config.action_local_position, 1.0, True))
    arrays = {name: np.concatenate([item[name] for item in segments])
              for name in segments[0]}
    return TokenizedSequence(
        patches=patches, patch_rows=rows, patch_cols=cols,
        timesteps=np.zeros(len(arrays['tokens']), np.int64),
        **arrays)


def concatenate_sequences(sequences) -> TokenizedSequence:
    """Join sequences in order (e.g. prompt + episode); timesteps and patch indices follow on.

    Args:
        sequences: non-empty iterable of :class:`TokenizedSequence`.

    Returns:
        The joined sequence; timesteps of each part are shifted past the previous parts.

    Raises:
        ValueError: if no sequence is given.

    """
    sequences = list(sequences)
    if not sequences:
        raise ValueError('concatenate_sequences needs at least one sequence, got none')
    patch_offsets = np.cumsum([0] + [len(item.patches) for item in sequences])
    step_offsets = np.cumsum([0] + [item.num_timesteps for item in sequences])
    patch_index = [np.where(item.patch_index >= 0, item.patch_index + offset, -1)
                   for item, offset in zip(sequences, patch_offsets)]
    joined = {
        name: np.concatenate([getattr(item, name) for item in sequences])
        for name in ('tokens', 'patches', 'patch_rows', 'patch_cols', 'local_positions',
                     'loss_mask', 'is_action')}
    return TokenizedSequence(
        patch_index=np.concatenate(patch_index),
        timesteps=np.concatenate([item.timesteps + offset
                                  for item, offset in zip(sequences, step_offsets)]),
        **joined)


def select_timesteps(sequence: TokenizedSequence, start: int, stop: int) -> TokenizedSequence:
    """Return the whole timesteps [start, stop) of a sequence, renumbered from 0.

    Args:
        sequence: the sequence.
        start: first timestep kept.
        stop: one past the last timestep kept.

    Returns:
        The sub-sequence with only the patches it uses.

    Raises:
        ValueError: if the range is empty or outside the sequence.

    """
    if not 0 <= start < stop <= sequence.num_timesteps:
        raise ValueError(f'timestep range [{start}, {stop}) must be non-empty and inside '
                         f'[0, {sequence.num_timesteps})')
    keep = (sequence.timesteps >= start) & (sequence.timesteps < stop)
    patch_index = sequence.patch_index[keep]
    used = patch_index[patch_index >= 0]
    # Patches are stored in token order, so a contiguous token range uses a contiguous range.
    first = int(used[0]) if used.size else 0
    patch_slice = slice(first, first + used.size)
    return TokenizedSequence(
        tokens=sequence.tokens[keep],
        patch_index=np.where(patch_index >= 0, patch_index - first, -1),
        patches=sequence.patches[patch_slice],
        patch_rows=sequence.patch_rows[patch_slice],
        patch_cols=sequence.patch_cols[patch_slice],
        local_positions=sequence.local_positions[keep],
        loss_mask=sequence.loss_mask[keep],
        timesteps=sequence.timesteps[keep] - start,
        is_action=sequence.is_action[keep])


def window_sequence(sequence: TokenizedSequence, max_tokens: int,
                    start_timestep: int | None = None) -> TokenizedSequence:
    """Cut a window of at most ``max_tokens`` tokens made of whole timesteps.

    Args:
        sequence: the sequence.
        max_tokens: the context length.
        start_timestep: first timestep of the window, which then takes as many following
            timesteps as fit; None keeps the most recent timesteps that fit (deployment).

    Returns:
        The window, timesteps renumbered from 0.

    Raises:
        ValueError: if even one timestep does not fit or ``start_timestep`` is out of range.

    """
    num_steps = sequence.num_timesteps
    starts = np.searchsorted(sequence.timesteps, np.arange(num_steps + 1))  # (T + 1,)
    if start_timestep is None:
        first = int(np.argmax(len(sequence) - starts[:-1] <= max_tokens))
        if len(sequence) - starts[first] > max_tokens:
            raise ValueError(f'the last timestep has {len(sequence) - starts[-2]} tokens, '
                             f'more than max_tokens={max_tokens}')
        return select_timesteps(sequence, first, num_steps)
    if not 0 <= start_timestep < num_steps:
        raise ValueError(f'start_timestep must be in [0, {num_steps}), got {start_timestep}')
    stop = int(np.searchsorted(starts, starts[start_timestep] + max_tokens, side='right')) - 1
    if stop <= start_timestep:
        raise ValueError(f'timestep {start_timestep} has '
                         f'{starts[start_timestep + 1] - starts[start_timestep]} tokens, '
                         f'more than max_tokens={max_tokens}')
    return select_timesteps(sequence, start_timestep, stop)


def tokenize_episode(episode: Episode, normalizer, config: TokenizerConfig | None = None, *,
                     text_tokenizer=None, use_instruction: bool = True, start_step: int = 0,
                     stop_step: int | None = None) -> TokenizedSequence:
    """Tokenize the timesteps [start_step, stop_step) of an episode with their actions.

    The instruction goes into the first tokenized timestep only: the model attends to it from
    every later timestep in the context, and repeating it would spend context on copies.

    Args:
        episode: the episode.
        normalizer: :class:`gato_ros.data.Normalizer` for the episode's task, or None when the
            continuous values are already standardized.
        config: tokenizer settings (default :class:`TokenizerConfig`).
        text_tokenizer: object with ``encode(text) -> list[int]`` for the instruction.
        use_instruction: False drops the instruction (e.g. for prompt demonstrations).
        start_step: first timestep.
        stop_step: one past the last timestep (None: the episode end).

    Returns:
        The sequence.

    Raises:
        ValueError: if the range is empty, or the episode has an instruction to use but no
            text tokenizer is given.

    """
    stop_step = len(episode) if stop_step is None else stop_step
    if not 0 <= start_step < stop_step <= len(episode):
        raise ValueError(f'step range [{start_step}, {stop_step}) must be non-empty and '
                         f'inside [0, {len(episode)})')
    instruction_ids = None
    if use_instruction and episode.instruction is not None:
        if text_tokenizer is None:
            raise ValueError('the episode has an instruction but no text_tokenizer was given; '
                             'pass use_instruction=False to drop it')
        instruction_ids = text_tokenizer.encode(episode.instruction)
    steps = []
    for step in range(start_step, stop_step):
        steps.append(tokenize_timestep(
            episode.observation(step), episode.actions[step],
            instruction_ids if step == start_step else None,
            config=config, normalizer=normalizer, task=episode.task))
    return concatenate_sequences(steps)


def timestep_token_count(spec: EpisodeSpec, config: TokenizerConfig | None = None,
                         with_action: bool = True) -> int:
    """Return the number of tokens of one timestep of a task (without instruction text).

    Args:
        spec: the task's spec.
        config: tokenizer settings (default :class:`TokenizerConfig`).
        with_action: count the action tokens too.

    Returns:
        Observation tokens + separator (+ action dimension).

    """
    config = config or TokenizerConfig()
    count = 1
    for item in spec.observations.values():
        if item.kind == 'image':
            rows, cols = patch_grid_shape(item.shape[0], item.shape[1], config.patch_size)
            count += rows * cols
        else:
            count += item.shape[0]
    return count + (spec.action_dim if with_action else 0)
