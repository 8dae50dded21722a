"""Turn one rosbag2 recording (MCAP or sqlite3) into :class:`gato_ros.data.Episode` objects.

The pure-Python ``rosbags`` package reads the bag; neither rclpy nor a ROS install is needed.
Message types come from the definitions embedded in the bag, or, for bags without them, from
the ROS 2 Kilted typestore plus gato_ros's own ``msg/*.msg``.

A bag is read in two passes so that only the camera frames that end up in an episode are
decoded: the first pass decodes joint states, commanded trajectories, task status and
instructions and notes the receive time of every image; episodes are then split and aligned
(:mod:`gato_ros.recording.alignment`); the second pass decodes the chosen frames. Every time
is the bag's receive (log) time: header stamps may come from another clock (simulation time)
or be zero (trajectories).

Nothing in a bag's content makes :func:`convert_bag` raise: unreadable bags, missing topics,
unknown joints, dropped frames, empty episodes and mixed image sizes are recorded in the
returned :class:`~gato_ros.recording.summary.ConversionSummary` (see ``docs/data.md``).
"""

from dataclasses import asdict, dataclass, field
import functools
import math
import os
from pathlib import Path
import sys

import cv2
from gato_ros.data import ACTION_KEY, Episode, episode_task_name, TWIST_SIZE
from gato_ros.nodes.action_mapping import GripperConfig
from gato_ros.nodes.image_conversion import (
    crop_and_resize, image_fields_to_model_input, ImageConversionConfig)
from gato_ros.nodes.joint_selection import JointSelectionConfig, JointStateCache
from gato_ros.recording.alignment import (
    align_streams, joint_actions, NO_NEXT_STATE, select_ticks, twist_actions)
from gato_ros.recording.summary import ConversionSummary
import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

ACTION_SOURCES = ('commanded', 'next_state', 'twist')
JOINT_STATE_TYPE = 'sensor_msgs/msg/JointState'
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
TRAJECTORY_TYPE = 'trajectory_msgs/msg/JointTrajectory'
TWIST_TYPE = 'geometry_msgs/msg/TwistStamped'
# The default camera topic, observation key 'image'.
CAMERA_TOPIC = '/camera/image_raw'
STRING_TYPE = 'std_msgs/msg/String'
TASK_STATUS_TYPE = 'gato_ros/msg/TaskStatus'
_END_NS = 2 ** 63 - 1
# Stream names used for alignment; images are 'image:<observation key>'.
_JOINTS = 'joints'
_COMMAND = 'command'


@dataclass(frozen=True)
class BagConversionConfig:
    """Topics, joints, timing and filters of a bag conversion.

    Attributes:
        joint_names: Joints of the ``joints`` observation in order: arm joints, then the
            gripper finger joint when ``has_gripper``.
        has_gripper: Whether the last of ``joint_names`` is a gripper (action: a [0, 1]
            command instead of a delta).
        gripper_closed_position: Gripper joint position of command 0 (m or rad).
        gripper_open_position: Gripper joint position of command 1 (the open width).
        joint_states_topic: ``sensor_msgs/JointState`` topic (required).
        image_topics: observation key -> ``sensor_msgs/Image`` or ``CompressedImage`` topic
            (all required); empty for a joints-only dataset.
        trajectory_topic: commanded ``trajectory_msgs/JointTrajectory`` topic (required for
            ``action_source='commanded'``).
        twist_topic: commanded ``geometry_msgs/TwistStamped`` topic, e.g. MoveIt Servo's
            ``/servo_node/delta_twist_cmds`` (required for ``action_source='twist'``).
        twist_frame_id: Frame the commanded twists must be expressed in (the arm's base);
            twists stamped with an empty frame count as this frame, others are rejected.
        instruction_topic: ``std_msgs/String`` instruction topic (optional).
        task_status_topic: ``gato_ros/TaskStatus`` topic (optional): task name, instruction,
            success and episode boundaries.
        joints_key: Observation key of the joint positions.
        control_rate_hz: Rate of the resampled timesteps (Hz).
        max_age_s: Oldest message a tick may use (s).
        command_lookahead_s: The commanded trajectory is read this long after each tick, so
            that the command sent in reaction to the tick's observation is found (s); None:
            half a control period.
        joint_max_skew_s: Largest receive-time spread of joints merged from several
            ``JointState`` publishers (s).
        image: Output size and scaling of images (default 64 x 64).
        action_source: ``'commanded'``, ``'next_state'`` or ``'twist'`` (see
            ``docs/data.md``).
        task_name: Task name for every episode; empty: from the task status (named
            ``<arm>/twist/<task>`` for twist actions).
        instruction: Instruction for every episode; empty: from the task status, else the
            instruction topic.
        drop_unsuccessful: Leave out episodes whose task status reported no success.
        max_dropped_tick_fraction: Leave out episodes that dropped more of their ticks.
        min_steps: Leave out episodes with fewer timesteps.
    """

    joint_names: tuple
    has_gripper: bool = True
    gripper_closed_position: float = 0.0
    gripper_open_position: float = 0.04
    joint_states_topic: str = '/joint_states'
    image_topics: dict = field(default_factory=lambda: {'image': CAMERA_TOPIC})
    trajectory_topic: str = '/joint_trajectory_controller/joint_trajectory'
    twist_topic: str = '/twist_controller/commands'
    twist_frame_id: str = 'base_link'
    instruction_topic: str = '/gato/instruction'
    task_status_topic: str = '/mujoco_arm/task_status'
    joints_key: str = 'joints'
    control_rate_hz: float = 10.0
    max_age_s: float = 0.15
    command_lookahead_s: float | None = None
    joint_max_skew_s: float = 0.05
    image: ImageConversionConfig = field(default_factory=ImageConversionConfig)
    action_source: str = 'commanded'
    task_name: str = ''
    instruction: str = ''
    drop_unsuccessful: bool = True
    max_dropped_tick_fraction: float = 0.25
    min_steps: int = 1

    def __post_init__(self):
        """Normalize the containers and check the values.

        Raises:
            ValueError: On empty or duplicated joints, a gripper without arm joints, bad
                gripper positions, a non-positive rate, negative times, an unknown action
                source, a reserved or empty observation key, an empty topic or one topic in
                two roles, or bad filters.
        """
        object.__setattr__(self, 'joint_names', tuple(self.joint_names))
        object.__setattr__(self, 'image_topics', dict(self.image_topics))
        JointSelectionConfig(self.joint_names, max_skew_s=self.joint_max_skew_s)
        if self.has_gripper:
            if len(self.joint_names) < 2:
                raise ValueError(
                    'has_gripper needs at least one arm joint before the gripper joint, got '
                    f'joint_names={list(self.joint_names)}')
            GripperConfig(self.joint_names[-1], 'joint', self.gripper_closed_position,
                          self.gripper_open_position)
        if not (self.control_rate_hz > 0 and math.isfinite(self.control_rate_hz)):
            raise ValueError(f'control_rate_hz must be > 0, got {self.control_rate_hz}')
        lookahead = 0.0 if self.command_lookahead_s is None else self.command_lookahead_s
        if not (self.max_age_s >= 0 and lookahead >= 0):
            raise ValueError(
                f'max_age_s and command_lookahead_s must be >= 0, got {self.max_age_s} and '
                f'{self.command_lookahead_s}')
        if self.action_source not in ACTION_SOURCES:
            raise ValueError(
                f'action_source must be one of {ACTION_SOURCES}, got {self.action_source!r}')
        self._check_keys_and_topics()
        if not 0.0 <= self.max_dropped_tick_fraction <= 1.0:
            raise ValueError(
                'max_dropped_tick_fraction must be in [0, 1], got '
                f'{self.max_dropped_tick_fraction}')
        if self.min_steps < 1:
            raise ValueError(f'min_steps must be >= 1, got {self.min_steps}')

    def _check_keys_and_topics(self):
        keys = [self.joints_key, *self.image_topics]
        if not all(isinstance(k, str) and k for k in keys) or ACTION_KEY in keys:
            raise ValueError(
                f'observation keys must be non-empty strings other than {ACTION_KEY!r}, '
                f'got {keys}')
        if self.joints_key in self.image_topics:
            raise ValueError(f'image key {self.joints_key!r} is the joints key')
        topics = [self.joint_states_topic, self.trajectory_topic, self.twist_topic,
                  self.instruction_topic, self.task_status_topic,
                  *sorted(set(self.image_topics.values()))]
        if not all(isinstance(t, str) and t for t in topics):
            raise ValueError(f'topics must be non-empty strings, got {topics}')
        if len(set(topics)) != len(topics):
            raise ValueError(
                'joint states, trajectory, twist, instruction, task status and camera topics '
                f'must differ (cameras may share one), got {topics}')
        if not (isinstance(self.twist_frame_id, str) and self.twist_frame_id):
            raise ValueError(f'twist_frame_id must name a frame, got {self.twist_frame_id!r}')

    @property
    def period_ns(self):
        """Control period (ns).

        Returns:
            int: ``round(1e9 / control_rate_hz)``.
        """
        return round(1e9 / self.control_rate_hz)

    @property
    def lookahead_ns(self):
        """How long after a tick the commanded trajectory is read (ns).

        Returns:
            int: ``command_lookahead_s``, or half a period when it is None.
        """
        if self.command_lookahead_s is None:
            return self.period_ns // 2
        return round(self.command_lookahead_s * 1e9)

    @property
    def action_space(self):
        """Action space of the converted episodes.

        Returns:
            str: ``'twist'`` for ``action_source='twist'``, else ``'joint'``.
        """
        return 'twist' if self.action_source == 'twist' else 'joint'

    @property
    def command_topic(self):
        """Topic of the commands that define the actions.

        Returns:
            str | None: The trajectory or twist topic; None for ``'next_state'``.
        """
        return {'commanded': self.trajectory_topic,
                'twist': self.twist_topic}.get(self.action_source)

    @property
    def arm_joint_names(self):
        """Joints whose action is a position delta.

        Returns:
            tuple[str, ...]: ``joint_names`` without the gripper joint.
        """
        return self.joint_names[:-1] if self.has_gripper else self.joint_names

    def to_dict(self):
        """Return a JSON-serializable dict of every field (used for the cache key).

        Returns:
            dict: Field name -> value; ``image`` as a dict.
        """
        data = asdict(self)
        data['joint_names'] = list(self.joint_names)
        return data


def interface_directories():
    """Places where gato_ros's ``.msg`` files may live, most specific first.

    Returns:
        list[Path]: The source checkout's ``msg/``, then ``share/gato_ros/msg`` under this
        interpreter's prefix and under every ``AMENT_PREFIX_PATH`` entry.
    """
    prefixes = [sys.prefix, *os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep)]
    return [Path(__file__).resolve().parents[2] / 'msg'] + [
        Path(prefix) / 'share' / 'gato_ros' / 'msg' for prefix in prefixes if prefix]


@functools.lru_cache(maxsize=1)
def default_typestore():
    """ROS 2 Kilted message types plus gato_ros's messages, for bags without definitions.

    Returns:
        rosbags.typesys.store.Typestore: The typestore (shared; do not modify).

    Raises:
        FileNotFoundError: When no directory of :func:`interface_directories` holds
            ``TaskStatus.msg``.
    """
    candidates = interface_directories()
    directory = next((d for d in candidates if (d / 'TaskStatus.msg').is_file()), None)
    if directory is None:
        raise FileNotFoundError(
            f'gato_ros message definitions (TaskStatus.msg) not found in {candidates}')
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for path in sorted(directory.glob('*.msg')):
        types.update(get_types_from_msg(path.read_text(), f'gato_ros/msg/{path.stem}'))
    store.register(types)
    return store


def image_message_to_rgb(msg, msgtype, config):
    """Convert a deserialized ``Image`` or ``CompressedImage`` to the model's RGB input.

    Args:
        msg: The message (rosbags object with the ROS field names).
        msgtype: Its type name, one of :data:`IMAGE_TYPES`.
        config: An :class:`ImageConversionConfig`.

    Returns:
        tuple[np.ndarray, tuple[int, int]]: uint8 (out_h, out_w, 3) RGB and the input
        (height, width).

    Raises:
        ValueError: When the message does not hold a supported, consistent image.
    """
    if msgtype == IMAGE_TYPES[0]:
        rgb = image_fields_to_model_input(
            msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data, config)
        return rgb, (int(msg.height), int(msg.width))
    if 'compresseddepth' in msg.format.lower():
        raise ValueError(f'compressed depth images are not supported, got {msg.format!r}')
    bgr = cv2.imdecode(np.asarray(msg.data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'CompressedImage with format {msg.format!r} could not be decoded')
    rgb = np.ascontiguousarray(bgr[..., ::-1])  # (H, W, 3) R first
    return crop_and_resize(rgb, config.output_height, config.output_width), rgb.shape[:2]


class _BagSkipped(Exception):
    """A whole bag cannot be converted (reason as in ``summary.SKIP_REASONS``)."""

    def __init__(self, reason, detail):
        """Create the error.

        Args:
            reason: A key of ``SKIP_REASONS``.
            detail: Explanation.
        """
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _read(reader, connections):
    """Yield ``(connection, time_ns, raw)`` and turn the reader's failures into _BagSkipped."""
    iterator = reader.messages(connections=connections)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except Exception as error:  # a corrupted chunk raises anything from ReaderError
            # to OverflowError or a zstd error
            raise _BagSkipped('unreadable_bag', f'reading failed: {type(error).__name__}: '
                              f'{error}') from error
        yield item


@dataclass
class _Segment:
    """One episode's window in receive time and what the task status said about it."""

    start_ns: int
    stop_ns: int
    task: str = ''
    instruction: str = ''
    success: bool | None = None


@dataclass
class _Plan:
    """An aligned episode before its images are decoded; arrays have K kept ticks."""

    index: int
    task: str
    instruction: str | None
    success: bool | None
    ticks_total: int
    dropped: int
    joints: np.ndarray
    actions: np.ndarray
    image_indices: dict


class _BagConversion:
    """The conversion of one bag: pass 1, segmentation and alignment, pass 2, episodes."""

    def __init__(self, path, config, summary):
        self.path = path
        self.config = config
        self.summary = summary
        self.joint_cache = JointStateCache(
            JointSelectionConfig(config.joint_names, max_skew_s=config.joint_max_skew_s))
        self.joint_names_seen = set()
        self.joints = ([], [])  # receive times, (D,) positions
        # receive times, (arm_dim,) targets or (6,) twists, gripper target
        self.command = ([], [], [])
        self.command_missing = set()
        self.twist_frames_rejected = set()
        self.image_times = {topic: [] for topic in config.image_topics.values()}
        self.statuses = []
        self.instructions = []

    def run(self, reader):
        topics = self._check_topics(reader)
        handlers = {
            self.config.joint_states_topic: self._on_joint_state,
            self.config.instruction_topic: self._on_instruction,
            self.config.task_status_topic: self._on_task_status}
        if self.config.action_source == 'commanded':
            handlers[self.config.trajectory_topic] = self._on_trajectory
        elif self.config.action_source == 'twist':
            handlers[self.config.twist_topic] = self._on_twist
        wanted = [c for c in reader.connections if c.topic in handlers or c.topic in topics]
        for connection, time_ns, raw in _read(reader, wanted):
            if connection.topic in self.image_times:
                self.image_times[connection.topic].append(time_ns)
            if connection.topic in handlers:
                self._handle(reader, handlers[connection.topic], connection, time_ns, raw)
        self._arrays()
        plans = [plan for index, segment in enumerate(self._segments())
                 if (plan := self._plan(index, segment)) is not None]
        frames = self._decode_images(reader, plans)
        return [e for plan in plans if (e := self._assemble(plan, frames)) is not None]

    def _check_topics(self, reader):
        types = {}
        for connection in reader.connections:
            types.setdefault(connection.topic, set()).add(connection.msgtype)
        config = self.config
        required = {config.joint_states_topic: (JOINT_STATE_TYPE,)}
        required.update({topic: IMAGE_TYPES for topic in config.image_topics.values()})
        if config.command_topic:
            required[config.command_topic] = (
                TWIST_TYPE if config.action_source == 'twist' else TRAJECTORY_TYPE,)
        missing = [topic for topic in required if topic not in types]
        if missing:
            raise _BagSkipped('missing_topic', f'bag lacks topic(s) {missing}; it has '
                              f'{sorted(types)}')
        expected = dict(required, **{config.instruction_topic: (STRING_TYPE,),
                                     config.task_status_topic: (TASK_STATUS_TYPE,)})
        for topic, allowed in expected.items():
            wrong = types.get(topic, set()) - set(allowed)
            if wrong:
                raise _BagSkipped('wrong_type', f'topic {topic} carries {sorted(wrong)}, '
                                  f'expected {list(allowed)}')
        if not config.task_name and config.task_status_topic not in types:
            raise _BagSkipped('no_task', f'no {config.task_status_topic} in the bag and no '
                              'task name given (task_name / --task)')
        return set(required)

    def _handle(self, reader, handler, connection, time_ns, raw):
        try:
            msg = reader.deserialize(raw, connection.msgtype)
        except Exception:  # a damaged payload may fail in any way inside the decoder
            self.summary.add_bad_message(connection.topic)
            return
        try:
            handler(msg, time_ns)
        except ValueError:
            self.summary.add_bad_message(connection.topic)

    def _on_joint_state(self, msg, time_ns):
        self.joint_names_seen.update(msg.name)
        if self.joint_cache.update(msg.name, msg.position, msg.velocity, time_ns):
            sample = self.joint_cache.sample()
            if sample is not None:
                self.joints[0].append(time_ns)
                self.joints[1].append(sample.values)

    def _on_trajectory(self, msg, time_ns):
        if not len(msg.points):
            raise ValueError('JointTrajectory without points')
        names = list(msg.joint_names)
        positions = np.asarray(msg.points[0].positions, dtype=np.float64)
        if positions.shape != (len(names),) or not np.isfinite(positions).all():
            raise ValueError(f'JointTrajectory point does not hold {len(names)} finite values')
        index = {name: i for i, name in enumerate(names)}
        missing = [name for name in self.config.arm_joint_names if name not in index]
        if missing:
            self.command_missing.update(missing)
            raise ValueError(f'JointTrajectory does not name {missing}')
        gripper = self.config.joint_names[-1]
        self.command[0].append(time_ns)
        self.command[1].append(positions[[index[n] for n in self.config.arm_joint_names]])
        self.command[2].append(
            positions[index[gripper]] if self.config.has_gripper and gripper in index
            else np.nan)

    def _on_twist(self, msg, time_ns):
        frame = msg.header.frame_id
        if frame not in ('', self.config.twist_frame_id):
            self.twist_frames_rejected.add(frame)
            raise ValueError(f'twist in frame {frame!r}')
        linear, angular = msg.twist.linear, msg.twist.angular
        twist = np.array([linear.x, linear.y, linear.z, angular.x, angular.y, angular.z])
        if not np.isfinite(twist).all():
            raise ValueError('twist with non-finite values')
        self.command[0].append(time_ns)
        self.command[1].append(twist)
        self.command[2].append(np.nan)  # the gripper comes from the next measured state

    def _on_instruction(self, msg, time_ns):
        self.instructions.append((time_ns, msg.data))

    def _on_task_status(self, msg, time_ns):
        self.statuses.append((time_ns, msg))

    def _arrays(self):
        """Stack the pass-1 lists into arrays; fail the bag on joints no message names."""
        config = self.config
        dim = len(config.joint_names)
        command_dim = (TWIST_SIZE if config.action_source == 'twist'
                       else len(config.arm_joint_names))
        self.joints = (np.asarray(self.joints[0], dtype=np.int64),
                       np.asarray(self.joints[1], dtype=np.float32).reshape(-1, dim))
        self.command = (np.asarray(self.command[0], dtype=np.int64),
                        np.asarray(self.command[1], dtype=np.float64).reshape(-1, command_dim),
                        np.asarray(self.command[2], dtype=np.float64))
        self.image_times = {t: np.asarray(v, dtype=np.int64) for t, v in self.image_times.items()}
        unseen = [n for n in config.joint_names if n not in self.joint_names_seen]
        if unseen:
            raise _BagSkipped('unknown_joints', f'joint(s) {unseen} never appear on '
                              f'{config.joint_states_topic}; it names '
                              f'{sorted(self.joint_names_seen)}')
        if config.action_source == 'commanded' and self.command_missing and not len(
                self.command[0]):
            raise _BagSkipped('unknown_joints', f'{config.trajectory_topic} never names arm '
                              f'joint(s) {sorted(self.command_missing)}')
        if self.twist_frames_rejected and not len(self.command[0]):
            raise _BagSkipped('wrong_frame', f'every twist on {config.twist_topic} is in frame '
                              f'{sorted(self.twist_frames_rejected)}, expected '
                              f'{config.twist_frame_id!r} (twist_frame_id / --twist-frame-id)')

    def _segments(self):
        """Episode windows: a new one at each task status whose episode id or time resets."""
        if not self.statuses:
            return [_Segment(0, _END_NS)]
        starts = [0]
        for i in range(1, len(self.statuses)):
            before, now = self.statuses[i - 1][1], self.statuses[i][1]
            same_id = (before.task, before.instruction, before.arm, before.seed) == (
                now.task, now.instruction, now.arm, now.seed)
            if not same_id or now.episode_time_s < before.episode_time_s:
                starts.append(i)
        segments = []
        for j, first in enumerate(starts):
            end = starts[j + 1] if j + 1 < len(starts) else len(self.statuses)
            last = self.statuses[end - 1][1]
            stop_ns = self.statuses[end][0] if end < len(self.statuses) else _END_NS
            # Named like collect's episodes (<arm>/<task>) when the status names the arm.
            task = (episode_task_name(last.arm, last.task, self.config.action_space)
                    if last.arm else last.task)
            segments.append(_Segment(self.statuses[first][0], stop_ns, task,
                                     last.instruction, bool(last.success)))
        return segments

    def _stream_times(self, segment):
        """Per stream: first index inside the segment and the times inside it."""
        streams = {_JOINTS: self.joints[0]}
        streams.update({f'image:{key}': self.image_times[topic]
                        for key, topic in self.config.image_topics.items()})
        if self.config.command_topic:
            streams[_COMMAND] = self.command[0]
        window = {}
        for name, times in streams.items():
            first, end = np.searchsorted(times, [segment.start_ns, segment.stop_ns])
            window[name] = (int(first), times[first:end])
        return window

    def _topic(self, stream):
        if stream == _JOINTS:
            return self.config.joint_states_topic
        if stream == _COMMAND:
            return self.config.command_topic
        return self.config.image_topics[stream[len('image:'):]]

    def _cause(self, stream):
        return stream if stream == NO_NEXT_STATE else f'no fresh message on {self._topic(stream)}'

    def _plan(self, index, segment):
        config = self.config
        task = config.task_name or segment.task
        if not task:
            return self._skip(index, 'no_task', 'the task status has an empty task name')
        if segment.success is False and config.drop_unsuccessful:
            return self._skip(index, 'unsuccessful', 'the last task status says success=false'
                              ' (drop_unsuccessful / --keep-unsuccessful)')
        window = self._stream_times(segment)
        lookahead = {_COMMAND: config.lookahead_ns}
        alignment = align_streams({n: t for n, (_, t) in window.items()}, config.period_ns,
                                  round(config.max_age_s * 1e9), lookahead)
        if not len(alignment):
            counts = {self._topic(n): int(t.size) for n, (_, t) in window.items()}
            return self._skip(index, 'empty', f'no common span of the streams; messages in '
                              f'the episode: {counts}')
        needs_next = np.full(len(alignment), config.has_gripper)
        if config.command_topic:
            command = alignment.indices[_COMMAND]
            first = window[_COMMAND][0]
            needs_next &= ~np.isfinite(self.command[2][first + np.maximum(command, 0)])
        kept, total, dropped = select_ticks(alignment, list(window), _JOINTS, needs_next)
        self.summary.ticks_total += total
        for stream, count in dropped.items():
            self.summary.add_dropped(self._cause(stream), count)
        return self._plan_arrays(index, segment, task, window, alignment, kept, total)

    def _plan_arrays(self, index, segment, task, window, alignment, kept, total):
        config = self.config
        rows = np.flatnonzero(kept)  # (K,) kept tick indices
        position = {n: window[n][0] + np.maximum(alignment.indices[n], 0) for n in window}
        next_rows = np.minimum(rows + 1, len(alignment) - 1)
        joints = self.joints[1][position[_JOINTS][rows]]  # (K, D)
        next_joints = self.joints[1][position[_JOINTS][next_rows]]  # (K, D)
        gripper_range = ((config.gripper_closed_position, config.gripper_open_position)
                         if config.has_gripper else None)
        commands = gripper_targets = None
        if config.command_topic:
            commands = self.command[1][position[_COMMAND][rows]]  # (K, arm_dim) or (K, 6)
            gripper_targets = self.command[2][position[_COMMAND][rows]]  # (K,)
        if config.action_source == 'twist':
            actions = twist_actions(commands, next_joints, gripper_range)
        else:
            actions = joint_actions(joints, next_joints, commands, gripper_targets,
                                    len(config.arm_joint_names), gripper_range)
        first_tick = int(alignment.ticks_ns[rows[0]]) if rows.size else segment.start_ns
        return _Plan(
            index, task, self._instruction(segment, first_tick), segment.success, total,
            total - rows.size, joints, actions,
            {key: position[f'image:{key}'][rows] for key in config.image_topics})

    def _instruction(self, segment, first_tick_ns):
        """Override, else task status, else newest topic message by the first tick."""
        text = self.config.instruction or segment.instruction
        if not text and self.instructions:
            times = np.asarray([t for t, _ in self.instructions], dtype=np.int64)
            i = int(np.searchsorted(times, first_tick_ns, side='right')) - 1
            if i < 0 and times[0] < segment.stop_ns:
                i = 0
            text = self.instructions[i][1] if i >= 0 else ''
        return text or None

    def _decode_images(self, reader, plans):
        """Decode the frames the plans use: topic -> frame index -> (rgb, (H, W))."""
        needed = {topic: set() for topic in self.image_times}
        for plan in plans:
            for key, indices in plan.image_indices.items():
                needed[self.config.image_topics[key]].update(indices.tolist())
        frames = {topic: {} for topic in needed}
        if not any(needed.values()):
            return frames
        counters = dict.fromkeys(needed, 0)
        connections = [c for c in reader.connections if c.topic in needed]
        for connection, _, raw in _read(reader, connections):
            topic = connection.topic
            index, counters[topic] = counters[topic], counters[topic] + 1
            if index not in needed[topic]:
                continue
            try:
                msg = reader.deserialize(raw, connection.msgtype)
            except Exception:  # a damaged payload may fail in any way inside the decoder
                self.summary.add_bad_message(topic)
                continue
            try:
                frames[topic][index] = image_message_to_rgb(
                    msg, connection.msgtype, self.config.image)
            except (ValueError, cv2.error):
                self.summary.add_bad_message(topic)
        return frames

    def _assemble(self, plan, frames):
        config = self.config
        usable = np.ones(plan.joints.shape[0], dtype=bool)
        for key, indices in plan.image_indices.items():
            topic = config.image_topics[key]
            decoded = np.array([i in frames[topic] for i in indices.tolist()], dtype=bool)
            self.summary.add_dropped(f'undecodable image on {topic}', (usable & ~decoded).sum())
            usable &= decoded
        dropped = plan.dropped + int((~usable).sum())
        if dropped > config.max_dropped_tick_fraction * plan.ticks_total:
            return self._skip(plan.index, 'too_many_dropped_ticks', f'{dropped} of '
                              f'{plan.ticks_total} ticks dropped, max_dropped_tick_fraction='
                              f'{config.max_dropped_tick_fraction}')
        steps = int(usable.sum())
        if steps == 0:
            return self._skip(plan.index, 'empty', f'all {plan.ticks_total} ticks dropped')
        if steps < config.min_steps:
            return self._skip(plan.index, 'too_short',
                              f'{steps} timesteps, min_steps={config.min_steps}')
        observations = {config.joints_key: plan.joints[usable]}
        for key, indices in plan.image_indices.items():
            topic = config.image_topics[key]
            chosen = [frames[topic][i] for i in indices[usable].tolist()]
            sizes = sorted({size for _, size in chosen})
            if len(sizes) > 1:
                sizes = ', '.join(f'{height}x{width}' for height, width in sizes)
                return self._skip(plan.index, 'mixed_image_sizes',
                                  f'{topic} changes size within the episode: {sizes}')
            observations[key] = np.stack([rgb for rgb, _ in chosen])  # (K, H, W, 3)
        try:
            return Episode(observations, plan.actions[usable], plan.task, plan.instruction,
                           plan.success)
        except ValueError as error:
            return self._skip(plan.index, 'invalid_episode', str(error))

    def _skip(self, index, reason, detail):
        self.summary.skip(self.path, index, reason, detail)


def convert_bag(path, config):
    """Convert one bag into episodes; never raises for bad content.

    Args:
        path: A rosbag2 directory (with ``metadata.yaml``), or an ``.mcap`` / ``.db3`` file.
        config: A :class:`BagConversionConfig`.

    Returns:
        tuple[list[Episode], ConversionSummary]: The kept episodes in time order, and what
        was kept, dropped and skipped (``bags`` = 1).

    Raises:
        FileNotFoundError: When ``path`` does not exist or gato_ros's message definitions
            are not installed (see :func:`default_typestore`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f'bag not found: {path}')
    typestore = default_typestore()
    summary = ConversionSummary(bags=1)
    conversion = _BagConversion(path, config, summary)
    episodes = []
    try:
        try:
            reader = AnyReader([path], default_typestore=typestore)
            reader.open()
        except Exception as error:  # any damage to metadata, index or footer lands here
            raise _BagSkipped('unreadable_bag', f'cannot open: {type(error).__name__}: '
                              f'{error}') from error
        try:
            episodes = conversion.run(reader)
        finally:
            reader.close()
    except _BagSkipped as skipped:
        summary.skip(path, None, skipped.reason, skipped.detail)
    summary.skipped.sort(key=lambda item: -1 if item.episode is None else item.episode)
    summary.episodes_used = len(episodes)
    summary.steps_used = sum(len(e) for e in episodes)
    return episodes, summary
