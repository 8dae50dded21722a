"""Lifecycle node: run a Gato checkpoint on the newest observations and command the arm.

Lifecycle:

* ``configure`` loads ``checkpoint_path`` (``GatoPolicy.from_pretrained``), the optional
  ``prompt_path`` episode, resets the policy to ``task``/``instruction`` and checks the
  checkpoint against ``observation_keys``, the joints and the gripper (failing with a message
  naming the mismatch); it subscribes ``observations/<key>`` per key and advertises commands
  (a key the task does not observe, such as a camera only other tasks read, is not used);
* ``activate`` starts the control timer at ``control_rate_hz`` (node clock: sim time aware);
  with ``trigger_observation_key`` set (the camera), each new observation of that key starts
  a step, at most about once per period, and the timer steps only when those are late (see
  :mod:`gato_ros.nodes.tick_schedule`);
* ``deactivate`` stops it and commands a hold at the measured position (zero twist in servo
  mode); ``cleanup`` frees the model. ``autostart`` configures and activates at start-up.

Each control step takes the newest observation of every key the task observes (none older
than ``max_obs_age_s``), runs ``select_action``, maps the action (see
:mod:`gato_ros.nodes.action_mapping`: joint deltas, target = measured + delta), passes the
targets through :class:`gato_ros.nodes.safety.SafetyFilter` and publishes a
``JointTrajectory`` (``trajectory`` mode) or ``TwistStamped`` (``servo`` mode), plus a gripper
command when configured. A tick with missing, stale or malformed input, or an unusable action,
publishes nothing, logs one rate-limited error and re-seeds the safety filter, so the next
command starts again from the measured state.

Run-time control: ``~/enable`` (std_srvs/SetBool; disabled = compute but never publish;
enabling starts a new episode context, as the actions computed meanwhile were not executed),
``~/reset`` (std_srvs/Trigger; new episode context), ``~/load_prompt`` (gato_ros/LoadPrompt; new
demonstration, new episode) and ``instruction_topic`` (std_msgs/String; new instruction, new
episode: Gato puts the instruction in the first timestep only). Health: ``gato_ros/AgentStatus``
on ``~/status`` at every tick (1 Hz while not active) and ``diagnostic_msgs/DiagnosticArray`` on
``/diagnostics`` at 1 Hz.
"""

import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from gato_ros.data import TWIST_SIZE
from gato_ros.msg import AgentStatus, Observation
from gato_ros.nodes.baseline_policies import (
    POLICY_SOURCES, random_action_bounds, RandomPolicy, TopicActionPolicy)
from gato_ros.nodes.control_stats import ControlStats
from gato_ros.nodes.inference_config import (
    action_layout, check_policy, check_trigger_key, command_topic, observed_keys,
    safety_config)
from gato_ros.nodes.observation import OBSERVATION_QOS, observation_topic
from gato_ros.nodes.observation_buffer import joint_positions, ObservationBuffer
from gato_ros.nodes.parameters import declare_parameters, parameter_values, ParameterSpec
from gato_ros.nodes.runner import spin_nodes
from gato_ros.nodes.safety import SafetyFilter
from gato_ros.nodes.task_inputs import check_instruction, load_prompt
from gato_ros.nodes.tick_schedule import TickSchedule
from gato_ros.nodes.trajectory import (
    build_gripper_command, build_joint_trajectory, build_twist)
from gato_ros.policy import GatoPolicy, PolicyConfig
from gato_ros.srv import LoadPrompt
from geometry_msgs.msg import TwistStamped
from rclpy.exceptions import NameValidationException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from std_msgs.msg import Float32MultiArray, Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

NODE_NAME = 'inference_node'
# Rate limit of repeated error logs (s).
LOG_THROTTLE_S = 2.0
# Period of diagnostics, and of status while not active (s).
HEARTBEAT_PERIOD_S = 1.0

PARAMETERS = (
    ParameterSpec('autostart', 'configure and activate at start-up'),
    ParameterSpec('policy_source',
                  'checkpoint (a trained agent), random (uniform random actions) or '
                  'action_topic (actions from action_topic, e.g. a scripted expert)'),
    ParameterSpec('action_topic', 'std_msgs/Float32MultiArray actions (policy_source '
                  'action_topic)'),
    ParameterSpec('checkpoint_path', 'gato_ros checkpoint directory (GatoPolicy.from_pretrained)'),
    ParameterSpec('task', 'checkpoint task, or a new task <arm>/<name> of a trained arm '
                  '(checkpoints normalized per embodiment; prompt it); empty = the only task'),
    ParameterSpec('instruction', 'natural-language instruction of the episode; empty = none'),
    ParameterSpec('prompt_path', 'episode .npz to prompt the policy with; empty = none'),
    ParameterSpec('action_decoding', 'choice of continuous action tokens: mode (most likely '
                  'bin) or mean (expected value of the predicted distribution)'),
    ParameterSpec('observation_keys', 'observation keys; each is read from observations/<key>'),
    ParameterSpec('joints_key', 'observation holding the measured joint positions'),
    ParameterSpec('control_rate_hz', 'control ticks per second (node clock)', (0.1, 1000.0)),
    ParameterSpec('trigger_observation_key',
                  'observation key whose new messages start a control step, at most about '
                  'control_rate_hz (the camera: commands use fresh frames; the timer steps '
                  'when they are late); empty = the control timer alone'),
    ParameterSpec('max_obs_age_s', 'oldest observation a command may use (s)', (0.001, 60.0)),
    ParameterSpec('motion_enabled', 'publish motion commands after configure (see ~/enable)'),
    ParameterSpec('mode', 'trajectory (joint position deltas) or servo (Cartesian twist)'),
    ParameterSpec('controller_name', 'joint_trajectory_controller instance (trajectory mode)'),
    ParameterSpec('command_topic',
                  'motion command topic; empty = /<controller_name>/joint_trajectory '
                  '(trajectory) or /servo_node/delta_twist_cmds (servo)'),
    ParameterSpec('horizon_periods',
                  'control periods until a trajectory point is reached', (0.1, 100.0)),
    ParameterSpec('joint_names', 'arm joints in action order (trajectory mode)'),
    ParameterSpec('position_lower', 'lowest commanded position per arm joint (rad)'),
    ParameterSpec('position_upper', 'highest commanded position per arm joint (rad)'),
    ParameterSpec('max_step', 'largest command change per arm joint per period (rad)'),
    ParameterSpec('seed_tolerance',
                  'how far outside its limits a joint may be at start (rad or m)', (0.0, 1.0)),
    ParameterSpec('gripper_joint_name', 'gripper joint; empty = no gripper command'),
    ParameterSpec('gripper_output', 'joint (in the trajectory) or topic (gripper_topic)'),
    ParameterSpec('gripper_topic', 'std_msgs/Float64MultiArray gripper position topic'),
    ParameterSpec('gripper_closed_position', 'gripper joint position of command 0 (m or rad)',
                  (-10.0, 10.0)),
    ParameterSpec('gripper_open_position', 'gripper joint position of command 1 (m or rad)',
                  (-10.0, 10.0)),
    ParameterSpec('gripper_max_step', 'largest gripper change per period (m or rad)',
                  (1e-6, 10.0)),
    ParameterSpec('servo_frame_id', 'frame of the twist commands (servo mode)'),
    ParameterSpec('max_linear_speed_mps', 'largest commanded linear speed (m/s)', (0.0, 10.0)),
    ParameterSpec('max_angular_speed_radps', 'largest commanded angular speed (rad/s)',
                  (0.0, 20.0)),
    ParameterSpec('instruction_topic', 'std_msgs/String topic of new instructions'),
    ParameterSpec('max_instruction_bytes', 'longest accepted instruction (UTF-8 bytes)',
                  (1, 65536)),
)


class InferenceNode(LifecycleNode):
    """Gato policy in the loop: observations in, safety-filtered motion commands out."""

    def __init__(self, **kwargs):
        """Declare parameters and the always-available interfaces; autostart if asked.

        Args:
            **kwargs: Passed to ``rclpy.lifecycle.LifecycleNode`` (e.g. ``namespace``,
                ``parameter_overrides``).
        """
        super().__init__(NODE_NAME, **kwargs)
        params = declare_parameters(self, NODE_NAME, PARAMETERS, read_only=False)
        # Ticks, services, topics and transitions may run on several executor threads.
        self._lock = threading.RLock()
        self._state = 'unconfigured'
        self._params = params
        self._policy = None
        self._prompt = None
        self._instruction = ''
        self._enabled = False
        self._timer = None
        self._schedule = None
        self._safety = None
        self._configured = []
        self._last_error = ''
        self._tick_ok = True
        self._episode_step = 0
        self._stats = ControlStats()
        self._status_pub = self.create_publisher(AgentStatus, '~/status', 10)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_service(Trigger, '~/reset', self._on_reset)
        self.create_service(SetBool, '~/enable', self._on_enable)
        self.create_service(LoadPrompt, '~/load_prompt', self._on_load_prompt)
        self.create_timer(HEARTBEAT_PERIOD_S, self._on_heartbeat)
        if params['autostart'] and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # Lifecycle transitions.

    def on_configure(self, state):
        """Load and check the checkpoint, subscribe observations, advertise commands.

        Args:
            state: The previous lifecycle state.

        Returns:
            TransitionCallbackReturn: SUCCESS, or FAILURE with the reason logged.
        """
        with self._lock:
            try:
                self._configure()
            except (ValueError, FileNotFoundError, RuntimeError, NameValidationException) as error:
                self._release()
                self._record_error(f'configure failed: {error}')
                return TransitionCallbackReturn.FAILURE
            self._state = 'inactive'
            self.get_logger().info(
                f'configured: task {self._policy.task!r}, {self._layout.mode} mode, commands on '
                f'{self._command_pub.topic_name}')
            return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        """Start the control timer.

        Args:
            state: The previous lifecycle state.

        Returns:
            TransitionCallbackReturn: The base class result.
        """
        with self._lock:
            self._safety.reset()
            self._stats.reset()
            period_s = 1.0 / self._params['control_rate_hz']
            self._schedule = TickSchedule(int(period_s * 1e9),
                                          bool(self._params['trigger_observation_key']))
            self._timer = self.create_timer(period_s, self._on_timer)
            self._state = 'active'
        return super().on_activate(state)

    def on_deactivate(self, state):
        """Stop the control timer and command a hold at the measured position.

        Args:
            state: The previous lifecycle state.

        Returns:
            TransitionCallbackReturn: The base class result.
        """
        with self._lock:
            self._stop_timer()
            self._publish_hold()
            self._state = 'inactive'
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        """Free the model and the configured interfaces.

        Args:
            state: The previous lifecycle state.

        Returns:
            TransitionCallbackReturn: SUCCESS.
        """
        with self._lock:
            self._release()
            self._state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        """Stop everything before the node is finalized.

        Args:
            state: The previous lifecycle state.

        Returns:
            TransitionCallbackReturn: SUCCESS.
        """
        with self._lock:
            self._stop_timer()
            self._release()
            self._state = 'finalized'
        return TransitionCallbackReturn.SUCCESS

    def _configure(self):
        params = parameter_values(self, PARAMETERS)
        layout = action_layout(params)
        safety = SafetyFilter(safety_config(params, layout))
        policy = self._make_policy(params, layout)
        prompt = load_prompt(params['prompt_path']) if params['prompt_path'] else None
        policy.reset(task=params['task'] or None, instruction=params['instruction'] or None,
                     prompt=prompt)
        gathered = params['observation_keys']
        if isinstance(policy, GatoPolicy):
            check_policy(policy.observation_spec, policy.action_dim, params, layout)
            gathered = observed_keys(policy.observation_spec, params)
            self._log_unobserved(params, gathered)
        check_trigger_key(params)
        self._params, self._layout, self._safety, self._policy = params, layout, safety, policy
        self._prompt, self._instruction = prompt, params['instruction']
        self._enabled = params['motion_enabled']
        self._buffer = ObservationBuffer(gathered)
        self._episode_step, self._last_error = 0, ''
        self._create_interfaces(params)

    def _log_unobserved(self, params, gathered):
        unobserved = [key for key in params['observation_keys'] if key not in gathered]
        if unobserved:
            self.get_logger().info(
                f"task {params['task'] or '(default)'!r} does not observe {unobserved}: "
                'received, not used')

    def _make_policy(self, params, layout):
        source = params['policy_source']
        if source == 'random':
            return RandomPolicy(*random_action_bounds(params, layout))
        if source == 'action_topic':
            return TopicActionPolicy(layout.action_dim, self._max_obs_age_ns(params),
                                     lambda: self.get_clock().now().nanoseconds)
        if source != 'checkpoint':
            raise ValueError(f'policy_source must be one of {POLICY_SOURCES}, got {source!r}')
        if not params['checkpoint_path']:
            raise ValueError('checkpoint_path is empty: set it to a gato_ros checkpoint directory')
        return GatoPolicy.from_pretrained(
            params['checkpoint_path'], PolicyConfig(action_decoding=params['action_decoding']))

    def _create_interfaces(self, params):
        if isinstance(self._policy, TopicActionPolicy):
            self._configured.append((self.destroy_subscription, self.create_subscription(
                Float32MultiArray, params['action_topic'],
                lambda msg: self._policy.put(msg.data), 10)))
        for key in params['observation_keys']:
            store = (self._on_trigger_observation if key == params['trigger_observation_key']
                     else lambda msg, key=key: self._buffer.put(key, msg))
            self._configured.append((self.destroy_subscription, self.create_subscription(
                Observation, observation_topic(key), store, OBSERVATION_QOS)))
        self._configured.append((self.destroy_subscription, self.create_subscription(
            String, params['instruction_topic'], self._on_instruction, 10)))
        command_type = TwistStamped if params['mode'] == 'servo' else JointTrajectory
        self._command_pub = self.create_publisher(command_type, command_topic(params), 10)
        self._configured.append((self.destroy_publisher, self._command_pub))
        self._gripper_pub = None
        if self._layout.gripper.enabled and self._layout.gripper.output == 'topic':
            self._gripper_pub = self.create_publisher(
                Float64MultiArray, params['gripper_topic'], 10)
            self._configured.append((self.destroy_publisher, self._gripper_pub))

    def _release(self):
        for destroy, entity in self._configured:
            destroy(entity)
        self._configured = []
        self._policy = None
        self._safety = None

    def _stop_timer(self):
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
            self._schedule = None

    # Control loop.

    def _on_timer(self):
        with self._lock:
            now_ns = self.get_clock().now().nanoseconds
            if self._schedule is not None and self._schedule.on_timer(now_ns):
                self._step(now_ns)

    def _on_trigger_observation(self, msg):
        with self._lock:
            self._buffer.put(self._params['trigger_observation_key'], msg)
            now_ns = self.get_clock().now().nanoseconds
            if self._schedule is not None and self._schedule.on_frame(now_ns):
                self._step(now_ns)

    def _step(self, now_ns):
        # Called with the lock held, by the timer or by a trigger observation.
        self._stats.record_tick(now_ns)
        try:
            snapshot = self._buffer.gather(now_ns, self._max_obs_age_ns())
            measured = self._measured(snapshot.observation, snapshot.names)
            action = self._layout.check(self._policy.select_action(snapshot.observation))
            targets = self._layout.joint_targets(action, measured)
            twist = self._layout.twist(action) if self._layout.mode == 'servo' else None
            commands = self._messages(self._safety.apply(targets, measured), twist)
        except ValueError as error:
            self._record_error(str(error))
        else:
            self._tick_ok = True
            self._episode_step += 1
            self._send(commands, snapshot.oldest_stamp_ns)
        self._publish_status()

    def _max_obs_age_ns(self, params=None):
        return int((params or self._params)['max_obs_age_s'] * 1e9)

    def _measured(self, observation, names):
        key = self._params['joints_key']
        if not self._layout.commanded_joints:
            return []
        return joint_positions(observation[key], names[key], self._layout.commanded_joints)

    def _messages(self, positions, twist):
        """Return (publisher, message) pairs of safety-filtered positions (and a twist)."""
        layout = self._layout
        commands = []
        if layout.mode == 'trajectory':
            count = len(layout.joint_names) + int(
                layout.gripper.enabled and layout.gripper.output == 'joint')
            time_s = self._params['horizon_periods'] / self._params['control_rate_hz']
            commands.append((self._command_pub, build_joint_trajectory(
                layout.commanded_joints[:count], positions[:count], time_s)))
        else:
            commands.append((self._command_pub, build_twist(
                twist, self._params['servo_frame_id'], self.get_clock().now().to_msg(),
                self._params['max_linear_speed_mps'], self._params['max_angular_speed_radps'])))
        if self._gripper_pub is not None:
            commands.append((self._gripper_pub, build_gripper_command(positions[-1])))
        return commands

    def _send(self, commands, oldest_stamp_ns):
        if not self._enabled:
            # The filter's last command never reached the robot: re-seed when enabled again.
            self._safety.reset()
            return
        for publisher, msg in commands:
            publisher.publish(msg)
        self._stats.record_latency((self.get_clock().now().nanoseconds - oldest_stamp_ns) * 1e-9)

    def _publish_hold(self):
        """Command the measured position (zero twist in servo mode), if motion is enabled."""
        if not self._enabled or self._policy is None:
            return
        self._safety.reset()
        try:
            measured = []
            if self._layout.commanded_joints:
                values, msg = self._buffer.fresh(
                    self._params['joints_key'], self.get_clock().now().nanoseconds,
                    self._max_obs_age_ns())
                measured = joint_positions(values, msg.names, self._layout.commanded_joints)
            twist = [0.0] * TWIST_SIZE if self._layout.mode == 'servo' else None
            commands = self._messages(self._safety.apply(measured, measured), twist)
        except ValueError as error:
            self._record_error(f'cannot command a hold: {error}')
            return
        for publisher, msg in commands:
            publisher.publish(msg)
        self._safety.reset()

    def _record_error(self, message):
        self._last_error = message
        self._tick_ok = False
        if self._safety is not None:
            self._safety.reset()
        self.get_logger().error(message, throttle_duration_sec=LOG_THROTTLE_S)

    # Run-time task control.

    def _new_episode(self, prompt, instruction):
        """Reset the policy to a new episode; on failure restore the previous context."""
        task = self._params['task'] or None
        try:
            self._policy.reset(task=task, instruction=instruction or None, prompt=prompt)
        except ValueError:
            self._policy.reset(task=task, instruction=self._instruction or None,
                               prompt=self._prompt)
            raise
        self._prompt, self._instruction = prompt, instruction
        self._safety.reset()
        self._episode_step, self._last_error, self._tick_ok = 0, '', True

    def _on_reset(self, request, response):
        with self._lock:
            if self._policy is None:
                response.success, response.message = False, 'not configured'
                return response
            try:
                self._new_episode(self._prompt, self._instruction)
            except ValueError as error:
                response.success, response.message = False, f'reset failed: {error}'
                return response
            response.success, response.message = True, f'new episode of {self._policy.task!r}'
            return response

    def _on_enable(self, request, response):
        with self._lock:
            if not request.data:
                self._publish_hold()
            elif not self._enabled and self._policy is not None:
                # The actions computed while disabled never moved the arm: a context holding
                # them would show the model commands the arm ignored.
                try:
                    self._new_episode(self._prompt, self._instruction)
                except ValueError as error:
                    response.success, response.message = False, f'reset failed: {error}'
                    return response
            self._enabled = bool(request.data)
            if self._policy is not None:
                self._safety.reset()
            response.success = True
            response.message = ('motion enabled' if self._enabled
                                else 'motion disabled: computing without publishing')
            return response

    def _on_load_prompt(self, request, response):
        with self._lock:
            if self._policy is None:
                response.success, response.message = False, 'not configured'
                return response
            try:
                self._new_episode(load_prompt(request.path), self._instruction)
            except (ValueError, FileNotFoundError) as error:
                response.success, response.message = False, f'prompt not loaded: {error}'
                return response
            response.success, response.message = True, f'prompt {request.path} loaded'
            return response

    def _on_instruction(self, msg):
        with self._lock:
            try:
                self._new_episode(self._prompt, check_instruction(
                    msg.data, self._params['max_instruction_bytes']))
            except ValueError as error:
                self._last_error = f'instruction rejected: {error}'
                self.get_logger().error(self._last_error, throttle_duration_sec=LOG_THROTTLE_S)
                return
            self.get_logger().info(f'new episode with instruction {self._instruction!r}')

    # Health reporting.

    def _on_heartbeat(self):
        with self._lock:
            if self._state != 'active':
                self._publish_status()
            self._diagnostics_pub.publish(self._diagnostics())

    @property
    def status(self):
        """The node's health now.

        Returns:
            gato_ros.msg.AgentStatus: Lifecycle state, rates, episode and last error (header
            not filled).
        """
        p50, p99 = self._stats.latency_ms()
        return AgentStatus(
            state=self._state, motion_enabled=self._enabled,
            control_rate_hz=self._stats.rate_hz if self._state == 'active' else 0.0,
            latency_p50_ms=p50, latency_p99_ms=p99, episode_step=self._episode_step,
            task=(self._policy.task or '') if self._policy is not None else '',
            instruction=self._instruction, last_error=self._last_error)

    def _publish_status(self):
        status = self.status
        status.header.stamp = self.get_clock().now().to_msg()
        self._status_pub.publish(status)

    def _diagnostics(self):
        status = self.status
        if self._state == 'active' and not self._tick_ok:
            level, message = DiagnosticStatus.ERROR, status.last_error
        elif self._state != 'active' or not self._enabled:
            level, message = DiagnosticStatus.WARN, (
                f'{self._state}, motion {"enabled" if self._enabled else "disabled"}')
        else:
            level, message = DiagnosticStatus.OK, f'running at {status.control_rate_hz:.1f} Hz'
        values = [KeyValue(key=name, value=str(getattr(status, name))) for name in (
            'state', 'motion_enabled', 'control_rate_hz', 'latency_p50_ms', 'latency_p99_ms',
            'episode_step', 'task', 'last_error')]
        diagnostic = DiagnosticStatus(
            level=level, name=self.get_fully_qualified_name(), message=message,
            hardware_id='', values=values)
        array = DiagnosticArray(status=[diagnostic])
        array.header.stamp = self.get_clock().now().to_msg()
        return array


def main(argv=None):
    """Run the node until shutdown.

    Args:
        argv: Command line including ROS arguments; defaults to ``sys.argv``.

    Returns:
        int: Exit status.
    """
    return spin_nodes([InferenceNode], sys.argv if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
