"""Tests of gato_ros.policy: checkpoint files, action selection, window, input checks."""

import json

from gato_ros.configuration_gato import GatoConfig
from gato_ros.data import ACTION_KEY, Episode, Normalizer
from gato_ros.modeling_gato import GatoModel
from gato_ros.policy import (Checkpoint, CHECKPOINT_FILES, CONFIG_FILE, GatoPolicy,
                             PolicyConfig, SPEC_FILE, WEIGHTS_FILE)
from gato_ros.text_tokenizer import TextTokenizer
from gato_ros.tokenizer import decode_continuous, encode_continuous
import numpy as np
import pytest
from support.file_modes import assert_readable_by_all
import torch

CONTEXT_LENGTH = 64


# Small models train and compare faster (and deterministically) on one thread.
pytestmark = pytest.mark.usefixtures('one_torch_thread')


def _reach_episode(rng, steps=5):
    """Continuous task: an image and 3 joints observed, 4 continuous action dimensions."""
    return Episode({'image': rng.integers(0, 256, (steps, 32, 32, 3), dtype=np.uint8),
                    'joints': rng.normal(size=(steps, 3)).astype(np.float32)},
                   rng.normal(size=(steps, 4)).astype(np.float32), 'reach',
                   instruction='reach the red cube', success=True)


def _button_episode(rng, steps=5):
    """Discrete task: 2 joints observed, 2 discrete action dimensions."""
    return Episode({'joints': rng.normal(size=(steps, 2)).astype(np.float32)},
                   rng.integers(0, 4, (steps, 2)), 'button')


@pytest.fixture(scope='module')
def checkpoint_dir(tmp_path_factory):
    """Write a two-task checkpoint of an untrained gato-test model."""
    rng = np.random.default_rng(0)
    episodes = [_reach_episode(rng) for _ in range(3)] + [_button_episode(rng)]
    torch.manual_seed(0)
    model = GatoModel(GatoConfig.from_preset('gato-test', context_length=CONTEXT_LENGTH))
    checkpoint = Checkpoint(model, {item.task: item.spec() for item in episodes},
                            Normalizer.fit(episodes), TextTokenizer())
    return checkpoint.save(tmp_path_factory.mktemp('checkpoint'))


def _rollout(policy, episode, task=None, **reset_kwargs):
    policy.reset(task or episode.task, **reset_kwargs)
    return np.stack([policy.select_action(episode.observation(step))
                     for step in range(len(episode))])


def test_checkpoint_has_only_safetensors_json_and_text_model(checkpoint_dir):
    """A checkpoint holds exactly the documented files and spec content."""
    assert sorted(path.name for path in checkpoint_dir.iterdir()) == sorted(CHECKPOINT_FILES)
    spec = json.loads((checkpoint_dir / SPEC_FILE).read_text())
    assert set(spec['tasks']) == {'reach', 'button'}
    assert set(spec['normalizer']['stats']) == {'reach', 'button'}
    assert spec['tokenizer']['text_vocab_size'] == 1024


def test_actions_have_the_task_kind_and_range(checkpoint_dir):
    """Actions have the dtype, size and id range of their task."""
    policy = GatoPolicy.from_pretrained(checkpoint_dir)
    assert policy.tasks == ['button', 'reach']
    rng = np.random.default_rng(1)
    reach = _rollout(policy, _reach_episode(rng), instruction='reach the red cube')
    assert reach.dtype == np.float32 and reach.shape == (5, 4)
    assert np.all(np.isfinite(reach))
    assert policy.action_dim == 4
    assert sorted(policy.observation_spec) == ['image', 'joints']
    button = _rollout(policy, _button_episode(rng))
    assert button.dtype == np.int64 and button.shape == (5, 2)
    # Sampling is restricted to the discrete ids, even for an untrained model.
    assert button.min() >= 0 and button.max() < 1024


def test_save_and_load_give_identical_actions(checkpoint_dir, tmp_path):
    """save_pretrained/from_pretrained give identical weights and actions."""
    policy = GatoPolicy.from_pretrained(checkpoint_dir)
    episode = _reach_episode(np.random.default_rng(2), steps=4)
    before = _rollout(policy, episode, instruction='reach')
    policy.save_pretrained(tmp_path / 'copy')
    loaded = GatoPolicy.from_pretrained(tmp_path / 'copy')
    np.testing.assert_array_equal(_rollout(loaded, episode, instruction='reach'), before)
    for name, value in policy.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value)


@pytest.mark.usefixtures('readable_umask')
def test_saved_weights_are_as_readable_as_the_other_files(checkpoint_dir, tmp_path):
    """The weights get the mode of the JSON beside them (safetensors writes them 0600)."""
    GatoPolicy.from_pretrained(checkpoint_dir).save_pretrained(tmp_path / 'copy')
    mode = (tmp_path / 'copy' / WEIGHTS_FILE).stat().st_mode
    assert mode == (tmp_path / 'copy' / CONFIG_FILE).stat().st_mode
    assert_readable_by_all(tmp_path / 'copy')


def test_sampling_is_deterministic_under_a_seed(checkpoint_dir):
    """Temperature sampling repeats under a seed and changes with it."""
    episode = _reach_episode(np.random.default_rng(3), steps=4)
    config = PolicyConfig(temperature=1.0, seed=7)
    first = _rollout(GatoPolicy.from_pretrained(checkpoint_dir, config), episode)
    second = _rollout(GatoPolicy.from_pretrained(checkpoint_dir, config), episode)
    np.testing.assert_array_equal(first, second)
    other = GatoPolicy.from_pretrained(checkpoint_dir, PolicyConfig(temperature=1.0, seed=8))
    assert not np.array_equal(_rollout(other, episode), first)
    greedy = GatoPolicy.from_pretrained(checkpoint_dir)
    np.testing.assert_array_equal(_rollout(greedy, episode, seed=1),
                                  _rollout(greedy, episode, seed=2))


def _two_bin_logits(policy, values, weights):
    """Make every forward pass predict standardized ``values`` with probabilities ``weights``."""
    config = policy.tokenizer_config
    forward = policy.model.forward

    def fixed_forward(**kwargs):
        output = forward(**kwargs)
        output.logits[..., :] = -1e9
        for value, weight in zip(values, weights):
            output.logits[..., int(encode_continuous(value, config))] = np.log(weight)
        return output

    policy.model.forward = fixed_forward


@pytest.mark.parametrize('decoding, expected', [('mode', 1.0), ('mean', 0.5)])
def test_action_decoding_takes_the_mode_or_the_expected_value(
        checkpoint_dir, decoding, expected):
    """'mode' picks the likeliest bin; 'mean' the bin of the distribution's expected value."""
    policy = GatoPolicy.from_pretrained(checkpoint_dir, PolicyConfig(action_decoding=decoding))
    _two_bin_logits(policy, values=(1.0, -1.0), weights=(0.75, 0.25))
    action = _rollout(policy, _reach_episode(np.random.default_rng(4), steps=2))
    config = policy.tokenizer_config
    binned = decode_continuous(encode_continuous(np.full(4, expected), config), config)
    expected_actions = policy.checkpoint.normalizer.denormalize(
        'reach', ACTION_KEY, np.stack([binned] * 2))
    np.testing.assert_allclose(action, expected_actions, rtol=1e-6)


def _record_prefills(policy):
    """Wrap the model's forward to record the token ids of every multi-token call."""
    calls = []
    forward = policy.model.forward

    def recording_forward(**kwargs):
        if kwargs['tokens'].shape[1] > 1:
            calls.append((kwargs['cache'] is None, kwargs['tokens'][0].tolist()))
        return forward(**kwargs)

    policy.model.forward = recording_forward
    return calls


def test_window_overflow_keeps_prompt_and_instruction(checkpoint_dir):
    """Overflowing the context rebuilds the window with prompt and instruction."""
    policy = GatoPolicy.from_pretrained(checkpoint_dir, PolicyConfig(prompt_max_tokens=30))
    rng = np.random.default_rng(4)
    prompt = _reach_episode(rng, steps=3)
    instruction_ids = policy.checkpoint.text_tokenizer.encode('reach the red cube')
    policy.reset('reach', instruction='reach the red cube', prompt=prompt)
    calls = _record_prefills(policy)
    sizes = []
    episode = _reach_episode(rng, steps=30)  # 30 timesteps of 12 tokens: far over 64
    for step in range(len(episode)):
        action = policy.select_action(episode.observation(step))
        assert action.shape == (4,) and np.all(np.isfinite(action))
        sizes.append(policy.window_tokens)
    assert max(sizes) <= CONTEXT_LENGTH
    rebuilds = [tokens for fresh, tokens in calls if fresh]
    assert len(rebuilds) > 3  # the window overflowed and was rebuilt several times
    prompt_tokens = policy._prompt.tokens.tolist()
    assert 0 < len(prompt_tokens) <= 30
    for tokens in rebuilds:
        assert tokens[:len(prompt_tokens)] == prompt_tokens
        assert tokens[len(prompt_tokens):][:len(instruction_ids)] == instruction_ids


def test_unknown_task_and_missing_reset(checkpoint_dir):
    """Unknown tasks and acting before reset are refused."""
    policy = GatoPolicy.from_pretrained(checkpoint_dir)
    with pytest.raises(RuntimeError, match='reset'):
        policy.select_action({'joints': np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match='unknown task'):
        policy.reset('fly')
    with pytest.raises(ValueError, match='several tasks'):
        policy.reset()


def test_one_timestep_window_makes_the_policy_markovian(tmp_path):
    """With max_window_timesteps=1 each action depends on the current observation only."""
    rng = np.random.default_rng(4)
    episodes = [_reach_episode(rng, steps=4) for _ in range(2)]
    model = GatoModel(GatoConfig.from_preset('gato-test', context_length=CONTEXT_LENGTH * 2,
                                             max_window_timesteps=1))
    path = Checkpoint(model, {'reach': episodes[0].spec()}, Normalizer.fit(episodes),
                      TextTokenizer()).save(tmp_path / 'markovian')
    policy, fresh = GatoPolicy.from_pretrained(path), GatoPolicy.from_pretrained(path)
    instruction = episodes[0].instruction
    policy.reset('reach', instruction=instruction)
    first_window = None
    for step in range(len(episodes[0])):
        action = policy.select_action(episodes[0].observation(step))
        first_window = first_window or policy.window_tokens
        fresh.reset('reach', instruction=instruction)
        np.testing.assert_array_equal(action,
                                      fresh.select_action(episodes[0].observation(step)))
        assert policy.window_tokens == first_window


def _arm_episode(rng, task, steps=5):
    """Make an episode of a task of the arm "arm7": 3 joints, 4 continuous actions."""
    return Episode({'joints': rng.normal(size=(steps, 3)).astype(np.float32)},
                   rng.normal(size=(steps, 4)).astype(np.float32), task, success=True)


def test_new_task_of_a_known_embodiment_is_accepted_with_its_arm_spec(tmp_path):
    """Per-embodiment statistics let the policy act in, and be prompted with, a new task."""
    rng = np.random.default_rng(3)
    episodes = [_arm_episode(rng, 'arm7/reach'), _arm_episode(rng, 'arm7/push'),
                _button_episode(rng)]
    model = GatoModel(GatoConfig.from_preset('gato-test', context_length=CONTEXT_LENGTH))
    specs = {item.task: item.spec() for item in episodes}
    per_arm = Checkpoint(model, specs, Normalizer.fit(episodes, group_by='embodiment'),
                         TextTokenizer()).save(tmp_path / 'per_arm')
    policy = GatoPolicy.from_pretrained(per_arm)
    demonstration = _arm_episode(rng, 'arm7/stack')
    actions = _rollout(policy, demonstration, prompt=demonstration)
    assert policy.task == 'arm7/stack' and actions.shape == (5, 4)
    assert policy.task_spec('arm7/stack') == demonstration.spec()
    with pytest.raises(ValueError, match="embodiments \\['arm7', 'button'\\]"):
        policy.reset('arm6/reach')
    per_task = Checkpoint(model, specs, Normalizer.fit(episodes), TextTokenizer()).save(
        tmp_path / 'per_task')
    with pytest.raises(ValueError, match='unknown task'):
        GatoPolicy.from_pretrained(per_task).reset('arm7/stack')


def test_prompt_of_another_task_raises(checkpoint_dir):
    """A prompt must be a demonstration of the same task and spec, and fit its budget."""
    policy = GatoPolicy.from_pretrained(checkpoint_dir)
    with pytest.raises(ValueError, match='prompt'):
        policy.reset('reach', prompt=_button_episode(np.random.default_rng(5)))
    small = GatoPolicy.from_pretrained(checkpoint_dir, PolicyConfig(prompt_max_tokens=5))
    with pytest.raises(ValueError, match='less than one timestep'):
        small.reset('reach', prompt=_reach_episode(np.random.default_rng(5)))


@pytest.mark.parametrize('observation, message', [
    ({'image': np.zeros((32, 32, 3), np.uint8)}, 'expected observation keys'),
    ({'image': np.zeros((32, 32, 3), np.uint8), 'joints': np.zeros(3, np.float32),
      'extra': np.zeros(1, np.float32)}, 'expected observation keys'),
    ({'image': np.zeros((32, 32, 3), np.uint8), 'joints': np.zeros(5, np.float32)},
     'expected shape'),
    ({'image': np.zeros((32, 32, 3), np.float32), 'joints': np.zeros(3, np.float32)},
     'uint8'),
    ({'image': np.zeros((16, 16, 3), np.uint8), 'joints': np.zeros(3, np.float32)},
     'expected shape'),
    ({'image': np.zeros((32, 32, 3), np.uint8), 'joints': np.array([0, np.nan, 0])},
     'finite'),
    ({'image': np.zeros((32, 32, 3), np.uint8), 'joints': np.zeros(3, np.int64)},
     'continuous'),
    ([np.zeros(3)], 'dict'),
])
def test_bad_observations_raise(checkpoint_dir, observation, message):
    """Observations not matching the spec raise a clear ValueError."""
    policy = GatoPolicy.from_pretrained(checkpoint_dir)
    policy.reset('reach')
    with pytest.raises(ValueError, match=message):
        policy.select_action(observation)


@pytest.mark.parametrize('name', CHECKPOINT_FILES)
def test_missing_checkpoint_file_raises(checkpoint_dir, tmp_path, name):
    """Each missing checkpoint file raises FileNotFoundError naming it."""
    GatoPolicy.from_pretrained(checkpoint_dir).save_pretrained(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(FileNotFoundError, match=name):
        GatoPolicy.from_pretrained(tmp_path)


def test_missing_directory_raises(tmp_path):
    """A missing checkpoint directory raises FileNotFoundError."""
    with pytest.raises(FileNotFoundError):
        GatoPolicy.from_pretrained(tmp_path / 'nothing')


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize('file_name, edit, message', [
    ('config.json', lambda data: data.update(hidden_size=128), 'does not match'),
    ('config.json', lambda data: data.update(num_layers=3), 'missing'),
    ('config.json', lambda data: data.update(model_type='gpt2'), 'model_type'),
    ('config.json', lambda data: data['tokenizer'].update(num_bins=512),
     'tokenizer settings differ'),
    ('gato_spec.json', lambda data: data['tokenizer'].update(text_vocab_size=2048),
     'tokenizer settings differ'),
    ('gato_spec.json', lambda data: data.update(format_version=99), 'format_version'),
])
def test_mismatched_checkpoint_raises(checkpoint_dir, tmp_path, file_name, edit, message):
    """Checkpoint files that disagree raise ValueError."""
    GatoPolicy.from_pretrained(checkpoint_dir).save_pretrained(tmp_path)
    _edit_json(tmp_path / file_name, edit)
    with pytest.raises(ValueError, match=message):
        GatoPolicy.from_pretrained(tmp_path)


def test_single_task_checkpoint_is_ready_without_reset(tmp_path):
    """A one-task checkpoint acts without an explicit reset."""
    episodes = [_button_episode(np.random.default_rng(6))]
    model = GatoModel(GatoConfig.from_preset('gato-test', context_length=CONTEXT_LENGTH))
    Checkpoint(model, {'button': episodes[0].spec()}, Normalizer.fit(episodes),
               TextTokenizer()).save(tmp_path)
    policy = GatoPolicy.from_pretrained(tmp_path)
    assert policy.task == 'button'
    assert policy.select_action({'joints': np.zeros(2, np.float32)}).shape == (2,)


def test_policy_config_validation():
    """Invalid deployment settings are refused."""
    with pytest.raises(ValueError, match='temperature'):
        PolicyConfig(temperature=-1.0)
    with pytest.raises(ValueError, match='refill_tokens'):
        PolicyConfig(refill_tokens=0)
    with pytest.raises(ValueError, match='action_decoding must be one of'):
        PolicyConfig(action_decoding='median')
    with pytest.raises(ValueError, match='deterministic'):
        PolicyConfig(action_decoding='mean', temperature=0.5)
