"""Tests of gato_ros.tokenizer: values, image patches, sequence layout, windowing, bad input."""

import subprocess
import sys

from gato_ros.data import ACTION_KEY, Episode, EpisodeSpec, Normalizer, TensorSpec
from gato_ros.tokenizer import (
    concatenate_sequences, decode_action, decode_continuous, discretize, encode_continuous,
    encode_discrete, image_to_patches, mu_law_decode, mu_law_encode, patch_grid_shape,
    patch_positions, select_timesteps, timestep_token_count, tokenize_episode,
    tokenize_timestep, TokenizerConfig, undiscretize, window_sequence)
import numpy as np
import pytest

CONFIG = TokenizerConfig()
V = CONFIG.text_vocab_size
BIN_WIDTH = 2.0 / CONFIG.num_bins


class FixedText:
    """Stand-in text tokenizer that maps every instruction to the same ids."""

    ids = [5, 6, 7]

    def encode(self, text):
        """Return the fixed ids.

        Args:
            text: ignored.

        Returns:
            The ids.
        """
        return list(self.ids)


def two_step_episode(instruction='reach the red cube'):
    """Build a 2-step episode: 32x32 image (4 patches), 2 joints, 2 continuous actions.

    Args:
        instruction: the instruction or None.

    Returns:
        The episode.
    """
    image = np.zeros((2, 32, 32, 3), np.uint8)
    image[1] = 255
    return Episode(
        observations={'joints': np.array([[0.0, 1.0], [-1.0, 0.0]], np.float32),
                      'image': image},
        actions=np.array([[1.0, 3.0], [-1.0, 1.0]], np.float32),
        task='reach', instruction=instruction)


def unit_normalizer():
    """Build a normalizer with joints mean 0 std 1 and actions mean 1 std 2.

    Returns:
        The normalizer.
    """
    return Normalizer({'reach': {
        'joints': {'mean': [0.0, 0.0], 'std': [1.0, 1.0]},
        ACTION_KEY: {'mean': [1.0, 1.0], 'std': [2.0, 2.0]}}})


def test_id_layout_follows_text_vocab_size():
    """Continuous ids, separator and pad id sit right after the text range."""
    assert (CONFIG.continuous_offset, CONFIG.separator_id, CONFIG.pad_id,
            CONFIG.vocab_size) == (32000, 33024, 33025, 33026)
    small = TokenizerConfig(text_vocab_size=1024)
    assert (small.continuous_offset, small.separator_id, small.pad_id,
            small.vocab_size) == (1024, 2048, 2049, 2050)
    assert TokenizerConfig.from_dict(small.to_dict()) == small


def test_config_rejects_overlapping_discrete_range():
    """Discrete ids share the text range, so that range must hold them all."""
    with pytest.raises(ValueError, match='text_vocab_size'):
        TokenizerConfig(text_vocab_size=1000)
    with pytest.raises(ValueError, match='unknown'):
        TokenizerConfig.from_dict({'bins': 3})


def test_mu_law_hand_computed_values():
    """F(x) = sgn(x) log(100 |x| + 1) / log(25601) on hand-computed points."""
    x = np.array([0.0, 1.0, -1.0, 1e-3, -1e-3, 256.0])
    expected = [0.0, 0.45467435446, -0.45467435446, 0.00938980777, -0.00938980777, 1.0]
    np.testing.assert_allclose(mu_law_encode(x), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mu_law_decode(expected), x, rtol=1e-9, atol=1e-12)


def test_discretize_bin_edges():
    """Bin k covers [-1 + 2k/1024, -1 + 2(k+1)/1024); 1 goes to the last bin."""
    edge = -1.0 + BIN_WIDTH
    values = [-1.0, np.nextafter(edge, -2), edge, 0.0, -1e-9, 1.0]
    assert discretize(values).tolist() == [0, 0, 1, 512, 511, 1023]
    np.testing.assert_allclose(undiscretize([0, 512, 1023]),
                               [-1 + BIN_WIDTH / 2, BIN_WIDTH / 2, 1 - BIN_WIDTH / 2])


def test_encode_continuous_hand_computed_ids():
    """Id = V + floor((F(x) + 1) * 512) for 0, +-1, +-1e-3."""
    ids = encode_continuous([0.0, 1.0, -1.0, 1e-3, -1e-3], CONFIG)
    assert ids.tolist() == [V + 512, V + 744, V + 279, V + 516, V + 507]
    assert ids.dtype == np.int64


def test_continuous_round_trip_within_one_bin():
    """Decoded values are within one bin width of the input after companding."""
    magnitudes = np.logspace(-5, np.log10(256), 2005)
    values = np.concatenate([magnitudes, -magnitudes, [0.0]]).reshape(-1, 7)
    decoded = decode_continuous(encode_continuous(values, CONFIG), CONFIG)
    assert decoded.shape == values.shape and decoded.dtype == np.float32
    error = np.abs(mu_law_encode(values) - mu_law_encode(decoded.astype(np.float64)))
    assert error.max() <= BIN_WIDTH
    # The bin centre is the decoded value, so the error is in fact at most half a bin.
    assert error.max() <= BIN_WIDTH / 2 + 1e-6


def test_clipping_saturates_outside_range():
    """Values beyond M standard deviations go to the outermost bins; discretize never clips."""
    ids = encode_continuous([1e6, 256.0, -1e6, -256.0], CONFIG)
    assert ids.tolist() == [V + 1023, V + 1023, V, V]
    decoded = decode_continuous(ids, CONFIG)
    assert 200.0 < decoded[0] <= 256.0 and decoded[2] == -decoded[0]
    with pytest.raises(ValueError, match='clip'):
        discretize([1.5])
    with pytest.raises(ValueError, match='clip'):
        discretize([-1.0001])


def test_continuous_rejects_non_finite_and_foreign_ids():
    """Non-finite values and ids outside the continuous range raise ValueError."""
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match='finite'):
            encode_continuous([0.0, bad], CONFIG)
    with pytest.raises(ValueError, match='continuous ids'):
        decode_continuous([V - 1], CONFIG)
    with pytest.raises(ValueError, match='continuous ids'):
        decode_continuous([CONFIG.separator_id], CONFIG)


def test_discrete_values_are_their_own_ids():
    """Integers in [0, 1024) pass through; others raise ValueError."""
    assert encode_discrete(np.array([0, 5, 1023]), CONFIG).tolist() == [0, 5, 1023]
    for bad in ([1024], [-1], [0.5]):
        with pytest.raises(ValueError, match='discrete'):
            encode_discrete(np.array(bad), CONFIG)


def test_image_patches_raster_order_and_normalization():
    """Patch p = r * cols + c holds pixels [16r, 16r+16) x [16c, 16c+16), scaled to +-1/4."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    patches = image_to_patches(image)
    assert patches.shape == (6, 3, 16, 16) and patches.dtype == np.float32
    for row in range(2):
        for col in range(3):
            block = image[16 * row:16 * row + 16, 16 * col:16 * col + 16]  # (16, 16, 3)
            expected = (block.transpose(2, 0, 1) / 127.5 - 1.0) / 4.0
            np.testing.assert_allclose(patches[row * 3 + col], expected, atol=1e-6)
    extremes = image_to_patches(np.array([[[0, 255, 0]] * 16] * 16, np.uint8))
    assert extremes[0, 0].max() == -0.25 and extremes[0, 1].min() == 0.25


def test_image_resized_to_nearest_patch_multiple():
    """A 70x40 image becomes a 4x2 grid (64x32 pixels); a 5x5 image one patch."""
    assert patch_grid_shape(70, 40) == (4, 2)
    image = np.full((70, 40, 3), 200, np.uint8)
    patches = image_to_patches(image)
    assert patches.shape == (8, 3, 16, 16)
    np.testing.assert_allclose(patches, (200 / 127.5 - 1) / 4, atol=1e-6)
    assert image_to_patches(np.zeros((5, 5, 3), np.uint8)).shape == (1, 3, 16, 16)


@pytest.mark.parametrize('image, message', [
    (np.zeros((32, 32, 3), np.float32), 'uint8'),
    (np.zeros((32, 32, 4), np.uint8), r'\(H, W, 3\)'),
    (np.zeros((32, 32), np.uint8), 'image'),
])
def test_image_bad_input(image, message):
    """Wrong dtype, channel count or rank raise ValueError."""
    with pytest.raises(ValueError, match=message):
        image_to_patches(image)


def test_patch_positions_intervals():
    """A 2x4 grid splits 128 bins into halves per row and quarters per column."""
    rows, cols = patch_positions(2, 4)
    assert rows.tolist() == [[0, 64]] * 4 + [[64, 128]] * 4
    assert cols.tolist() == [[0, 32], [32, 64], [64, 96], [96, 128]] * 2
    many_rows, _ = patch_positions(200, 1)
    assert np.all(many_rows[:, 1] > many_rows[:, 0]) and many_rows[-1, 1] == 128


def test_two_step_episode_layout_and_loss_mask():
    """Text first, patches, joints, separator, action; instruction in the first step only."""
    seq = tokenize_episode(two_step_episode(), unit_normalizer(), CONFIG,
                           text_tokenizer=FixedText())
    pad, sep, zero, one, minus_one = CONFIG.pad_id, CONFIG.separator_id, V + 512, V + 744, V + 279
    step0 = [5, 6, 7] + [pad] * 4 + [zero, one] + [sep] + [zero, one]
    step1 = [pad] * 4 + [minus_one, zero] + [sep] + [minus_one, zero]
    assert seq.tokens.tolist() == step0 + step1
    assert seq.loss_mask.tolist() == [1] * 3 + [0] * 7 + [1] * 2 + [0] * 7 + [1] * 2
    assert seq.is_action.tolist() == [False] * 10 + [True] * 2 + [False] * 7 + [True] * 2
    assert seq.timesteps.tolist() == [0] * 12 + [1] * 9
    text, act = CONFIG.text_local_position, CONFIG.action_local_position
    obs = [0, 1, 2, 3, 4, 5]
    assert seq.local_positions.tolist() == [text] * 3 + obs + [act] * 3 + obs + [act] * 3
    assert seq.patch_index.tolist() == ([-1] * 3 + [0, 1, 2, 3] + [-1] * 5
                                        + [4, 5, 6, 7] + [-1] * 5)
    assert seq.patches.shape == (8, 3, 16, 16)
    assert seq.patches[:4].max() == -0.25 and seq.patches[4:].min() == 0.25
    assert seq.patch_rows.tolist() == [[0, 64], [0, 64], [64, 128], [64, 128]] * 2
    assert seq.patch_cols.tolist() == [[0, 64], [64, 128]] * 4
    assert seq.loss_mask.dtype == np.float32 and seq.tokens.dtype == np.int64
    assert len(seq) == 2 * timestep_token_count(two_step_episode().spec(), CONFIG) + 3


def test_tensor_keys_in_lexicographic_order_after_images():
    """Non-image keys follow sorted order; images come before every tensor."""
    observation = {'b': np.array([1.0]), 'a': np.array([-1.0]), 'c': np.array([3]),
                   'z_image': np.zeros((16, 16, 3), np.uint8)}
    seq = tokenize_timestep(observation, config=CONFIG)
    assert seq.tokens.tolist() == [CONFIG.pad_id, V + 279, V + 744, 3, CONFIG.separator_id]
    assert seq.loss_mask.sum() == 0


def test_deployment_timestep_and_action_decoding():
    """Without action the sequence ends at the separator; decode_action inverts the action."""
    normalizer = unit_normalizer()
    episode = two_step_episode()
    seq = tokenize_timestep(episode.observation(0), config=CONFIG, normalizer=normalizer,
                            task='reach', spec=episode.spec())
    assert seq.tokens[-1] == CONFIG.separator_id and not seq.is_action.any()
    full = tokenize_timestep(episode.observation(0), episode.actions[0], config=CONFIG,
                             normalizer=normalizer, task='reach')
    action = decode_action(full.tokens[full.is_action], 'continuous', CONFIG, normalizer,
                           'reach')
    np.testing.assert_allclose(action, episode.actions[0], rtol=0.02, atol=1e-3)
    discrete = decode_action(np.array([3, 0]), 'discrete', CONFIG)
    assert discrete.tolist() == [3, 0]


def test_concatenation_shifts_timesteps_and_patches():
    """Prompt + episode: the episode's timesteps and patch indices follow the prompt's."""
    prompt = tokenize_episode(two_step_episode(None), unit_normalizer(), CONFIG)
    episode = tokenize_episode(two_step_episode(), unit_normalizer(), CONFIG,
                               text_tokenizer=FixedText())
    joined = concatenate_sequences([prompt, episode])
    assert len(joined) == len(prompt) + len(episode) and joined.num_timesteps == 4
    assert joined.timesteps[len(prompt):].tolist() == (episode.timesteps + 2).tolist()
    assert joined.patch_index.max() == 15 and joined.patches.shape[0] == 16
    patch_slots = joined.patch_index[len(prompt):]
    np.testing.assert_array_equal(joined.patches[patch_slots[patch_slots >= 0]],
                                  episode.patches)
    with pytest.raises(ValueError, match='at least one'):
        concatenate_sequences([])


def test_window_cuts_at_timestep_boundaries():
    """Windows hold whole timesteps only, renumbered from 0 with their own patches."""
    episode = tokenize_episode(two_step_episode(None), unit_normalizer(), CONFIG)
    seq = concatenate_sequences([episode, episode])  # 4 timesteps of 9 tokens
    recent = window_sequence(seq, 26)
    assert len(recent) == 18 and recent.num_timesteps == 2
    np.testing.assert_array_equal(recent.tokens, seq.tokens[18:])
    assert recent.timesteps.tolist() == [0] * 9 + [1] * 9
    assert recent.patch_index.max() == 7 and recent.patches.shape[0] == 8
    np.testing.assert_array_equal(recent.patches, seq.patches[8:])
    assert len(window_sequence(seq, 36)) == 36
    start = window_sequence(seq, 17, start_timestep=1)
    assert len(start) == 9 and start.num_timesteps == 1
    np.testing.assert_array_equal(start.tokens, seq.tokens[9:18])
    np.testing.assert_array_equal(start.patches, seq.patches[4:8])
    assert len(window_sequence(seq, 100, start_timestep=2)) == 18
    middle = select_timesteps(seq, 1, 3)
    np.testing.assert_array_equal(middle.tokens, seq.tokens[9:27])


def test_window_rejects_timestep_larger_than_window():
    """A single timestep that does not fit raises ValueError instead of being cut."""
    seq = tokenize_episode(two_step_episode(None), unit_normalizer(), CONFIG)
    with pytest.raises(ValueError, match='max_tokens'):
        window_sequence(seq, 8)
    with pytest.raises(ValueError, match='max_tokens'):
        window_sequence(seq, 8, start_timestep=0)
    with pytest.raises(ValueError, match='start_timestep'):
        window_sequence(seq, 100, start_timestep=2)


def test_tokenize_bad_input():
    """Wrong keys, shapes, dtypes and values raise clear ValueErrors."""
    episode = two_step_episode()
    spec = episode.spec()
    observation = episode.observation(0)
    cases = [
        ({'joints': observation['joints']}, None, 'observation keys'),
        ({**observation, 'joints': np.zeros(3, np.float32)}, None, r'shape \(2,\)'),
        ({**observation, 'joints': np.array([np.nan, 0.0], np.float32)}, None, 'finite'),
        ({**observation, 'image': np.zeros((32, 32, 3), np.float32)}, None, 'uint8'),
        ({**observation, 'image': np.zeros((64, 64, 3), np.uint8)}, None, r'\(32, 32, 3\)'),
        (observation, np.zeros(3, np.float32), 'action'),
        (observation, np.array([np.inf, 0.0], np.float32), 'finite'),
    ]
    for bad_observation, action, message in cases:
        with pytest.raises(ValueError, match=message):
            tokenize_timestep(bad_observation, action, config=CONFIG, spec=spec)
    with pytest.raises(ValueError, match='instruction ids'):
        tokenize_timestep(observation, instruction_ids=[V], config=CONFIG)
    with pytest.raises(ValueError, match='task'):
        tokenize_timestep(observation, config=CONFIG, normalizer=unit_normalizer())
    with pytest.raises(ValueError, match='non-empty dict'):
        tokenize_timestep({}, config=CONFIG)


def test_tokenize_episode_bad_input():
    """Missing text tokenizer, unknown task statistics and empty ranges raise ValueError."""
    episode = two_step_episode()
    with pytest.raises(ValueError, match='text_tokenizer'):
        tokenize_episode(episode, unit_normalizer(), CONFIG)
    assert len(tokenize_episode(episode, unit_normalizer(), CONFIG, use_instruction=False)) == 18
    with pytest.raises(ValueError, match="task 'reach'"):
        tokenize_episode(episode, Normalizer({'push': {}}), CONFIG, use_instruction=False)
    with pytest.raises(ValueError, match='step range'):
        tokenize_episode(episode, None, CONFIG, use_instruction=False, start_step=2)


def test_too_many_observation_tokens():
    """A timestep whose observation exceeds the local positions raises ValueError."""
    config = TokenizerConfig(action_local_position=9, text_local_position=8)
    with pytest.raises(ValueError, match='observation tokens'):
        tokenize_timestep({'joints': np.zeros(9, np.float32)}, config=config)


def test_token_count_matches_spec():
    """timestep_token_count predicts the length of a tokenized timestep (resize included)."""
    spec = EpisodeSpec('t', {'image': TensorSpec('image', (70, 40, 3)),
                             'joints': TensorSpec('continuous', (7,))},
                       TensorSpec('continuous', (4,)))
    observation = {'image': np.zeros((70, 40, 3), np.uint8), 'joints': np.zeros(7, np.float32)}
    seq = tokenize_timestep(observation, np.zeros(4, np.float32), config=CONFIG, spec=spec)
    assert len(seq) == timestep_token_count(spec, CONFIG) == 8 + 7 + 1 + 4


@pytest.mark.parametrize('module', ['gato_ros.tokenizer', 'gato_ros.text_tokenizer',
                                    'gato_ros.evaluation.goal_probe'])
def test_core_modules_import_without_ros(module):
    """The ROS-free core (and the goal probe) imports neither rclpy nor any message package."""
    code = (f'import sys, {module}\n'
            "ros = [m for m in sys.modules if m.split('.')[0] == 'rclpy' or '_msgs' in m]\n"
            "print(','.join(ros))\n")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ''
