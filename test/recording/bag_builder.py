"""Write small synthetic rosbag2 recordings with rosbags, and the values they must convert to.

The standard scenario (:func:`write_demo_bag`) has, per episode e starting at ``S_e = T0 + e s``
(times in ms after ``S_e``):

* ``/joint_states`` every 20 ms from 0 to 980: joints j1, j2, finger plus two extra joints,
  names shuffled in every message, positions :func:`joint_positions` of the time;
* ``/camera/image_raw`` (rgb8, 48 x 64) and ``/wrist/image_raw`` (bgr8, 32 x 32) every 50 ms
  from 5 to 955: uniform frames whose colour encodes the episode and the frame number;
* the commanded trajectory every 100 ms from 20 to 920: measured positions at ``100 k`` plus
  :func:`command_delta` (k), finger target ``0.04 * (k % 2)``, joint names shuffled;
* optionally, a commanded ``TwistStamped`` :func:`command_twist` (k) at the same times;
* ``/mujoco_arm/task_status`` every 100 ms from 0 to 900, ``episode_time_s`` restarting at 0.

With a 10 Hz grid and the default half-period command lookahead the ticks fall at
``5 + 100 k`` ms: the joint message at ``100 k``, camera frame ``2 k`` and the command ``k``.
"""

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

T0_NS = 1_000 * 10 ** 9
MS = 10 ** 6
JOINT_NAMES = ('j1', 'j2', 'finger')
CAMERA = '/camera/image_raw'
WRIST = '/wrist/image_raw'
TRAJECTORY = '/joint_trajectory_controller/joint_trajectory'
TWIST = '/twist_controller/commands'
STATUS = '/mujoco_arm/task_status'
INSTRUCTION = '/gato/instruction'
MSG_DIR = Path(__file__).resolve().parents[2] / 'msg'


def make_typestore():
    """Kilted types plus gato_ros/msg/TaskStatus, read from the repository's msg/ folder."""
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(get_types_from_msg((MSG_DIR / 'TaskStatus.msg').read_text(),
                                      'gato_ros/msg/TaskStatus'))
    return store


def joint_positions(time_ns):
    """Positions of (j1, j2, finger) at a time: smooth, distinct, finger in [0.005, 0.035]."""
    s = (time_ns - T0_NS) / 1e9
    return np.array([0.1 + 0.5 * s, -0.2 + 0.25 * s * s, 0.02 + 0.015 * np.sin(3.0 * s)])


def command_delta(k):
    """Commanded arm delta (j1, j2) of control step k."""
    return np.array([0.01 * (k + 1), -0.02 * (k + 1)])


def command_twist(k):
    """Commanded twist (linear m/s, angular rad/s) of control step k."""
    return np.array([0.01 * k, -0.02, 0.05, 0.1, -0.2 * k, 0.3])


def camera_colour(episode, frame):
    """RGB colour of a camera frame."""
    return np.array([frame * 10 % 256, 50 + episode, 7], dtype=np.uint8)


def wrist_colour(episode, frame):
    """RGB colour of a wrist-camera frame."""
    return np.array([200, frame * 9 % 256, 90 + episode], dtype=np.uint8)


class BagBuilder:
    """Context manager writing one rosbag2 bag; connections are added on first use."""

    def __init__(self, path, storage='mcap', compressed=False):
        """Create the builder.

        Args:
            path: Bag directory to create.
            storage: 'mcap' or 'sqlite3'.
            compressed: zstd-compress the MCAP chunks.
        """
        self.store = make_typestore()
        plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
        self.writer = Writer(path, version=9, storage_plugin=plugin)
        if compressed:
            self.writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        self.connections = {}

    def __enter__(self):
        self.writer.open()
        return self

    def __exit__(self, *exc):
        self.writer.close()
        return False

    def _type(self, name):
        return self.store.types[name]

    def _header(self, time_ns, frame_id=''):
        stamp = self._type('builtin_interfaces/msg/Time')(
            sec=time_ns // 10 ** 9, nanosec=time_ns % 10 ** 9)
        return self._type('std_msgs/msg/Header')(stamp=stamp, frame_id=frame_id)

    def write(self, topic, time_ns, msg):
        """Serialize and write one message, adding its connection when new."""
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(
                topic, msg.__msgtype__, typestore=self.store)
        self.writer.write(self.connections[topic], time_ns,
                          self.store.serialize_cdr(msg, msg.__msgtype__))

    def joint_state(self, time_ns, names, positions, topic='/joint_states'):
        """Write a sensor_msgs/JointState."""
        empty = np.zeros(0, dtype=np.float64)
        self.write(topic, time_ns, self._type('sensor_msgs/msg/JointState')(
            header=self._header(time_ns), name=list(names),
            position=np.asarray(positions, dtype=np.float64), velocity=empty, effort=empty))

    def image(self, time_ns, rgb, encoding, topic=CAMERA, data=None):
        """Write a sensor_msgs/Image holding an (H, W, 3) RGB array as rgb8 or bgr8."""
        pixels = rgb if encoding == 'rgb8' else rgb[..., ::-1]
        height, width = rgb.shape[:2]
        raw = np.ascontiguousarray(pixels).reshape(-1) if data is None else data
        self.write(topic, time_ns, self._type('sensor_msgs/msg/Image')(
            header=self._header(time_ns), height=height, width=width, encoding=encoding,
            is_bigendian=0, step=width * 3, data=raw))

    def compressed_image(self, time_ns, png_bytes, topic=CAMERA):
        """Write a sensor_msgs/CompressedImage."""
        self.write(topic, time_ns, self._type('sensor_msgs/msg/CompressedImage')(
            header=self._header(time_ns), format='png',
            data=np.frombuffer(png_bytes, dtype=np.uint8)))

    def trajectory(self, time_ns, names, positions, topic=TRAJECTORY):
        """Write a trajectory_msgs/JointTrajectory with one point."""
        point = self._type('trajectory_msgs/msg/JointTrajectoryPoint')(
            positions=np.asarray(positions, dtype=np.float64),
            velocities=np.zeros(0), accelerations=np.zeros(0), effort=np.zeros(0),
            time_from_start=self._type('builtin_interfaces/msg/Duration')(
                sec=0, nanosec=100 * MS))
        self.write(topic, time_ns, self._type('trajectory_msgs/msg/JointTrajectory')(
            header=self._header(0), joint_names=list(names), points=[point]))

    def twist(self, time_ns, values, frame_id, topic=TWIST):
        """Write a geometry_msgs/TwistStamped of (linear xyz, angular xyz)."""
        vector = self._type('geometry_msgs/msg/Vector3')
        twist = self._type('geometry_msgs/msg/Twist')(
            linear=vector(*map(float, values[:3])), angular=vector(*map(float, values[3:])))
        self.write(topic, time_ns, self._type('geometry_msgs/msg/TwistStamped')(
            header=self._header(time_ns, frame_id), twist=twist))

    def task_status(self, time_ns, task, instruction, seed, episode_time_s, success):
        """Write a gato_ros/TaskStatus."""
        self.write(STATUS, time_ns, self._type('gato_ros/msg/TaskStatus')(
            header=self._header(time_ns), task=task, instruction=instruction, arm='panda',
            seed=seed, episode_time_s=episode_time_s, success=success))

    def instruction(self, time_ns, text):
        """Write a std_msgs/String instruction."""
        self.write(INSTRUCTION, time_ns, self._type('std_msgs/msg/String')(data=text))


def write_demo_bag(path, episodes=(True, False), storage='mcap', skip_frames=(),
                   small_frames_from=None, broken_frame=None, gripper_in_command=True,
                   wrist=True, status=True, instruction=None, compressed=False,
                   twist_frames=None):
    """Write the standard scenario (module docstring).

    Args:
        path: Bag directory to create.
        episodes: Success flag of each episode (its last task status).
        storage: 'mcap' or 'sqlite3'.
        skip_frames: Camera frame numbers not written (dropped frames).
        small_frames_from: From this camera frame number on, frames are 24 x 32.
        broken_frame: Camera frame number written with a too-short data buffer.
        gripper_in_command: Whether the trajectory names the finger joint.
        wrist: Whether the wrist camera is recorded.
        status: Whether task status is recorded.
        instruction: Text published once on the instruction topic before the first episode.
        compressed: zstd-compress the MCAP chunks.
        twist_frames: Frame of each of the 10 commanded twists of an episode; None: no
            twists.

    Returns:
        Path: The bag directory.
    """
    rng = np.random.default_rng(0)
    names = ['extra_a', 'finger', 'j2', 'extra_b', 'j1']
    with BagBuilder(path, storage, compressed) as bag:
        if instruction is not None:
            bag.instruction(T0_NS - 50 * MS, instruction)
        for e, success in enumerate(episodes):
            start = T0_NS + e * 1000 * MS
            for i in range(50):
                t = start + 20 * i * MS
                order = rng.permutation(len(names))
                values = dict(zip(JOINT_NAMES, joint_positions(t)), extra_a=5.0, extra_b=-5.0)
                bag.joint_state(t, [names[j] for j in order], [values[names[j]] for j in order])
            for i in range(20):
                t = start + (5 + 50 * i) * MS
                if i not in skip_frames:
                    small = small_frames_from is not None and i >= small_frames_from
                    size = (24, 32) if small else (48, 64)
                    frame = np.broadcast_to(camera_colour(e, i), size + (3,))
                    data = np.zeros(10, dtype=np.uint8) if i == broken_frame else None
                    bag.image(t, frame, 'rgb8', data=data)
                if wrist:
                    bag.image(t, np.broadcast_to(wrist_colour(e, i), (32, 32, 3)), 'bgr8', WRIST)
            for k in range(10):
                target = joint_positions(start + 100 * k * MS)[:2] + command_delta(k)
                command = {'j1': target[0], 'j2': target[1], 'finger': 0.04 * (k % 2)}
                joints = ['j2', 'finger', 'j1'] if gripper_in_command else ['j2', 'j1']
                bag.trajectory(start + (20 + 100 * k) * MS, joints, [command[j] for j in joints])
                if twist_frames is not None:
                    bag.twist(start + (20 + 100 * k) * MS, command_twist(k), twist_frames[k])
                if status:
                    bag.task_status(start + 100 * k * MS, 'reach', f'reach target {e}', e,
                                    0.1 * k, success and k >= 5)
    return Path(path)
