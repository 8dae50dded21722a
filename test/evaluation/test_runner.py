"""End-to-end evaluation through the ROS graph: simulator and agent processes over Fast DDS."""

from gato_ros.evaluation.runner import checkpoint_tasks, EvalConfig, evaluate
import pytest

pytestmark = [pytest.mark.dds, pytest.mark.sim]


def test_expert_drives_the_simulator_through_the_topics(tmp_path):
    """The scripted expert, relayed by the inference node to the trajectory topic, succeeds."""
    config = EvalConfig(arm='panda', tasks=('reach_target', 'press_button'), episodes=1,
                        policy='expert', out_dir=str(tmp_path), record_first_episode=True)
    report, frames = evaluate(config, progress=lambda line: None)
    assert [r['success'] for r in report['episodes']] == [True, True]
    assert all(r['commands'] > 3 for r in report['episodes'])
    assert report['overall']['control_hz'] == pytest.approx(10.0, rel=0.3)
    assert report['overall']['latency_ms_p50'] > 0.0
    assert frames['reach_target'][0].shape == (128, 128, 3)


def test_random_policy_moves_the_arm_but_does_not_succeed(tmp_path):
    """Random actions reach the arm (commands flow) yet do not lift a block."""
    config = EvalConfig(arm='ur5e', tasks=('lift_block',), episodes=1, policy='random',
                        out_dir=str(tmp_path),
                        baselines={'ur5e': {'lift_block': {'expert': 1.0, 'random': 0.0}}})
    report, _ = evaluate(config, progress=lambda line: None)
    episode = report['episodes'][0]
    assert not episode['success'] and episode['commands'] > 50
    assert report['tasks']['lift_block']['normalized_score'] == 0.0


def test_a_checkpoint_without_the_task_is_refused_before_starting(tmp_path):
    """Asking for a task the checkpoint was not trained on fails fast with the task names."""
    (tmp_path / 'gato_spec.json').write_text('{"tasks": {"panda/reach_target": {}}}')
    assert checkpoint_tasks(tmp_path) == ['panda/reach_target']
    config = EvalConfig(arm='ur5e', tasks=('reach_target',), episodes=1,
                        checkpoint_path=str(tmp_path))
    with pytest.raises(ValueError, match='ur5e/reach_target'):
        evaluate(config)
