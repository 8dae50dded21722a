"""ROS node that drives evaluation episodes through the graph and records their outcome.

Per episode: disable motion, reset the simulator (``/mujoco_arm/reset_episode``) to a task
and seed, wait for a camera frame of the new scene, send the instruction (which starts a new
episode context in the inference node), enable motion, then watch ``/mujoco_arm/task_status``
until success or the task's time limit. Commands, the agent's achieved control rate and its
observation->command latency are read from the topics like any other ROS tool would.
"""

import time

from gato_ros.evaluation.report import EpisodeRecord
from gato_ros.msg import AgentStatus, TaskStatus
from gato_ros.srv import LoadPrompt, ResetEpisode
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
import numpy as np
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

SIM = '/mujoco_arm'
AGENT = '/inference_node'
SERVICE_TIMEOUT_S = 30.0
# An idle machine's agent acts within a few control periods once its observations flow; a
# loaded one (another evaluation beside it) may drop stale observations for tens of seconds.
READY_TIMEOUT_S = 120.0
# Agent ticks awaited before an episode's reset.
WARM_UP_TICKS = 3


class EpisodeDriver:
    """Drive episodes on a running evaluation graph from a helper node."""

    def __init__(self, node, executor, controller_topic, command_type=JointTrajectory,
                 ready_timeout_s=READY_TIMEOUT_S):
        """Create the clients and subscriptions.

        Args:
            node: an rclpy node owned by the caller.
            executor: the executor spinning ``node``.
            controller_topic: the topic the agent commands.
            command_type: its message type (``JointTrajectory``, ``TwistStamped``).
            ready_timeout_s: how long to wait for the agent's first actions of an episode (s).
        """
        self._node, self._executor = node, executor
        self._ready_timeout_s = ready_timeout_s
        self._reset = node.create_client(ResetEpisode, f'{SIM}/reset_episode')
        self._enable = node.create_client(SetBool, f'{AGENT}/enable')
        self._change_state = node.create_client(ChangeState, f'{AGENT}/change_state')
        self._set_parameters = node.create_client(SetParameters, f'{AGENT}/set_parameters')
        self._load_prompt = node.create_client(LoadPrompt, f'{AGENT}/load_prompt')
        self._instruction = node.create_publisher(String, f'{AGENT}/instruction', 10)
        self._task_status = None
        self._agent_status = None
        self._agent_statuses = 0
        self._commands = 0
        self._frames = 0
        self.recorded_frames = None
        self.timing_samples = []
        node.create_subscription(TaskStatus, f'{SIM}/task_status', self._on_task_status, 10)
        node.create_subscription(AgentStatus, f'{AGENT}/status', self._on_agent_status, 10)
        node.create_subscription(command_type, controller_topic, self._on_command, 10)
        node.create_subscription(Image, '/camera/image_raw', self._on_image,
                                 qos_profile_sensor_data)

    # Callbacks ----------------------------------------------------------------------------

    def _on_task_status(self, msg):
        self._task_status = msg

    def _on_agent_status(self, msg):
        self._agent_status = msg
        self._agent_statuses += 1
        if msg.state == 'active' and msg.motion_enabled and msg.latency_p50_ms > 0.0:
            self.timing_samples.append(
                (msg.control_rate_hz, msg.latency_p50_ms, msg.latency_p99_ms))

    def _on_command(self, msg):
        self._commands += 1

    def _on_image(self, msg):
        self._frames += 1
        if self.recorded_frames is not None:
            self.recorded_frames.append(np.frombuffer(msg.data, np.uint8).reshape(
                msg.height, msg.width, 3).copy())

    # Waiting ------------------------------------------------------------------------------

    def _spin_until(self, condition, timeout_s, what, explain=None):
        # explain: a callable whose text ends a timeout's message (what was seen instead).
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                detail = explain() if explain is not None else ''
                raise TimeoutError(f'timed out after {timeout_s:g} s waiting for {what}{detail}')
            self._executor.spin_once(timeout_sec=0.05)

    def _agent_state(self):
        """Describe the agent's last status, for a timeout's message."""
        status = self._agent_status
        if status is None:
            return ' (no status received from the inference node)'
        return (f' (inference node {status.state}, episode step {status.episode_step}, '
                f'last error: {status.last_error or "none"})')

    def _call(self, client, request, what):
        self._spin_until(client.service_is_ready, SERVICE_TIMEOUT_S, f'service {what}')
        future = client.call_async(request)
        self._spin_until(future.done, SERVICE_TIMEOUT_S, f'the answer of {what}')
        return future.result()

    def wait_until_active(self, timeout_s=120.0):
        """Wait until the inference node reports the active state.

        Args:
            timeout_s: how long to wait (loading a checkpoint takes seconds).
        """
        self._spin_until(lambda: self._agent_status is not None
                         and self._agent_status.state == 'active', timeout_s,
                         'the inference node to become active', self._agent_state)

    # Task and episodes --------------------------------------------------------------------

    def set_task(self, task):
        """Reconfigure the inference node for another checkpoint task.

        The node reads ``task`` at configure: deactivate, clean up, set, configure, activate.

        Args:
            task: checkpoint task name ('<arm>/<task>').

        Raises:
            RuntimeError: when a transition or the parameter change fails.
        """
        for transition in (Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP):
            self._transition(transition)
        request = SetParameters.Request(
            parameters=[Parameter('task', Parameter.Type.STRING, task).to_parameter_msg()])
        results = self._call(self._set_parameters, request, 'set_parameters').results
        if not all(result.successful for result in results):
            raise RuntimeError(f'setting task {task!r} failed: {results}')
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            self._transition(transition)
        self.wait_until_active()

    def load_prompt(self, path):
        """Condition the inference node on a demonstration for the following episodes.

        The node keeps the prompt across instructions until it is reconfigured.

        Args:
            path: an episode ``.npz`` of the current task, readable by the node's process.

        Raises:
            RuntimeError: when the node refuses the prompt.
        """
        response = self._call(self._load_prompt, LoadPrompt.Request(path=str(path)),
                              'load_prompt')
        if not response.success:
            raise RuntimeError(f'load_prompt refused {path}: {response.message}')

    def _transition(self, transition_id):
        request = ChangeState.Request(transition=Transition(id=transition_id))
        if not self._call(self._change_state, request, 'change_state').success:
            raise RuntimeError(f'inference node refused lifecycle transition {transition_id}; '
                               'see its log')

    def _wait_until_acting(self, instruction=None, ticks=1):
        """Wait for a status, received from now on, of an agent that has computed actions.

        Sim time runs from an episode's reset on: the driver waits before the reset until
        the agent's observations flow (graph start-up), and after it until the agent has the
        new instruction.

        Args:
            instruction: the instruction the status must show; None: any.
            ticks: statuses to receive from now on (one per agent tick).
        """
        seen = self._agent_statuses

        def acting():
            status = self._agent_status
            return (self._agent_statuses >= seen + ticks and status.episode_step >= 1
                    and instruction in (None, status.instruction))

        self._spin_until(acting, self._ready_timeout_s, 'the agent to compute actions',
                         self._agent_state)

    def _set_enabled(self, enabled):
        self._call(self._enable, SetBool.Request(data=enabled), 'enable')

    def run_episode(self, task, seed, time_limit_s, record_frames=False):
        """Run one episode and return its outcome.

        Args:
            task: simulator task name.
            seed: episode seed.
            time_limit_s: simulated time after which the episode counts as failed (s).
            record_frames: keep the camera frames in ``recorded_frames``.

        Returns:
            EpisodeRecord: the outcome.

        Raises:
            RuntimeError: when the simulator refuses the reset.
        """
        self._set_enabled(False)
        # A few ticks first: a freshly loaded model's first forward passes are slow.
        self._wait_until_acting(ticks=WARM_UP_TICKS)
        response = self._call(self._reset, ResetEpisode.Request(task=task, seed=seed),
                              'reset_episode')
        if not response.success:
            raise RuntimeError(f'reset_episode refused: {response.message}')
        # A frame rendered after the reset: the agent's next observation shows the new scene.
        frames = self._frames
        self._spin_until(lambda: self._frames >= frames + 2, 10.0, 'a camera frame')
        self.recorded_frames = [] if record_frames else None
        self._instruction.publish(String(data=response.instruction))
        self._wait_until_acting(response.instruction)
        self._commands = 0
        self._set_enabled(True)

        def finished():
            status = self._task_status
            return (status is not None and status.task == task and status.seed == seed
                    and (status.success or status.episode_time_s >= time_limit_s))

        self._spin_until(finished, 10.0 * time_limit_s + 30.0, f'the end of {task} #{seed}')
        self._set_enabled(False)
        status = self._task_status
        return EpisodeRecord(task=task, seed=seed, success=bool(status.success),
                             duration_s=float(status.episode_time_s), commands=self._commands)

    def timing(self):
        """Summarize the agent's timing over the episodes run so far.

        Returns:
            dict: control_hz, latency_ms_p50 (medians of the node's windows) and
            latency_ms_p99 (the worst window); None values without samples.
        """
        if not self.timing_samples:
            return {'control_hz': None, 'latency_ms_p50': None, 'latency_ms_p99': None}
        samples = np.array(self.timing_samples)
        return {'control_hz': float(np.median(samples[:, 0])),
                'latency_ms_p50': float(np.median(samples[:, 1])),
                'latency_ms_p99': float(np.max(samples[:, 2]))}
