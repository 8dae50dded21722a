"""Tests of gato_ros.recording.localization: start scenes labelled with the goal's offset."""

from gato_ros.cli import main
from gato_ros.data import Episode
from gato_ros.recording.localization import (collect_localization_scenes, expert_steps_of,
                                             localization_task_name, LocalizationConfig)
from gato_ros.recording.sim_demos import collect_demonstrations, DemoConfig
from gato_ros.sim.experts import ExpertConfig, make_expert
from gato_ros.sim.rollout import run_episode
from gato_ros.sim.scene import ArmSim, SceneConfig
import numpy as np
import pytest

pytestmark = pytest.mark.sim

# The object each task's instruction points the tool at (written out, not read from the task).
INSTRUCTED_OBJECT = {'lift_block': 'block', 'pick_place': 'block', 'press_button': 'button_0',
                     'push_block': 'block', 'reach_target': 'target_0',
                     'stack_blocks': 'block_top'}


def _load(folder):
    return [Episode.load(path) for path in sorted(folder.glob('*.npz'))]


def test_each_scene_is_labelled_with_where_the_instructed_object_is(tmp_path):
    """One timestep per seed; the label is (object - tool) x 5, distractors ignored."""
    config = LocalizationConfig(arm='ur5e', tasks=tuple(INSTRUCTED_OBJECT), scenes_per_task=2,
                                first_seed=7)
    assert collect_localization_scenes(config, tmp_path, progress=False) == dict.fromkeys(
        INSTRUCTED_OBJECT, 2)
    scenes = _load(tmp_path)
    assert len(scenes) == 12 and all(len(scene) == 1 for scene in scenes)
    with ArmSim('ur5e') as sim:
        for scene, (task, seed) in zip(scenes, sorted(
                (task, seed) for task in INSTRUCTED_OBJECT for seed in (7, 8))):
            sim.reset(task, seed)
            expected = 5 * (sim.body_position(INSTRUCTED_OBJECT[task]) - sim.tcp_position())
            assert scene.task == localization_task_name('ur5e', task) == f'ur5e/locate/{task}'
            assert scene.instruction == 'locate: ' + sim.instruction
            np.testing.assert_allclose(scene.actions[0], expected, atol=1e-5)
    labels = np.array([scene.actions[0] for scene in scenes])
    assert labels.std(axis=0)[:2].min() > 0.1  # the objects move from scene to scene


def test_a_scene_shows_what_the_policy_sees_when_that_episode_starts(tmp_path):
    """Same seed, pixels, joints and (asked to locate) instruction as the demonstration's start."""
    collect_localization_scenes(LocalizationConfig(arm='panda', tasks=('lift_block',),
                                                   scenes_per_task=1),
                                tmp_path / 'scenes', progress=False)
    collect_demonstrations(DemoConfig(arm='panda', tasks=('lift_block',), episodes_per_task=1),
                           tmp_path / 'demos', progress=False)
    (scene,), (demo,) = _load(tmp_path / 'scenes'), _load(tmp_path / 'demos')
    np.testing.assert_array_equal(scene.observations['image'][0], demo.observations['image'][0])
    np.testing.assert_allclose(scene.observations['joints'][0], demo.observations['joints'][0])
    assert scene.instruction == 'locate: ' + demo.instruction


def _yaw_turned_by_the_expert(sim, task, seed, steps, after_steps=0):
    """Run the task's twist expert; return how far the tool turned about z after some steps.

    Also returns the joints after ``after_steps`` steps (None if the episode ended before).
    """
    expert = make_expert(task, ExpertConfig(action_space='twist'))
    yaws, joints = [], [None]

    def act(observation, sim):
        rotation = sim.tcp_rotation()
        yaws.append(np.arctan2(rotation[1, 0], rotation[0, 0]))
        if len(yaws) == after_steps + 1:
            joints[0] = observation['joints']
        return expert.act(sim)

    run_episode(sim, act, task, seed, max_steps=after_steps + steps, include_images=False,
                action_space='twist')
    turned = np.angle(np.exp(1j * np.diff(yaws[after_steps:])))  # unwrapped
    return float(np.sum(turned)), joints[0]


def test_the_turn_label_is_how_far_the_expert_then_turns_the_tool(tmp_path):
    """Turn scenes: the same start as the offset scene, labelled with the expert's yaw turn."""
    tasks = ('push_block', 'stack_blocks', 'reach_target')
    config = LocalizationConfig(arm='panda', tasks=tasks, scenes_per_task=3, first_seed=20,
                                start_noise_rad=0.25, label='turn')
    collect_localization_scenes(config, tmp_path / 'turn', progress=False)
    collect_localization_scenes(LocalizationConfig(
        arm='panda', tasks=tasks, scenes_per_task=3, first_seed=20, start_noise_rad=0.25),
        tmp_path / 'offset', progress=False)
    scenes, offsets = _load(tmp_path / 'turn'), _load(tmp_path / 'offset')
    assert len(scenes) == 9
    with ArmSim('panda', config=SceneConfig(home_noise_rad=0.25)) as sim:
        for scene, offset, (task, seed) in zip(scenes, offsets, sorted(
                (task, seed) for task in tasks for seed in (20, 21, 22))):
            assert scene.task == localization_task_name('panda', task, 'turn')
            assert scene.task == f'panda/turn/{task}'
            assert scene.instruction == 'turn: ' + offset.instruction[len('locate: '):]
            np.testing.assert_array_equal(scene.observations['image'],
                                          offset.observations['image'])
            assert scene.actions.shape == (1, 1)
            turned, _ = _yaw_turned_by_the_expert(sim, task, seed, steps=20)
            assert scene.actions[0, 0] == pytest.approx(turned, abs=0.02), (task, seed)
    pushes = [scene.actions[0, 0] for scene in scenes if scene.task.endswith('push_block')]
    assert max(abs(turn) for turn in pushes) > 0.3  # the push expert really turns


def test_turning_left_the_push_turn_label_is_the_counterclockwise_turn(tmp_path):
    """Turning left, the label is the folded turn, plus a half turn where that is negative."""
    labels = {}
    for turn in ('folded', 'left'):
        config = LocalizationConfig(arm='ur5e', tasks=('push_block',), scenes_per_task=4,
                                    first_seed=2, label='turn', push_turn=turn)
        collect_localization_scenes(config, tmp_path / turn, progress=False)
        labels[turn] = np.array([scene.actions[0, 0] for scene in _load(tmp_path / turn)])
    assert labels['folded'].min() < -0.5  # seeds 2-5 turn clockwise, folded
    np.testing.assert_allclose(labels['left'], np.where(labels['folded'] < -0.15,
                                                        labels['folded'] + np.pi,
                                                        labels['folded']), atol=1e-5)


def test_expert_steps_take_scenes_part_way_labelled_with_the_turn_still_to_make(tmp_path):
    """After k expert steps (k from the seed) the label is the turn the expert then makes."""
    tasks = ('push_block', 'stack_blocks')
    config = LocalizationConfig(arm='ur5e', tasks=tasks, scenes_per_task=4, first_seed=30,
                                start_noise_rad=0.25, label='turn', expert_steps=8)
    collect_localization_scenes(config, tmp_path, progress=False)
    scenes = _load(tmp_path)
    steps = [expert_steps_of(seed, 8) for seed in range(30, 34)]
    assert 0 < max(steps) <= 8 and len(set(steps)) > 1  # the seeds draw different steps
    moved = []
    with ArmSim('ur5e', config=SceneConfig(home_noise_rad=0.25)) as sim:
        for scene, (task, seed) in zip(scenes, sorted(
                (task, seed) for task in tasks for seed in range(30, 34))):
            after = expert_steps_of(seed, 8)
            turned, joints = _yaw_turned_by_the_expert(sim, task, seed, 20, after)
            assert scene.actions[0, 0] == pytest.approx(turned, abs=0.02), (task, seed)
            np.testing.assert_allclose(scene.observations['joints'][0], joints, atol=1e-5)
            sim.reset(task, seed)
            moved.append(np.abs(joints - sim.observation()['joints']).max())
    assert max(moved) > 0.05  # part-way scenes: the arm is no longer where it started


@pytest.mark.parametrize('field, value, message', [
    ('scenes_per_task', 0, 'scenes_per_task must be >= 1'),
    ('start_noise_rad', 4.0, r'start_noise_rad must be in \[0, pi\]')])
def test_bad_settings_are_refused(tmp_path, field, value, message):
    """Nothing is written when a setting cannot make scenes."""
    config = LocalizationConfig(**{'arm': 'panda', 'tasks': ('reach_target',),
                                   'scenes_per_task': 1, field: value})
    with pytest.raises(ValueError, match=message):
        collect_localization_scenes(config, tmp_path / 'out', progress=False)
    assert not (tmp_path / 'out').exists()


def test_the_collect_command_writes_scenes_and_refuses_demonstration_options(tmp_path, capsys):
    """Collecting with --localization: start scenes only; a policy, noise or twists refused."""
    common = ['collect', '--localization', '--arm', 'panda', '--tasks', 'push_block',
              '--episodes', '2', '--start-noise', '0.25']
    assert main(common + ['--out', str(tmp_path / 'ok')]) == 0
    assert 'panda/push_block: 2 localization scenes' in capsys.readouterr().out
    assert [scene.task for scene in _load(tmp_path / 'ok')] == ['panda/locate/push_block'] * 2
    assert main(common + ['--action-noise', '0.03', '--out', str(tmp_path / 'bad')]) == 2
    assert ('no --policy-checkpoint, --action-noise(-correlation-s), --action-space or '
            '--wrist-camera' in capsys.readouterr().out)
    assert main(common + ['--action-noise-correlation-s', '1', '--out',
                          str(tmp_path / 'bad')]) == 2
    assert main(common + ['--action-space', 'twist', '--out', str(tmp_path / 'bad')]) == 2
    assert main(common + ['--wrist-camera', '--out', str(tmp_path / 'bad')]) == 2
    assert not (tmp_path / 'bad').exists()


def test_the_collect_command_writes_turn_scenes_only_with_localization(tmp_path, capsys):
    """--localization-label turn writes turn scenes; on demonstrations it is refused."""
    common = ['collect', '--arm', 'ur5e', '--tasks', 'push_block', '--episodes', '1',
              '--localization-label', 'turn']
    assert main(common + ['--localization', '--out', str(tmp_path / 'ok')]) == 0
    assert 'ur5e/push_block: 1 localization scenes (turn)' in capsys.readouterr().out
    assert [scene.task for scene in _load(tmp_path / 'ok')] == ['ur5e/turn/push_block']
    assert main(common + ['--out', str(tmp_path / 'bad')]) == 2
    assert 'give --localization too' in capsys.readouterr().out
    assert main(common[:-2] + ['--localization-expert-steps', '5', '--out',
                               str(tmp_path / 'bad')]) == 2
    assert 'give --localization too' in capsys.readouterr().out
    assert not (tmp_path / 'bad').exists()


@pytest.mark.parametrize('field, value, message', [
    ('label', 'yaw', r"label must be one of \['offset', 'turn'\]"),
    ('expert_steps', -1, 'expert_steps must be >= 0')])
def test_an_unknown_label_or_negative_expert_steps_is_refused(field, value, message):
    """The label names what the scenes teach; a typo must not fall back to the offset."""
    with pytest.raises(ValueError, match=message):
        LocalizationConfig(**{'arm': 'panda', 'tasks': ('push_block',), 'scenes_per_task': 1,
                              field: value})
