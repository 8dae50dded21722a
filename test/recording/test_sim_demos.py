"""Tests of gato_ros.recording.sim_demos: expert demonstrations and DAgger rounds."""

from types import SimpleNamespace

from gato_ros.data import Episode
from gato_ros.policy import GatoPolicy
from gato_ros.recording.sim_demos import (collect_demonstrations, DemoConfig,
                                          ExpertLabelledRollout, motion_cosines,
                                          policy_reads_wrist_image)
from gato_ros.sim.arms import load_arm
from gato_ros.sim.experts import ExpertConfig, make_expert
from gato_ros.sim.rollout import run_episode
from gato_ros.sim.scene import ArmSim
from gato_ros.training import train, TrainConfig
import numpy as np
import pytest

pytestmark = [pytest.mark.sim, pytest.mark.usefixtures('one_torch_thread')]


class StillPolicy:
    """A stand-in for GatoPolicy that holds the arm still and notes what it was given."""

    def __init__(self, action_dim):
        self.action_dim = action_dim
        self.resets, self.observations = [], []

    def task_spec(self, task):
        """Observe the scene camera and the joints."""
        return SimpleNamespace(observations={'image': None, 'joints': None})

    def reset(self, task, instruction):
        """Note the new episode."""
        self.resets.append((task, instruction))

    def select_action(self, observation):
        """Note the observation; command zero joint deltas and an open gripper."""
        self.observations.append(observation)
        return np.append(np.zeros(self.action_dim - 1), 1.0).astype(np.float32)


def test_the_policy_drives_and_the_expert_labels():
    """A DAgger step executes the policy's action and records the expert's."""
    with ArmSim('panda') as sim:
        policy = StillPolicy(len(sim.joint_names))
        rollout = ExpertLabelledRollout(policy, make_expert('reach_target'),
                                        'panda/reach_target', (32, 32))
        result = run_episode(sim, rollout.label, 'reach_target', 5, record=True,
                             perturb=rollout.execute, max_steps=6)
    assert policy.resets == [('panda/reach_target', result.instruction)]
    assert [sorted(o) for o in policy.observations] == [['image', 'joints']] * 6
    assert policy.observations[0]['image'].shape == (32, 32, 3)
    # The expert asks for motion every step; the arm, held still, never gets closer.
    recorded = np.array(result.actions)
    assert np.all(np.abs(recorded[:, :-1]).max(axis=1) > 1e-3)
    joints = np.array([o['joints'] for o in result.observations])
    np.testing.assert_allclose(joints[-1, :-1], joints[0, :-1], atol=1e-3)
    assert not result.success
    # Standing still is no motion at all: agreement 0 at each of the six steps.
    assert rollout.cosines == [{'joint': 0.0}] * 6


def test_joint_motion_cosine_ignores_the_gripper():
    """Same motion 1, opposite -1, none 0; the gripper command does not count."""
    assert motion_cosines([1.0, 2.0, 0.0], [2.0, 4.0, 1.0]) == {'joint': pytest.approx(1.0)}
    assert motion_cosines([1.0, 0.0, 1.0], [-3.0, 0.0, 0.0]) == {'joint': pytest.approx(-1.0)}
    assert motion_cosines([0.0, 0.0, 1.0], [1.0, 0.0, 0.0]) == {'joint': 0.0}


def test_twist_cosines_keep_linear_and_angular_motion_apart():
    """A large rotation the policy misses does not hide that it moves the tool the right way."""
    policy = [0.1, 0.0, 0.0, 0.0, 0.0, 0.01, 1.0]
    expert = [0.2, 0.0, 0.0, 0.0, 0.0, -2.0, 0.0]
    assert motion_cosines(policy, expert, 'twist') == {'linear': pytest.approx(1.0),
                                                       'angular': pytest.approx(-1.0)}
    # One cosine over all six values would say the motions are almost unrelated.
    assert abs(motion_cosines(policy, expert)['joint']) < 0.1


class ExpertCopy(StillPolicy):
    """A policy that answers what the expert would: full agreement."""

    def __init__(self, expert):
        self.expert, self.sim = expert, None

    def reset(self, task, instruction):
        """Nothing to forget."""

    def select_action(self, observation):
        """Return the expert's action for the simulator's current state."""
        return self.expert(self.sim.observation(include_image=False), self.sim)


@pytest.mark.parametrize('action_space', ['joint', 'twist'])
def test_a_policy_that_acts_like_the_expert_agrees_fully(action_space):
    """Every step's cosine is 1 and the expert's task succeeds under the policy's drive."""
    config = ExpertConfig(action_space=action_space)
    with ArmSim('panda') as sim:
        policy = ExpertCopy(make_expert('reach_target', config))
        policy.sim = sim
        rollout = ExpertLabelledRollout(policy, make_expert('reach_target', config),
                                        'panda/reach_target', (32, 32), action_space)
        result = run_episode(sim, rollout.label, 'reach_target', 5, perturb=rollout.execute,
                             action_space=action_space)
    assert result.success
    translation = 'joint' if action_space == 'joint' else 'linear'
    assert [step[translation] for step in rollout.cosines] == pytest.approx([1.0] * result.steps)
    # A twist expert asks for no rotation once the tool is aligned: the part is then 0.
    assert all(step.get('angular', 1.0) == pytest.approx(1.0) or step['angular'] == 0.0
               for step in rollout.cosines)


def test_collects_expert_episodes_then_a_dagger_round_that_keeps_failures(tmp_path):
    """Expert collection keeps successes; a checkpoint's round keeps every episode."""
    config = DemoConfig(arm='panda', tasks=('reach_target',), episodes_per_task=2)
    counts = collect_demonstrations(config, tmp_path / 'expert', progress=False)
    assert counts == {'reach_target': {'kept': 2, 'failed': 0}}
    demos = [Episode.load(path) for path in sorted((tmp_path / 'expert').glob('*.npz'))]
    assert [(e.task, e.success) for e in demos] == [('panda/reach_target', True)] * 2
    assert demos[0].observations['image'].shape[1:] == (64, 64, 3)
    untrained = train(demos, TrainConfig(output_dir=str(tmp_path / 'ckpt'), preset='gato-test',
                                         max_steps=1, val_fraction=0.0, eval_every=0,
                                         progress=False))
    assert not policy_reads_wrist_image(GatoPolicy.from_pretrained(untrained),
                                        ['panda/reach_target'])
    dagger = DemoConfig(arm='panda', tasks=('reach_target',), episodes_per_task=2,
                        first_seed=50, policy_checkpoint=str(untrained))
    counts = collect_demonstrations(dagger, tmp_path / 'dagger', progress=False)
    assert counts['reach_target']['kept'] == 2
    assert -1.0 <= counts['reach_target']['expert_cosines']['joint'] <= 1.0
    assert 'expert_cosines' not in collect_demonstrations(
        config, tmp_path / 'again', progress=False)['reach_target']
    episodes = [Episode.load(path) for path in sorted((tmp_path / 'dagger').glob('*.npz'))]
    assert sum(not e.success for e in episodes) == counts['reach_target']['failed']
    # An untrained policy wanders until the time limit: 8 s at 10 Hz.
    assert [len(e) for e in episodes] == [80, 80]
    # A new task of the trained arm is accepted (per-embodiment statistics), another arm not.
    with pytest.raises(ValueError, match='unknown task'):
        collect_demonstrations(DemoConfig(arm='ur5e', tasks=('reach_target',),
                                          episodes_per_task=1,
                                          policy_checkpoint=str(untrained)), tmp_path / 'x',
                               progress=False)


def test_start_noise_sets_how_far_episodes_start_from_home(tmp_path):
    """No noise starts every episode at the home pose; wider noise moves it up to its bound."""
    home = np.array(load_arm('panda').home_positions[:-1])
    deviations = {}
    for noise in (0.0, 0.3):
        config = DemoConfig(arm='panda', tasks=('reach_target',), episodes_per_task=2,
                            start_noise_rad=noise)
        collect_demonstrations(config, tmp_path / str(noise), progress=False)
        episodes = [Episode.load(path) for path in sorted((tmp_path / str(noise)).glob('*'))]
        first = np.array([e.observations['joints'][0][:-1] for e in episodes])
        deviations[noise] = np.abs(first - home).max()
    assert deviations[0.0] < 1e-4
    assert 0.1 < deviations[0.3] <= 0.3 + 1e-4
    with pytest.raises(ValueError, match='start_noise_rad'):
        collect_demonstrations(DemoConfig(arm='panda', tasks=('reach_target',),
                                          episodes_per_task=1, start_noise_rad=-0.1),
                               tmp_path / 'bad', progress=False)


def test_twist_demonstrations_and_a_twist_policys_round(tmp_path):
    """Twist episodes are <arm>/twist/<task> with 6 + 1 actions; a twist checkpoint drives."""
    config = DemoConfig(arm='panda', tasks=('reach_target',), episodes_per_task=2,
                        action_noise=0.03, action_space='twist')
    assert collect_demonstrations(config, tmp_path / 'expert', progress=False) == {
        'reach_target': {'kept': 2, 'failed': 0}}
    demos = [Episode.load(path) for path in sorted((tmp_path / 'expert').glob('*.npz'))]
    assert [e.task for e in demos] == ['panda/twist/reach_target'] * 2
    assert demos[0].actions.shape[1] == 7 and demos[0].observations['joints'].shape[1] == 8
    assert np.abs(demos[0].actions[:, :3]).max() <= 0.3 + 1e-6
    untrained = train(demos, TrainConfig(output_dir=str(tmp_path / 'ckpt'), preset='gato-test',
                                         max_steps=1, val_fraction=0.0, eval_every=0,
                                         progress=False))
    dagger = DemoConfig(arm='panda', tasks=('reach_target',), episodes_per_task=1,
                        first_seed=50, policy_checkpoint=str(untrained), action_space='twist')
    assert collect_demonstrations(dagger, tmp_path / 'dagger', progress=False)[
        'reach_target']['kept'] == 1
    episode = Episode.load(next((tmp_path / 'dagger').glob('*.npz')))
    assert episode.task == 'panda/twist/reach_target' and len(episode) == 80
    # The checkpoint knows no joint-delta task: asked for one, it refuses.
    with pytest.raises(ValueError, match='unknown task'):
        collect_demonstrations(DemoConfig(arm='panda', tasks=('reach_target',),
                                          episodes_per_task=1,
                                          policy_checkpoint=str(untrained)), tmp_path / 'x',
                               progress=False)


def test_wrist_camera_demonstrations_and_a_wrist_policys_round(tmp_path):
    """--wrist-camera episodes hold image_wrist; a checkpoint trained on them gets it back."""
    config = DemoConfig(arm='ur5e', tasks=('lift_block',), episodes_per_task=1,
                        wrist_camera=True)
    collect_demonstrations(config, tmp_path / 'expert', progress=False)
    (demo,) = [Episode.load(path) for path in (tmp_path / 'expert').glob('*.npz')]
    scene, wrist = demo.observations['image'], demo.observations['image_wrist']
    assert wrist.shape == scene.shape == (len(demo), 64, 64, 3)
    assert np.abs(wrist.astype(int) - scene.astype(int)).mean() > 10  # another view
    untrained = train([demo], TrainConfig(output_dir=str(tmp_path / 'ckpt'), preset='gato-test',
                                          max_steps=1, val_fraction=0.0, eval_every=0,
                                          progress=False))
    assert policy_reads_wrist_image(GatoPolicy.from_pretrained(untrained), ['ur5e/lift_block'])
    dagger = DemoConfig(arm='ur5e', tasks=('lift_block',), episodes_per_task=1, first_seed=50,
                        policy_checkpoint=str(untrained))
    collect_demonstrations(dagger, tmp_path / 'dagger', progress=False)
    (episode,) = [Episode.load(path) for path in (tmp_path / 'dagger').glob('*.npz')]
    assert sorted(episode.observations) == ['image', 'image_wrist', 'joints']
