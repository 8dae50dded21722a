"""Tests of gato_ros.data: episode validation, specs, npz round trip, normalizer."""

import json

from gato_ros.data import (
    ACTION_KEY, action_space_of, arm_action_space, Episode, episode_task_name, EpisodeSpec,
    load_episodes, Normalizer, task_family, TensorSpec)
import numpy as np
import pytest


def make_episode(steps=3, task='push', instruction='push the red block', success=True):
    """Build a small valid episode with an image, joints, a discrete entry and actions.

    Args:
        steps: number of timesteps T.
        task: task name.
        instruction: instruction or None.
        success: success flag or None.

    Returns:
        The episode.
    """
    rng = np.random.default_rng(steps)
    return Episode(
        observations={
            'image': rng.integers(0, 256, (steps, 24, 16, 3), dtype=np.uint8),
            'joints': rng.normal(size=(steps, 4)).astype(np.float32),
            'button': rng.integers(0, 2, (steps, 1)).astype(np.int64)},
        actions=rng.normal(size=(steps, 3)).astype(np.float32),
        task=task, instruction=instruction, success=success)


def test_spec_describes_episode_and_round_trips_through_json():
    """Episode.spec() gives kinds and shapes; to_dict/from_dict survive JSON."""
    spec = make_episode().spec()
    assert spec.observations == {
        'button': TensorSpec('discrete', (1,)), 'image': TensorSpec('image', (24, 16, 3)),
        'joints': TensorSpec('continuous', (4,))}
    assert spec.action == TensorSpec('continuous', (3,)) and spec.action_dim == 3
    assert EpisodeSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(ValueError, match='invalid episode spec'):
        EpisodeSpec.from_dict({'task': 'x'})


def test_spec_validates_one_timestep():
    """Observation and action checks name the key and the expected value."""
    episode = make_episode()
    spec = episode.spec()
    spec.validate_observation(episode.observation(1))
    spec.validate_action(episode.actions[1])
    with pytest.raises(ValueError, match=r'expected observation keys \[.button'):
        spec.validate_observation({'joints': np.zeros(4, np.float32)})
    with pytest.raises(ValueError, match=r'expected shape \(3,\), got \(2,\)'):
        spec.validate_action(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match='expected a continuous value, got a discrete'):
        spec.validate_action(np.zeros(3, np.int64))


def test_npz_round_trip(tmp_path):
    """Save then load gives the same arrays, dtypes and metadata, without pickle."""
    for episode in (make_episode(), make_episode(2, instruction=None, success=None)):
        path = tmp_path / f'{len(episode)}.npz'
        episode.save(path)
        with np.load(path, allow_pickle=False) as data:
            assert all(data[name].dtype != object for name in data.files)
        loaded = Episode.load(path)
        assert (loaded.task, loaded.instruction, loaded.success) == (
            episode.task, episode.instruction, episode.success)
        assert loaded.observations.keys() == episode.observations.keys()
        for key, value in episode.observations.items():
            assert loaded.observations[key].dtype == value.dtype
            np.testing.assert_array_equal(loaded.observations[key], value)
        np.testing.assert_array_equal(loaded.actions, episode.actions)
    assert [len(item) for item in load_episodes(tmp_path)] == [2, 3]


def test_load_bad_files(tmp_path):
    """Missing files raise FileNotFoundError; foreign npz files raise ValueError."""
    with pytest.raises(FileNotFoundError, match='episode file'):
        Episode.load(tmp_path / 'missing.npz')
    np.savez(tmp_path / 'other.npz', x=np.zeros(3))
    with pytest.raises(ValueError, match='not a gato_ros episode'):
        Episode.load(tmp_path / 'other.npz')
    with pytest.raises(FileNotFoundError, match='no'):
        load_episodes(tmp_path / 'missing_dir')


def replace_entry(key, value):
    """Return the observations and actions of a valid episode with one entry replaced.

    Args:
        key: observation key, or 'actions'.
        value: the new array.

    Returns:
        Keyword arguments for Episode.
    """
    episode = make_episode()
    fields = {'observations': dict(episode.observations), 'actions': episode.actions,
              'task': 'push'}
    if key == 'actions':
        fields['actions'] = value
    else:
        fields['observations'][key] = value
    return fields


@pytest.mark.parametrize('key, value, message', [
    ('actions', np.zeros((0, 3), np.float32), 'T = 0'),
    ('actions', np.zeros(3, np.float32), r'\(T, A\)'),
    ('actions', np.full((3, 3), np.nan, np.float32), 'finite'),
    ('joints', np.zeros((2, 4), np.float32), 'has 2 timesteps, expected 3'),
    ('joints', np.full((3, 4), np.inf, np.float32), 'finite'),
    ('joints', np.zeros((3, 4, 2), np.float32), 'uint8'),
    ('image', np.zeros((3, 24, 16, 3), np.float32), 'uint8'),
    ('image', np.zeros((3, 24, 16, 4), np.uint8), r'\(H, W, 3\)'),
    ('button', np.full((3, 1), -1, np.int64), '>= 0'),
    ('button', np.zeros((3, 1), bool), 'float or integer'),
    (ACTION_KEY, np.zeros((3, 1), np.float32), 'reserved'),
])
def test_episode_rejects_bad_input(key, value, message):
    """Bad shapes, dtypes, values and lengths raise ValueError naming what was expected."""
    with pytest.raises(ValueError, match=message):
        Episode(**replace_entry(key, value))


def test_episode_rejects_bad_metadata():
    """Empty task, non-string instruction and empty observations raise ValueError."""
    fields = replace_entry('actions', np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match='task'):
        Episode(**{**fields, 'task': ''})
    with pytest.raises(ValueError, match='instruction'):
        Episode(**fields, instruction=3)
    with pytest.raises(ValueError, match='at least one observation'):
        Episode(**{**fields, 'observations': {}})
    with pytest.raises(ValueError, match='dict of arrays'):
        Episode(**{**fields, 'observations': [np.zeros((3, 2))]})


def test_normalizer_fit_standardizes_per_task_and_dimension():
    """Fitted statistics give zero mean and unit std; constant dimensions use min_std."""
    push = make_episode(50)
    push.observations['joints'][:, 3] = 2.0
    reach = make_episode(40, task='reach')
    normalizer = Normalizer.fit([push, reach], min_std=0.01)
    assert normalizer.groups == ['push', 'reach']
    assert sorted(normalizer.stats['push']) == [ACTION_KEY, 'joints']
    standardized = normalizer.normalize('push', 'joints', push.observations['joints'])
    np.testing.assert_allclose(standardized[:, :3].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(standardized[:, :3].std(axis=0), 1.0, atol=1e-5)
    assert normalizer.stats['push']['joints']['std'][3] == 0.01
    np.testing.assert_allclose(standardized[:, 3], 0.0)
    actions = normalizer.normalize('reach', ACTION_KEY, reach.actions)
    np.testing.assert_allclose(normalizer.denormalize('reach', ACTION_KEY, actions),
                               reach.actions, atol=1e-5)


def test_normalizer_json_round_trip_and_errors():
    """to_dict/from_dict survive JSON; unknown task, key or dimension raise ValueError."""
    normalizer = Normalizer.fit([make_episode(5)])
    restored = Normalizer.from_dict(json.loads(json.dumps(normalizer.to_dict())))
    assert restored == normalizer
    with pytest.raises(ValueError, match="task 'reach'"):
        restored.normalize('reach', 'joints', np.zeros(4))
    with pytest.raises(ValueError, match="key 'image'"):
        restored.normalize('push', 'image', np.zeros(4))
    with pytest.raises(ValueError, match='expected 4 dimensions, got 5'):
        restored.normalize('push', 'joints', np.zeros(5))
    with pytest.raises(ValueError, match='at least one episode'):
        Normalizer.fit([])
    with pytest.raises(ValueError, match='min_std'):
        Normalizer(min_std=0.0)
    with pytest.raises(ValueError, match="'stats'"):
        Normalizer.from_dict({})
    with pytest.raises(ValueError, match='group_by'):
        Normalizer(group_by='arm')


def test_normalizer_grouped_by_embodiment_shares_statistics_across_tasks():
    """Tasks of one arm share pooled statistics, which also cover its unseen tasks."""
    reach, push = make_episode(30, task='panda/reach'), make_episode(20, task='panda/push')
    other = make_episode(10, task='ur5e/reach')
    normalizer = Normalizer.fit([reach, push, other], group_by='embodiment')
    assert normalizer.groups == ['panda', 'ur5e']
    pooled = np.concatenate([reach.actions, push.actions])
    np.testing.assert_allclose(normalizer.stats['panda'][ACTION_KEY]['mean'],
                               pooled.mean(axis=0), atol=1e-6)
    assert normalizer.covers('panda/stack') and not normalizer.covers('fr3/reach')
    np.testing.assert_allclose(normalizer.normalize('panda/stack', ACTION_KEY, pooled),
                               normalizer.normalize('panda/reach', ACTION_KEY, pooled))
    with pytest.raises(ValueError, match="group 'fr3'"):
        normalizer.normalize('fr3/reach', ACTION_KEY, pooled)
    restored = Normalizer.from_dict(json.loads(json.dumps(normalizer.to_dict())))
    assert restored == normalizer and restored.group_of('panda/x') == 'panda'


def test_normalizer_gives_each_kind_of_output_of_an_arm_its_own_statistics():
    """Localization labels ('<arm>/locate/<task>') never mix with the arm's joint actions."""
    lift = Episode({'joints': np.zeros((2, 3), np.float32)}, np.ones((2, 8), np.float32),
                   'panda/lift_block')
    locate = Episode({'joints': np.zeros((1, 3), np.float32)}, np.full((1, 3), 4.0, np.float32),
                     'panda/locate/lift_block')
    normalizer = Normalizer.fit([lift, locate], group_by='embodiment')
    assert normalizer.groups == ['panda', 'panda/locate']
    assert normalizer.stats['panda/locate'][ACTION_KEY]['mean'] == [4.0] * 3
    assert normalizer.group_of('panda/locate/press_button') == 'panda/locate'


def test_normalizer_refuses_tasks_of_one_group_with_other_sizes():
    """Tasks of one arm whose actions have other sizes cannot share statistics."""
    lift = Episode({'joints': np.zeros((2, 3), np.float32)}, np.zeros((2, 8), np.float32),
                   'panda/lift_block')
    point = Episode({'joints': np.zeros((1, 3), np.float32)}, np.zeros((1, 3), np.float32),
                    'panda/point')
    with pytest.raises(ValueError, match=r"tasks 'panda/lift_block' and "
                       r"'panda/point' share the statistics of 'panda' but their "
                       r"'action' values have shapes \(8,\) and \(3,\): normalize by task"):
        Normalizer.fit([lift, point], group_by='embodiment')
    assert Normalizer.fit([lift, point], group_by='task').groups == [
        'panda/lift_block', 'panda/point']


def test_normalizer_without_group_by_field_reads_as_per_task():
    """Statistics saved before grouping existed load as per-task statistics."""
    data = Normalizer.fit([make_episode(5)]).to_dict()
    del data['group_by']
    assert Normalizer.from_dict(data).group_by == 'task'


def test_task_names_say_the_action_space():
    """Twist episodes are <arm>/twist/<task>, a family of their own; joint ones <arm>/<task>."""
    assert episode_task_name('panda', 'lift_block') == 'panda/lift_block'
    twist = episode_task_name('panda', 'lift_block', 'twist')
    assert twist == 'panda/twist/lift_block' and task_family(twist) == 'panda/twist'
    assert action_space_of(twist) == 'twist'
    assert action_space_of('panda/lift_block') == 'joint'
    assert action_space_of('panda/locate/lift_block') == 'joint'
    with pytest.raises(ValueError, match='action_space'):
        episode_task_name('panda', 'lift_block', 'pose')
    twist_checkpoint = ['panda/twist/lift_block', 'panda/locate/lift_block', 'ur5e/lift_block']
    assert arm_action_space(twist_checkpoint, 'panda') == 'twist'
    assert arm_action_space(twist_checkpoint, 'ur5e') == 'joint'
    assert arm_action_space(['panda/lift_block', 'panda/twist/push_block'], 'panda') == 'joint'
