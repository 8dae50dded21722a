"""Tests for gato_ros/nodes/agent.py: all nodes in one process, configured by a params file."""

import gc
from pathlib import Path

from gato_ros.msg import Observation
from gato_ros.nodes.agent import image_observer_names
from nodes_support import ARM_JOINTS, start_process, stop_processes, wait_for
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from trajectory_msgs.msg import JointTrajectory
import yaml

PREFIX = 'gato_agent_test'
HERE = Path(__file__).resolve().parent


def write_params(path, checkpoint):
    """Write the agent's params file: two cameras, the tiny checkpoint, test topics."""
    def section(name, **values):
        return {f'/{PREFIX}/{name}': {'ros__parameters': values}}
    content = {
        **section('joint_state_observer', joint_states_topic=f'/{PREFIX}/joint_states'),
        **section('image_observer', image_topic=f'/{PREFIX}/image_raw', output_height=32,
                  output_width=32),
        **section('image_observer_wrist', image_topic=f'/{PREFIX}/image_raw',
                  key='image_wrist', output_height=24, output_width=24),
        **section('inference_node', checkpoint_path=str(checkpoint), autostart=True,
                  control_rate_hz=20.0, max_obs_age_s=1.0, controller_name=f'{PREFIX}_jtc'),
    }
    path.write_text(yaml.safe_dump(content))
    return path


def test_image_observer_names_come_from_the_params_file(tmp_path, tiny_checkpoint):
    """One image observer per image_observer* section, or the default one."""
    params = write_params(tmp_path / 'agent.yaml', tiny_checkpoint)
    assert image_observer_names(params) == ['image_observer', 'image_observer_wrist']
    assert image_observer_names(None) == ['image_observer']
    (tmp_path / 'empty.yaml').write_text('inference_node: {ros__parameters: {}}\n')
    assert image_observer_names(tmp_path / 'empty.yaml') == ['image_observer']
    (tmp_path / 'list.yaml').write_text('- 1\n')
    with pytest.raises(ValueError, match='sections'):
        image_observer_names(tmp_path / 'list.yaml')


@pytest.mark.dds
def test_agent_process_runs_every_node(tmp_path, tiny_checkpoint):
    """The one-process agent commands the arm and runs both cameras; Ctrl-C exits cleanly."""
    params = write_params(tmp_path / 'agent.yaml', tiny_checkpoint)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('agent_probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    commands, wrist = [], []
    node.create_subscription(JointTrajectory, f'/{PREFIX}_jtc/joint_trajectory',
                             commands.append, 10)
    node.create_subscription(Observation, f'/{PREFIX}/observations/image_wrist',
                             wrist.append, 10)
    arm = start_process([str(HERE / 'fake_arm.py'), PREFIX], tmp_path / 'arm.log', stdin=-1)
    agent = start_process(['-m', 'gato_ros.nodes.agent', '--params', str(params),
                           '--ros-args', '-r', f'__ns:=/{PREFIX}'], tmp_path / 'agent.log')
    try:
        def received():
            executor.spin_once(timeout_sec=0.05)
            return len(commands) >= 3 and wrist
        wait_for(received, 60.0, 'commands and wrist observations')
        assert list(commands[-1].joint_names) == ARM_JOINTS + ['panda_finger_joint1']
        assert list(wrist[-1].shape) == [24, 24, 3]
        stop_processes([agent])
        assert agent.returncode == 0, (tmp_path / 'agent.log').read_text()
    finally:
        arm.stdin.close()
        stop_processes([agent, arm])
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        gc.collect()  # see the context fixture in conftest.py
