"""Node: a MuJoCo arm with the ROS interfaces of a Gazebo + ros2_control arm.

Publishes ``/joint_states`` (arm joints then the gripper finger, rad and m), camera images on
``/camera/image_raw`` (rgb8, rendered offscreen) with ``/camera/camera_info`` (optionally a
wrist camera's too, on ``wrist_image_topic``), and a
``gato_ros/TaskStatus`` on ``~/task_status``; follows ``trajectory_msgs/JointTrajectory`` on
``/<controller_name>/joint_trajectory`` with joint_trajectory_controller semantics
(:mod:`gato_ros.nodes.trajectory_following`) through position actuators; takes gripper
position commands on a forward-controller topic; ``~/reset_episode`` starts a new episode of a
task with a seed.

It also has the Cartesian velocity interface many arms' drivers offer (a twist controller):
each ``geometry_msgs/TwistStamped`` on ``twist_command_topic`` (tool centre point, base frame)
becomes the joint motion of one ``twist_command_period_s``, by the damped least-squares step
the scripted experts use (:func:`gato_ros.sim.experts.twist_joint_deltas`, within the joint
velocity limits), then the arm holds: silence stops it. The inference node's ``servo`` mode
drives it here; on a lab arm the same node drives MoveIt Servo instead.

Physics follows wall-clock time times ``real_time_factor``; with ``publish_clock`` it
publishes ``/clock`` so the other nodes can run on simulated time.

Task success is latched per episode: it reads True from the first moment the task's success
check holds until the next reset (as in Meta-World's success-at-any-time).
"""

import sys
import time

from gato_ros.msg import TaskStatus
from gato_ros.nodes.parameters import declare_parameters, ParameterSpec
from gato_ros.nodes.runner import spin_nodes
from gato_ros.nodes.trajectory_following import TrajectoryFollower
from gato_ros.sim.arms import BASE_LINK
from gato_ros.sim.experts import ExpertConfig, make_expert, twist_joint_deltas
from gato_ros.sim.scene import ArmSim, WRIST_CAMERA
from gato_ros.sim.tasks import list_tasks
from gato_ros.srv import ResetEpisode
from geometry_msgs.msg import TwistStamped
import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float32MultiArray, Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory

NODE_NAME = 'mujoco_arm'
LOG_THROTTLE_S = 2.0
# Largest simulated time advanced in one physics update: after a stall (e.g. a slow render)
# the simulation slows down rather than jumping ahead.
MAX_CATCH_UP_S = 0.1

RATE = (0.1, 1000.0)
PARAMETERS = (
    ParameterSpec('arm', 'simulated arm (see eval --list-arms)'),
    ParameterSpec('task', 'task of the first episode (see eval --list-tasks)'),
    ParameterSpec('seed', 'randomization seed of the first episode', (0, 2 ** 31 - 1)),
    ParameterSpec('joint_states_topic', 'sensor_msgs/JointState output topic'),
    ParameterSpec('image_topic', 'sensor_msgs/Image output topic (rgb8)'),
    ParameterSpec('camera_info_topic', 'sensor_msgs/CameraInfo output topic'),
    ParameterSpec('controller_name', 'trajectory controller: /<name>/joint_trajectory'),
    ParameterSpec('trajectory_includes_gripper',
                  'the gripper joint is one of the trajectory controller joints'),
    ParameterSpec('gripper_command_topic',
                  'std_msgs/Float64MultiArray gripper position command topic (m)'),
    ParameterSpec('twist_command_topic',
                  'geometry_msgs/TwistStamped tool velocity command topic (base_link frame)'),
    ParameterSpec('twist_command_period_s', 'how long one twist command moves the arm (s)',
                  (0.001, 1.0)),
    ParameterSpec('camera', 'rendered camera: scene or wrist'),
    ParameterSpec('camera_frame_id', 'frame_id of images and camera info'),
    ParameterSpec('camera_height', 'rendered image height (px)', (16, 2048)),
    ParameterSpec('camera_width', 'rendered image width (px)', (16, 2048)),
    ParameterSpec('camera_rate_hz', 'image publication rate (Hz)', RATE),
    ParameterSpec('wrist_image_topic',
                  "wrist camera's sensor_msgs/Image topic (rgb8); empty: no wrist camera"),
    ParameterSpec('wrist_camera_info_topic', "wrist camera's sensor_msgs/CameraInfo topic"),
    ParameterSpec('wrist_camera_frame_id', "frame_id of the wrist camera's images"),
    ParameterSpec('joint_state_rate_hz', 'joint state publication rate (Hz)', RATE),
    ParameterSpec('task_status_rate_hz', 'task status publication rate (Hz)', RATE),
    ParameterSpec('physics_update_period_s', 'wall-clock period of physics updates (s)',
                  (0.001, 0.1)),
    ParameterSpec('real_time_factor', 'simulated seconds per wall-clock second', (0.01, 100.0)),
    ParameterSpec('publish_clock', 'publish /clock from the simulation'),
    ParameterSpec('publish_expert_action', 'publish the scripted expert action'),
    ParameterSpec('expert_rate_hz', 'expert action publication rate (Hz)', RATE),
    ParameterSpec('expert_action_space', 'expert actions: joint (deltas) or twist'),
)


class MujocoArm(Node):
    """Simulate one arm on a table and expose it like a ros2_control arm."""

    def __init__(self, **kwargs):
        """Load the arm, declare parameters, advertise topics and start the first episode.

        Args:
            **kwargs: Passed to ``rclpy.node.Node`` (e.g. ``parameter_overrides``).
        """
        super().__init__(NODE_NAME, **kwargs)
        self._params = params = declare_parameters(self, NODE_NAME, PARAMETERS, read_only=True)
        self._sim = ArmSim(arm=params['arm'], camera=params['camera'],
                           image_size=(params['camera_height'], params['camera_width']))
        arm = self._sim.arm
        n_controller = len(arm.joint_names) - (0 if params['trajectory_includes_gripper'] else 1)
        self._follower = TrajectoryFollower(arm.joint_names[:n_controller],
                                            arm.lower_limits[:n_controller],
                                            arm.upper_limits[:n_controller])
        self._gripper_target_m = None
        self._twist_controller = ExpertConfig(
            control_rate_hz=1.0 / params['twist_command_period_s'])
        self._expert_config = ExpertConfig(control_rate_hz=params['expert_rate_hz'],
                                           action_space=params['expert_action_space'])
        self._expert = None
        self._success = False
        self._episode = {'task': params['task'], 'seed': params['seed']}
        # Simulated time of all episodes before the current one: /clock never goes back.
        self._clock_offset_s = 0.0
        self._wall_start_s = time.monotonic()
        self._sim_start_s = 0.0
        self._create_interfaces(params)
        self._start_episode(params['task'], params['seed'])

    def _create_interfaces(self, params):
        self._joint_pub = self.create_publisher(JointState, params['joint_states_topic'], 10)
        self._image_pub = self.create_publisher(Image, params['image_topic'],
                                                qos_profile_sensor_data)
        self._info_pub = self.create_publisher(CameraInfo, params['camera_info_topic'],
                                               qos_profile_sensor_data)
        self._cameras = [(None, params['camera_frame_id'], self._image_pub, self._info_pub)]
        if params['wrist_image_topic']:
            self._cameras.append((
                WRIST_CAMERA, params['wrist_camera_frame_id'],
                self.create_publisher(Image, params['wrist_image_topic'],
                                      qos_profile_sensor_data),
                self.create_publisher(CameraInfo, params['wrist_camera_info_topic'],
                                      qos_profile_sensor_data)))
        self._status_pub = self.create_publisher(TaskStatus, '~/task_status', 10)
        self._clock_pub = (self.create_publisher(Clock, '/clock', 10)
                           if params['publish_clock'] else None)
        self.create_subscription(
            JointTrajectory, f'/{params["controller_name"]}/joint_trajectory',
            self._on_trajectory, 10)
        self.create_subscription(Float64MultiArray, params['gripper_command_topic'],
                                 self._on_gripper_command, 10)
        self.create_subscription(TwistStamped, params['twist_command_topic'],
                                 self._on_twist, 10)
        self.create_service(ResetEpisode, '~/reset_episode', self._on_reset_episode)
        self.create_timer(params['physics_update_period_s'], self._on_physics)
        self.create_timer(1.0 / params['joint_state_rate_hz'], self._publish_joint_states)
        self.create_timer(1.0 / params['camera_rate_hz'], self._publish_camera)
        self.create_timer(1.0 / params['task_status_rate_hz'], self._publish_task_status)
        if params['publish_expert_action']:
            self._expert_pub = self.create_publisher(Float32MultiArray, '~/expert_action', 10)
            self.create_timer(1.0 / params['expert_rate_hz'], self._publish_expert_action)

    # Episodes -----------------------------------------------------------------------------

    def _start_episode(self, task, seed):
        """Reset the scene; raises ValueError on an unknown task or bad seed."""
        if task not in list_tasks():
            raise ValueError(f'unknown task {task!r}; expected one of {list_tasks()}')
        self._clock_offset_s = self._sim_now_s()
        self._sim.reset(task, seed)
        self._follower.clear()
        self._gripper_target_m = None
        self._expert = make_expert(task, self._expert_config)
        self._success = False
        self._episode = {'task': task, 'seed': int(seed)}
        self._wall_start_s = time.monotonic()
        self._sim_start_s = self._sim.time_s
        self.get_logger().info(f'episode: task {task}, seed {seed}: "{self._sim.instruction}"')

    def _on_reset_episode(self, request, response):
        task = request.task or self._episode['task']
        try:
            self._start_episode(task, request.seed)
        except ValueError as error:
            response.success, response.message = False, str(error)
            return response
        response.success = True
        response.message = f'{task} seed {request.seed}'
        response.instruction = self._sim.instruction
        return response

    # Commands -----------------------------------------------------------------------------

    def _sim_now_s(self):
        """Monotonic simulated time over all episodes (s): the clock of stamps and commands."""
        return self._clock_offset_s + self._sim.time_s

    def _stamp_clock_s(self):
        if self._clock_pub is not None:
            return self._sim_now_s()
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_trajectory(self, msg):
        stamp_s = Time.from_msg(msg.header.stamp).nanoseconds * 1e-9
        now_s = self._stamp_clock_s()
        try:
            note = self._follower.accept(
                msg.joint_names, [p.time_from_start.sec + 1e-9 * p.time_from_start.nanosec
                                  for p in msg.points],
                [list(p.positions) for p in msg.points],
                start_time_s=now_s if stamp_s == 0.0 else stamp_s,
                current_positions=self._current_controller_positions())
        except ValueError as error:
            self.get_logger().error(f'rejected trajectory: {error}',
                                    throttle_duration_sec=LOG_THROTTLE_S)
            return
        if note:
            self.get_logger().warning(note, throttle_duration_sec=LOG_THROTTLE_S)

    def _on_twist(self, msg):
        linear, angular = msg.twist.linear, msg.twist.angular
        twist = [linear.x, linear.y, linear.z, angular.x, angular.y, angular.z]
        try:
            if msg.header.frame_id not in ('', BASE_LINK):
                raise ValueError(f'frame_id must be {BASE_LINK!r} (or empty), got '
                                 f'{msg.header.frame_id!r}')
            deltas = twist_joint_deltas(self._sim, twist, self._twist_controller)
        except ValueError as error:
            self.get_logger().error(f'rejected twist: {error}',
                                    throttle_duration_sec=LOG_THROTTLE_S)
            return
        measured = self._current_controller_positions()
        # The gripper, when it is a controller joint, keeps its commanded target.
        targets = self._sim.joint_targets()[:measured.size]
        targets[:deltas.size] = measured[:deltas.size] + deltas
        self._follower.accept(self._follower.joint_names,
                              [self._params['twist_command_period_s']], [targets],
                              start_time_s=self._stamp_clock_s(), current_positions=measured)

    def _current_controller_positions(self):
        return self._sim.joint_positions()[:len(self._follower.joint_names)]

    def _on_gripper_command(self, msg):
        values = np.asarray(msg.data, dtype=np.float64)
        if values.shape != (1,) or not np.isfinite(values).all():
            self.get_logger().error(
                f'rejected gripper command: expected one finite position (m), got '
                f'{list(msg.data)}', throttle_duration_sec=LOG_THROTTLE_S)
            return
        arm = self._sim.arm
        self._gripper_target_m = float(np.clip(values[0], arm.lower_limits[-1],
                                               arm.upper_limits[-1]))

    # Physics ------------------------------------------------------------------------------

    def _on_physics(self):
        wall_elapsed_s = time.monotonic() - self._wall_start_s
        due_s = self._sim_start_s + wall_elapsed_s * self._params['real_time_factor']
        lag_s = min(due_s - self._sim.time_s, MAX_CATCH_UP_S)
        if lag_s < self._sim.physics_dt_s:
            return
        if lag_s == MAX_CATCH_UP_S:
            # Fell behind: re-anchor so the simulation does not try to catch up forever.
            self._wall_start_s = time.monotonic()
            self._sim_start_s = self._sim.time_s + lag_s
        self._apply_targets()
        self._sim.step(lag_s)
        if self._sim.is_unstable():
            self.get_logger().error(
                f'simulation became unstable (NaN or runaway state); resetting episode '
                f'{self._episode}')
            self._start_episode(self._episode['task'], self._episode['seed'])
            return
        self._success = self._success or self._sim.success()
        if self._clock_pub is not None:
            self._clock_pub.publish(Clock(clock=self._stamp()))

    def _apply_targets(self):
        targets = self._sim.joint_targets()
        velocities = np.zeros_like(targets)
        sampled = self._follower.sample(self._stamp_clock_s())
        if sampled is not None:
            positions, slopes = sampled
            targets[:positions.size] = positions
            velocities[:slopes.size] = slopes
        if self._gripper_target_m is not None:
            targets[-1] = self._gripper_target_m
        # Feeding the trajectory's velocity forward removes the position servos' lag.
        self._sim.set_joint_targets(targets, velocities)

    # Outputs ------------------------------------------------------------------------------

    def _stamp(self):
        return Time(nanoseconds=int(self._stamp_clock_s() * 1e9)).to_msg()

    def _publish_joint_states(self):
        msg = JointState(header=Header(stamp=self._stamp()),
                         name=list(self._sim.joint_names),
                         position=self._sim.joint_positions().tolist(),
                         velocity=self._sim.joint_velocities().tolist())
        self._joint_pub.publish(msg)

    def _publish_camera(self):
        stamp = self._stamp()
        for camera, frame_id, image_pub, info_pub in self._cameras:
            self._publish_image(camera, Header(stamp=stamp, frame_id=frame_id), image_pub,
                                info_pub)

    def _publish_image(self, camera, header, image_pub, info_pub):
        rgb = self._sim.render(camera)
        height, width = rgb.shape[:2]
        image_pub.publish(Image(header=header, height=height, width=width, encoding='rgb8',
                                is_bigendian=0, step=width * 3, data=rgb.tobytes()))
        fx, fy, cx, cy = self._sim.camera_intrinsics(camera)
        info_pub.publish(CameraInfo(
            header=header, height=height, width=width, distortion_model='plumb_bob',
            d=[0.0] * 5, k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
            r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def _publish_task_status(self):
        self._status_pub.publish(TaskStatus(
            header=Header(stamp=self._stamp()), task=self._episode['task'],
            instruction=self._sim.instruction, arm=self._sim.arm.name,
            seed=self._episode['seed'], episode_time_s=self._sim.time_s,
            success=self._success))

    def _publish_expert_action(self):
        action = self._expert.act(self._sim)
        self._expert_pub.publish(Float32MultiArray(data=np.asarray(action).tolist()))


def main(argv=None):
    """Run the simulated arm until shutdown.

    Args:
        argv: Command line including ROS arguments; defaults to ``sys.argv``.

    Returns:
        int: Exit status.
    """
    return spin_nodes([MujocoArm], sys.argv if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
