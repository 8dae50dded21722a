"""End-to-end evaluation through the ROS graph: simulator and agent processes over Fast DDS."""

from dataclasses import replace
import json
from pathlib import Path

from gato_ros.data import arm_action_space
from gato_ros.evaluation.report import EpisodeRecord
from gato_ros.evaluation.runner import (
    check_config, checkpoint_reads_wrist_image, checkpoint_tasks, EvalConfig, evaluate,
    GraphSession, run_tasks)
from gato_ros.recording.dataset import load_dataset
from gato_ros.recording.sim_demos import collect_demonstrations, DemoConfig
from gato_ros.training import train, TrainConfig
import pytest
import yaml

DEMO_CHECKPOINT = Path(__file__).resolve().parents[2] / 'checkpoints' / 'demo'

pytestmark = [pytest.mark.dds, pytest.mark.sim]


def test_expert_drives_the_simulator_through_the_topics(tmp_path):
    """The scripted expert, relayed by the inference node to the trajectory topic, succeeds."""
    config = EvalConfig(arm='panda', tasks=('reach_target', 'press_button'), episodes=1,
                        policy='expert', out_dir=str(tmp_path), record_first_episode=True)
    partial = []
    report, frames = evaluate(config, progress=lambda line: None, on_task_done=partial.append)
    assert [list(p['tasks']) for p in partial] == [['reach_target'],
                                                   ['press_button', 'reach_target']]
    assert [p['unfinished_tasks'] for p in partial] == [['press_button'], []]
    assert partial[-1] == report
    assert [r['success'] for r in report['episodes']] == [True, True]
    assert all(r['commands'] > 3 for r in report['episodes'])
    assert report['overall']['control_hz'] == pytest.approx(10.0, rel=0.3)
    assert report['overall']['latency_ms_p50'] > 0.0
    assert frames['reach_target'][0].shape == (128, 128, 3)


def test_twist_expert_drives_the_arms_cartesian_interface_through_the_topics(tmp_path):
    """In twist mode the relayed expert's twists and gripper commands lift the block."""
    config = EvalConfig(arm='ur5e', tasks=('lift_block',), episodes=1, policy='expert',
                        out_dir=str(tmp_path), action_space='twist')
    report, _ = evaluate(config, progress=lambda line: None)
    episode = report['episodes'][0]
    assert episode['success'] and episode['commands'] > 3
    params = (tmp_path / 'logs' / 'graph_params.yaml').read_text()
    assert 'mode: servo' in params and 'expert_action_space: twist' in params


@pytest.mark.parametrize('action_space, baselines', [
    ('joint', {'expert': 1.0, 'random': 0.0, 'random_twist': 0.9}),
    ('twist', {'expert_twist': 1.0, 'random_twist': 0.0, 'random': 0.9})])
def test_random_policy_moves_the_arm_but_does_not_succeed(tmp_path, action_space, baselines):
    """Random actions reach the arm (commands flow) yet do not lift a block.

    Random twists are scored against the twist baselines, random joint deltas against the
    joint ones: the other interface's random rate (0.9) is a decoy.
    """
    config = EvalConfig(arm='ur5e', tasks=('lift_block',), episodes=1, policy='random',
                        out_dir=str(tmp_path), action_space=action_space,
                        baselines={'ur5e': {'lift_block': baselines}})
    report, _ = evaluate(config, progress=lambda line: None)
    episode = report['episodes'][0]
    assert not episode['success'] and episode['commands'] > 50
    assert report['action_space'] == action_space
    assert report['tasks']['lift_block']['normalized_score'] == 0.0


class _StallingDriver:
    """Stands in for the episode driver: succeeds in reach_target, times out after it."""

    def set_task(self, task):
        self.task = task

    def run_episode(self, task, seed, time_limit_s, record_frames=False):
        if task != 'reach_target':
            raise TimeoutError('timed out after 120 s waiting for the agent to compute actions')
        return EpisodeRecord(task=task, seed=seed, success=True, duration_s=1.5, commands=15)

    def timing(self):
        return {'control_hz': 10.0, 'latency_ms_p50': 30.0, 'latency_ms_p99': 60.0}


class _LiveGraph:
    """Stands in for a graph whose processes all run."""

    def check_alive(self):
        pass


def test_tasks_finished_before_a_failure_are_reported(tmp_path):
    """A task that stops the run (graph timeout) leaves the finished tasks' report behind."""
    _write_spec(tmp_path, 'embodiment')
    config = EvalConfig(arm='panda', tasks=('reach_target', 'press_button', 'lift_block'),
                        episodes=2, checkpoint_path=str(tmp_path))
    session = GraphSession(graph=_LiveGraph(), node=None, executor=None,
                           driver=_StallingDriver())
    partial = []
    with pytest.raises(TimeoutError, match='compute actions'):
        run_tasks(session, config, {}, {}, progress=lambda line: None,
                  on_task_done=partial.append)
    assert session.driver.task == 'panda/press_button'
    [report] = partial
    assert report['unfinished_tasks'] == ['press_button', 'lift_block']
    assert list(report['tasks']) == ['reach_target']
    assert report['tasks']['reach_target']['episodes'] == 2
    assert [e['seed'] for e in report['episodes']] == [100_000, 100_001]


def _write_spec(folder, group_by):
    stats = {'panda/reach_target' if group_by == 'task' else 'panda': {}}
    (folder / 'gato_spec.json').write_text(json.dumps({
        'tasks': {'panda/reach_target': {}},
        'normalizer': {'min_std': 0.001, 'group_by': group_by, 'stats': stats}}))


def test_a_checkpoint_without_the_task_is_refused_before_starting(tmp_path):
    """Asking for a task the checkpoint cannot act in fails fast with the task names."""
    _write_spec(tmp_path, 'task')
    assert checkpoint_tasks(tmp_path) == ['panda/reach_target']
    config = EvalConfig(arm='ur5e', tasks=('reach_target',), episodes=1,
                        checkpoint_path=str(tmp_path))
    with pytest.raises(ValueError, match='ur5e/reach_target'):
        evaluate(config)
    with pytest.raises(ValueError, match="'panda/lift_block'"):
        check_config(replace(config, arm='panda', tasks=('lift_block',)))
    with pytest.raises(ValueError, match='prompting needs policy checkpoint'):
        check_config(replace(config, policy='expert', prompted=True))
    with pytest.raises(FileNotFoundError, match='gato_spec.json'):
        check_config(replace(config, checkpoint_path=str(tmp_path / 'missing')))
    # A joint-delta checkpoint has no twist tasks.
    with pytest.raises(ValueError, match="'panda/twist/reach_target'"):
        check_config(replace(config, arm='panda', action_space='twist'))
    with pytest.raises(ValueError, match='action_space'):
        check_config(replace(config, arm='panda', action_space='pose'))


def test_a_per_embodiment_checkpoint_may_be_asked_for_new_tasks_of_its_arms(tmp_path):
    """New tasks of a trained arm pass the check (prompting a held-out task); other arms not."""
    _write_spec(tmp_path, 'embodiment')
    config = EvalConfig(arm='panda', tasks=('lift_block', 'stack_blocks'), episodes=1,
                        checkpoint_path=str(tmp_path), prompted=True)
    check_config(config)
    with pytest.raises(ValueError, match='per embodiment'):
        check_config(replace(config, arm='ur5e'))


def test_prompted_episodes_load_a_demonstration_through_the_service(tmp_path):
    """With prompting, each task runs unprompted then prompted and the report has both."""
    action_space = arm_action_space(checkpoint_tasks(DEMO_CHECKPOINT), 'ur5e')
    config = EvalConfig(arm='ur5e', tasks=('press_button',), episodes=1,
                        checkpoint_path=str(DEMO_CHECKPOINT), out_dir=str(tmp_path),
                        prompted=True, action_space=action_space)
    report, _ = evaluate(config, progress=lambda line: None)
    assert [r['prompted'] for r in report['episodes']] == [False, True]
    assert report['tasks']['press_button']['prompted']['episodes'] == 1
    assert 'prompted' in report['overall']
    assert len(list((tmp_path / 'prompts').glob('ur5e-press_button-*.npz'))) == 1


def test_a_wrist_camera_checkpoint_gets_both_cameras_through_the_graph(tmp_path):
    """A checkpoint that observes image_wrist: the graph adds the wrist camera and observer.

    The inference node commands only while every observation it reads is fresh, so commands
    in reach_target prove that the wrist images reach it; press_button, trained without the
    wrist camera, runs in the same graph and leaves them unused.
    """
    for task, wrist in (('reach_target', True), ('press_button', False)):
        collect_demonstrations(DemoConfig(arm='panda', tasks=(task,), episodes_per_task=1,
                                          wrist_camera=wrist), tmp_path / 'demo',
                               progress=False)
    checkpoint = train(load_dataset(tmp_path / 'demo'), TrainConfig(
        output_dir=str(tmp_path / 'ckpt'), preset='gato-test', max_steps=1, val_fraction=0.0,
        eval_every=0, progress=False))
    assert checkpoint_reads_wrist_image(checkpoint, ['panda/reach_target'])
    assert not checkpoint_reads_wrist_image(checkpoint, ['panda/press_button'])
    config = EvalConfig(arm='panda', tasks=('reach_target', 'press_button'), episodes=1,
                        checkpoint_path=str(checkpoint), out_dir=str(tmp_path / 'eval'))
    report, _ = evaluate(config, progress=lambda line: None)
    assert [episode['commands'] > 10 for episode in report['episodes']] == [True, True]
    params = yaml.safe_load((tmp_path / 'eval' / 'logs' / 'graph_params.yaml').read_text())
    assert params['image_observer_wrist']['ros__parameters']['key'] == 'image_wrist'
    assert params['mujoco_arm']['ros__parameters']['wrist_image_topic'] == (
        params['image_observer_wrist']['ros__parameters']['image_topic'])
    agent = params['inference_node']['ros__parameters']
    assert agent['observation_keys'] == ['image', 'image_wrist', 'joints']
    assert agent['trigger_observation_key'] == 'image_wrist'
