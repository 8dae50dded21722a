"""Observer and inference nodes as separate processes over Fast DDS, against a fake arm.

Processes: ``fake_arm.py`` (joint states, camera, follows trajectories), the joint state
observer, the image observer and the inference node (untrained tiny checkpoint, autostart),
all under the ``/gato_itest`` namespace; this test process listens to the commands and drives
the node's services. Tests run in file order and leave the system active and enabled.
"""

import gc
import math
from pathlib import Path
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from gato_ros.msg import AgentStatus
from gato_ros.srv import LoadPrompt
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from nodes_support import ARM_JOINTS, start_process, stop_processes, wait_for
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
import rclpy
from rclpy.executors import SingleThreadedExecutor
import std_msgs.msg
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory
import yaml

pytestmark = pytest.mark.dds

PREFIX = 'gato_itest'
NODE = f'/{PREFIX}/inference_node'
RATE_HZ = 20.0
# Generous so that a loaded CI machine does not make observations stale by accident.
MAX_AGE_S = 1.0
JOINTS = ARM_JOINTS + ['panda_finger_joint1']
HERE = Path(__file__).resolve().parent
DEFAULTS = yaml.safe_load(
    (HERE.parents[1] / 'config' / 'inference_node.yaml').read_text())['inference_node'][
        'ros__parameters']
LOWER = np.array(DEFAULTS['position_lower'] + [DEFAULTS['gripper_closed_position']])
UPPER = np.array(DEFAULTS['position_upper'] + [DEFAULTS['gripper_open_position']])
MAX_STEP = np.array(DEFAULTS['max_step'] + [DEFAULTS['gripper_max_step']])
# A re-seeded command starts from the measured state, which observations carry as float32.
SEED_TOLERANCE = 1e-6


class Probe:
    """Test-side node: records commands and status, calls the inference node's services."""

    def __init__(self):
        """Create the node in its own context and spin it on a background thread."""
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('probe', context=self.context)
        self.trajectories = []
        self.statuses = []
        self.diagnostics = []
        self.node.create_subscription(
            JointTrajectory, f'/{PREFIX}_jtc/joint_trajectory',
            lambda msg: self.trajectories.append((time.monotonic(), msg)), 100)
        self.node.create_subscription(
            AgentStatus, f'{NODE}/status', self.statuses.append, 100)
        self.node.create_subscription(
            DiagnosticArray, '/diagnostics', self.diagnostics.append, 10)
        self.instruction_pub = self.node.create_publisher(
            std_msgs.msg.String, f'{NODE}/instruction', 10)
        self.clients = {
            'enable': self.node.create_client(SetBool, f'{NODE}/enable'),
            'reset': self.node.create_client(Trigger, f'{NODE}/reset'),
            'load_prompt': self.node.create_client(LoadPrompt, f'{NODE}/load_prompt'),
            'change_state': self.node.create_client(ChangeState, f'{NODE}/change_state'),
            'set_parameters': self.node.create_client(
                SetParameters, f'{NODE}/set_parameters'),
        }
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self):
        """Stop spinning and shut the context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(5.0)
        gc.collect()  # see the context fixture in conftest.py

    def call(self, name, request):
        """Call a service of the inference node and return its response."""
        client = self.clients[name]
        assert client.wait_for_service(timeout_sec=30.0), f'service {name} not available'
        future = client.call_async(request)
        wait_for(future.done, 30.0, f'the {name} response')
        return future.result()

    def transition(self, transition_id):
        """Request a lifecycle transition; return whether it succeeded."""
        request = ChangeState.Request()
        request.transition.id = transition_id
        return self.call('change_state', request).success

    def status(self):
        """Return the newest AgentStatus."""
        return wait_for(lambda: self.statuses and self.statuses[-1], 10.0, 'a status')

    def wait_ticks(self, count, predicate=lambda status: True):
        """Wait until `count` more statuses satisfying `predicate` have arrived."""
        start = len(self.statuses)
        wait_for(lambda: sum(map(predicate, self.statuses[start:])) >= count, 20.0,
                 f'{count} statuses')

    def commands_after(self, index, count, timeout_s=20.0):
        """Wait for `count` trajectories after position `index` and return them."""
        wait_for(lambda: len(self.trajectories) >= index + count, timeout_s,
                 f'{count} trajectories')
        return [msg for _, msg in self.trajectories[index:index + count]]


def positions(msg):
    """Return the single point's positions of a trajectory."""
    return np.array(msg.points[0].positions)


@pytest.fixture(scope='module')
def probe():
    """Start the test-side node."""
    probe = Probe()
    yield probe
    probe.close()


@pytest.fixture(scope='module')
def system(tiny_checkpoint, probe, tmp_path_factory):
    """Start the fake arm, both observers and the inference node; stop them afterwards."""
    logs = tmp_path_factory.mktemp('logs')
    namespace = ['--ros-args', '-r', f'__ns:=/{PREFIX}']
    arm = start_process([str(HERE / 'fake_arm.py'), PREFIX], logs / 'arm.log', stdin=-1)
    processes = [arm, start_process(
        ['-m', 'gato_ros.nodes.joint_state_observer', *namespace,
         '-p', f'joint_states_topic:=/{PREFIX}/joint_states'], logs / 'joints.log')]
    processes.append(start_process(
        ['-m', 'gato_ros.nodes.image_observer', *namespace, '-p',
         f'image_topic:=/{PREFIX}/image_raw', '-p', 'output_height:=32', '-p',
         'output_width:=32'], logs / 'image.log'))
    processes.append(start_process(
        ['-m', 'gato_ros.nodes.inference_node', *namespace,
         '-p', f'checkpoint_path:={tiny_checkpoint}', '-p', 'autostart:=true',
         '-p', f'control_rate_hz:={RATE_HZ}', '-p', f'max_obs_age_s:={MAX_AGE_S}',
         '-p', f'controller_name:={PREFIX}_jtc'], logs / 'inference.log'))
    try:
        probe.commands_after(0, 1, timeout_s=60.0)
        yield {'arm': arm, 'logs': logs}
    finally:
        arm.stdin.close()
        stop_processes(processes)


def send_arm(system, mode):
    """Switch the fake arm's publishing mode."""
    system['arm'].stdin.write(f'{mode}\n')
    system['arm'].stdin.flush()


def test_commands_follow_trajectory_controller_rules(system, probe):
    """Commands name all joints in order, start now, are finite, limited and periodic."""
    start = len(probe.trajectories)
    commands = probe.commands_after(start, 25)
    times = [t for t, _ in probe.trajectories[start:start + 25]]
    previous = None
    for msg in commands:
        assert list(msg.joint_names) == JOINTS
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (0, 0)
        assert len(msg.points) == 1
        point = msg.points[0]
        assert point.time_from_start.sec == 0
        assert point.time_from_start.nanosec == round(1e9 / RATE_HZ)
        values = positions(msg)
        assert np.isfinite(values).all()
        assert np.all(values >= LOWER - 1e-9) and np.all(values <= UPPER + 1e-9)
        if previous is not None:
            assert np.all(np.abs(values - previous) <= MAX_STEP + 1e-9)
        previous = values
    rate_hz = (len(times) - 1) / (times[-1] - times[0])
    assert 10.0 < rate_hz < 30.0


def test_status_and_diagnostics_report_the_loop(system, probe):
    """Status and diagnostics messages describe the running loop."""
    probe.wait_ticks(3)
    status = probe.status()
    assert status.state == 'active' and status.motion_enabled
    assert status.task == 'reach'
    assert 0.5 * RATE_HZ < status.control_rate_hz < 1.5 * RATE_HZ
    assert 0.0 < status.latency_p50_ms <= status.latency_p99_ms < 1000.0 * MAX_AGE_S
    diagnostic = wait_for(lambda: probe.diagnostics and probe.diagnostics[-1], 5.0,
                          'diagnostics').status[0]
    assert diagnostic.name == NODE
    assert {value.key for value in diagnostic.values} >= {'state', 'latency_p99_ms'}


def test_instruction_topic_starts_new_episode_and_rejects_oversized(system, probe):
    """A valid instruction restarts the episode; a megabyte one is refused."""
    wait_for(lambda: probe.instruction_pub.get_subscription_count() > 0, 20.0,
             'the instruction subscriber')
    probe.instruction_pub.publish(std_msgs.msg.String(data='  reach the cube  '))
    wait_for(lambda: probe.statuses and probe.statuses[-1].instruction == 'reach the cube',
             10.0, 'the new instruction')
    probe.instruction_pub.publish(std_msgs.msg.String(data='x' * 1_000_000))
    probe.instruction_pub.publish(std_msgs.msg.String(data='marker'))
    wait_for(lambda: probe.statuses[-1].instruction == 'marker', 10.0, 'the marker')
    assert all(status.instruction != 'x' * 1_000_000 for status in probe.statuses)


def test_disabled_motion_computes_without_publishing(system, probe):
    """Disabled: ticks go on (episode steps grow) but no command leaves the node.

    Enabling again starts a new episode context (the steps computed meanwhile were never
    executed) and keeps the instruction.
    """
    assert probe.call('enable', SetBool.Request(data=False)).success
    at_disable = len(probe.trajectories)
    probe.wait_ticks(5, lambda status: not status.motion_enabled)
    steps = probe.status().episode_step
    probe.wait_ticks(5, lambda status: not status.motion_enabled)
    disabled = probe.status()
    assert disabled.episode_step > steps
    # At most the hold sent while disabling and a command of a tick already under way.
    assert len(probe.trajectories) <= at_disable + 2
    start = len(probe.trajectories)
    assert probe.call('enable', SetBool.Request(data=True)).success
    probe.wait_ticks(1, lambda status: status.motion_enabled)
    enabled = [status for status in probe.statuses if status.motion_enabled][-1]
    assert enabled.episode_step < disabled.episode_step
    assert enabled.instruction == disabled.instruction
    probe.commands_after(start, 3)


def test_reset_restarts_the_episode(system, probe):
    """~/reset starts a new episode; commands keep coming."""
    probe.wait_ticks(5)
    before = probe.status().episode_step
    assert probe.call('reset', Trigger.Request()).success
    probe.wait_ticks(1)
    assert probe.status().episode_step < before
    probe.commands_after(len(probe.trajectories), 3)


def test_load_prompt_service(system, probe, prompt_file):
    """An episode file is accepted as a prompt; a missing one is refused with a reason."""
    response = probe.call('load_prompt', LoadPrompt.Request(path=str(prompt_file)))
    assert response.success, response.message
    response = probe.call('load_prompt', LoadPrompt.Request(path='/nonexistent/demo.npz'))
    assert not response.success and 'not found' in response.message
    probe.commands_after(len(probe.trajectories), 3)


def stop_and_resume(system, probe, mode, error_text):
    """Switch the arm to a bad mode; check that commands stop; resume; return the logs."""
    send_arm(system, mode)
    probe.wait_ticks(1, lambda status: error_text in status.last_error)
    stopped = len(probe.trajectories)
    probe.wait_ticks(10, lambda status: error_text in status.last_error)
    assert len(probe.trajectories) == stopped
    last = probe.trajectories[stopped - 1][1]
    send_arm(system, 'normal')
    first = probe.commands_after(stopped, 1)[0]
    # Re-seeded from the measured state (where the last command put the arm): no jump.
    assert np.all(np.abs(positions(first) - positions(last)) <= MAX_STEP + SEED_TOLERANCE)
    return (system['logs'] / 'inference.log').read_text()


def test_stale_observations_stop_commands(system, probe):
    """Without fresh observations no command is sent, and the error is logged rate-limited."""
    log = stop_and_resume(system, probe, 'pause', 's old, more than max_obs_age_s')
    # About 0.6 s of stale ticks at 20 Hz: one log line (2 s throttle), not one per tick.
    assert 1 <= log.count('s old, more than max_obs_age_s') <= 3


def test_nan_joint_states_never_produce_commands(system, probe):
    """Joint positions of NaN are dropped by the observer; no command is built from them."""
    stop_and_resume(system, probe, 'nan', "observation 'joints' is")
    log = (system['logs'] / 'joints.log').read_text()
    assert "position of joint 'panda_joint3' is not finite" in log
    assert all(np.isfinite(positions(msg)).all() for _, msg in probe.trajectories)


def test_lifecycle_deactivate_holds_and_activate_resumes(system, probe):
    """Deactivate stops the loop after a hold at the measured position; activate resumes."""
    last = probe.commands_after(len(probe.trajectories) - 1, 1)[0]
    start = len(probe.trajectories)
    assert probe.transition(Transition.TRANSITION_DEACTIVATE)
    hold = probe.commands_after(start, 1)[0]
    assert np.all(np.abs(positions(hold) - positions(last)) <= MAX_STEP + SEED_TOLERANCE)
    probe.wait_ticks(2, lambda status: status.state == 'inactive')
    # Count from here, not from the request: under load, commands sent before the
    # deactivation may still be on their way to the probe when it returns.
    after = len(probe.trajectories)
    probe.wait_ticks(5, lambda status: status.state == 'inactive')
    assert len(probe.trajectories) <= after + 1  # 5 ticks of a running loop would add 5
    assert probe.transition(Transition.TRANSITION_ACTIVATE)
    probe.commands_after(after, 3)


def test_reconfigure_with_mismatched_keys_fails_with_reason(system, probe):
    """A configure against the wrong sources fails naming them; fixing it recovers."""
    def set_keys(keys):
        value = ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=keys)
        request = SetParameters.Request(parameters=[Parameter(name='observation_keys',
                                                              value=value)])
        assert probe.call('set_parameters', request).results[0].successful

    assert probe.transition(Transition.TRANSITION_DEACTIVATE)
    assert probe.transition(Transition.TRANSITION_CLEANUP)
    set_keys(['joints'])
    assert not probe.transition(Transition.TRANSITION_CONFIGURE)
    probe.wait_ticks(1, lambda status: "missing ['image']" in status.last_error)
    assert probe.status().state == 'unconfigured'
    set_keys(['image', 'joints'])
    assert probe.transition(Transition.TRANSITION_CONFIGURE)
    start = len(probe.trajectories)
    assert probe.transition(Transition.TRANSITION_ACTIVATE)
    commands = probe.commands_after(start, 3)
    assert all(math.isfinite(v) for msg in commands for v in msg.points[0].positions)
