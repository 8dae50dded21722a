"""Record episodes of the ROS graph as rosbag2 MCAP bags, one bag per episode.

:class:`BagRecorder` subscribes with ``raw=True`` and writes the serialized CDR messages
unchanged, stamped with their receive time, through the pure-Python ``rosbags`` writer (no
``ros2 bag`` needed). :func:`record_demonstrations` runs the simulator's scripted experts
through the evaluation graph (:func:`gato_ros.evaluation.runner.graph_session`): the simulator
publishes its expert's action, the inference node relays it through the safety filter to the
trajectory controller, and every episode becomes a bag that
:func:`gato_ros.recording.bag_reader.convert_bag` reads with its default topics.

Episode start: the recorder is armed before the driver resets the simulator, and the bag begins
with the first task status of the new episode, the status at which the converter starts an
episode (``docs/data.md``); so a bag holds exactly one episode and nothing of the scene before
the reset. The instruction, which the driver sends after the reset, is kept from arming on.
"""

from collections import Counter
import contextlib
from dataclasses import dataclass
import importlib
from pathlib import Path
import shutil
import time

from gato_ros.evaluation.driver import AGENT
from gato_ros.evaluation.graph import GraphConfig, WRIST_IMAGE_TOPIC
from gato_ros.evaluation.runner import graph_session
from gato_ros.nodes.arm_params import arm_parameters
from gato_ros.recording.bag_reader import (
    BagConversionConfig, CAMERA_TOPIC, default_typestore, IMAGE_TYPES, JOINT_STATE_TYPE,
    STRING_TYPE, TASK_STATUS_TYPE, TRAJECTORY_TYPE, TWIST_TYPE)
from gato_ros.sim.experts import check_action_space
from gato_ros.sim.scene import WRIST_IMAGE_KEY
from gato_ros.sim.tasks import make_task
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.interfaces import (
    Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime)
from rosbags.rosbag2 import StoragePlugin, Writer
from tqdm import tqdm

# Where the evaluation driver publishes the instruction of each episode.
AGENT_INSTRUCTION_TOPIC = f'{AGENT}/instruction'
# Prefix of the keys the recorder adds to the bag's metadata.yaml custom_data.
METADATA_PREFIX = 'gato_ros.'


@dataclass(frozen=True)
class RecordedTopic:
    """One topic of the bag and where it is read in the running graph.

    Attributes:
        topic: topic name in the bag.
        msgtype: ROS message type, e.g. ``'sensor_msgs/msg/JointState'``.
        source: topic subscribed to; empty: ``topic``.
        best_effort: subscribe best-effort, as sensor-data publishers (cameras) offer.
        wait_for_episode: write nothing before the episode's first task status; False for
            topics whose every message after arming belongs to the episode (the instruction
            the driver sends after the reset).
    """

    topic: str
    msgtype: str
    source: str = ''
    best_effort: bool = False
    wait_for_episode: bool = True

    @property
    def source_topic(self):
        """Return the topic subscribed to.

        Returns:
            str: ``source`` or, when empty, ``topic``.
        """
        return self.source or self.topic


def arm_conversion_config(arm, **overrides):
    """Return the conversion settings of a simulated arm's recordings.

    Args:
        arm: simulated arm name.
        **overrides: other :class:`BagConversionConfig` fields.

    Returns:
        BagConversionConfig: the arm's joints (arm joints then the gripper finger) and gripper
        range from its URDF, the converter's default topics.

    Raises:
        ValueError: on an unknown arm.
    """
    params = arm_parameters(arm)
    inference = params['inference_node']['ros__parameters']
    fields = {
        'joint_names': params['joint_state_observer']['ros__parameters']['joint_names'],
        'gripper_closed_position': inference['gripper_closed_position'],
        'gripper_open_position': inference['gripper_open_position'],
        'twist_frame_id': inference['servo_frame_id']}
    fields.update(overrides)
    return BagConversionConfig(**fields)


def recorded_conversion_config(arm, action_space='joint', wrist_camera=False):
    """Return the conversion settings of ``record``'s bags of an arm.

    Args:
        arm: simulated arm name.
        action_space: ``'joint'`` (actions from the commanded trajectory) or ``'twist'``
            (from the commanded twists).
        wrist_camera: the bags also hold the wrist camera (observation ``image_wrist``).

    Returns:
        BagConversionConfig: :func:`arm_conversion_config` with the matching action source
        and cameras.

    Raises:
        ValueError: on an unknown arm or action space.
    """
    check_action_space(action_space)
    cameras = {'image': CAMERA_TOPIC}
    if wrist_camera:
        cameras[WRIST_IMAGE_KEY] = WRIST_IMAGE_TOPIC
    return arm_conversion_config(
        arm, action_source='twist' if action_space == 'twist' else 'commanded',
        image_topics=cameras)


def bag_topics(conversion):
    """Return the topics a bag needs for :func:`convert_bag` with a conversion config.

    Args:
        conversion: a :class:`BagConversionConfig`.

    Returns:
        tuple[RecordedTopic, ...]: joint states, cameras (raw ``Image``), the commanded
        twist (``action_source='twist'``) or else trajectory, task status, and the
        instruction read on the inference node's instruction topic and stored under
        ``conversion.instruction_topic``.
    """
    cameras = sorted(set(conversion.image_topics.values()))
    command = (RecordedTopic(conversion.twist_topic, TWIST_TYPE)
               if conversion.action_source == 'twist'
               else RecordedTopic(conversion.trajectory_topic, TRAJECTORY_TYPE))
    return (RecordedTopic(conversion.joint_states_topic, JOINT_STATE_TYPE),
            *(RecordedTopic(t, IMAGE_TYPES[0], best_effort=True) for t in cameras),
            command,
            RecordedTopic(conversion.task_status_topic, TASK_STATUS_TYPE),
            RecordedTopic(conversion.instruction_topic, STRING_TYPE,
                          source=AGENT_INSTRUCTION_TOPIC, wait_for_episode=False))


def _message_class(msgtype):
    package, _, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


def _bag_qos(best_effort, depth):
    """Return the QoS for metadata.yaml: what ``ros2 bag play`` offers when replaying."""
    never = QosTime(sec=0, nsec=0)
    return Qos(QosHistory.KEEP_LAST, depth,
               QosReliability.BEST_EFFORT if best_effort else QosReliability.RELIABLE,
               QosDurability.VOLATILE, never, never, QosLiveliness.AUTOMATIC, never, False)


class BagRecorder:
    """Raw subscriptions on a node that write into one bag at a time."""

    def __init__(self, node, topics, task_status_topic, queue_depth=100):
        """Subscribe to every topic (messages are dropped while no bag is open).

        Args:
            node: an rclpy node; whoever spins it runs the recorder.
            topics: :class:`RecordedTopic` items, one of them the task status.
            task_status_topic: the bag topic of ``gato_ros/TaskStatus`` that marks episodes.
            queue_depth: subscription queue depth (messages kept while the executor is busy).

        Raises:
            ValueError: when no topic is ``task_status_topic`` of type TaskStatus, a bag
                topic repeats, or the queue depth is not positive.
        """
        self._topics = tuple(topics)
        names = [t.topic for t in self._topics]
        status = [t for t in self._topics if t.topic == task_status_topic]
        if not status or status[0].msgtype != TASK_STATUS_TYPE:
            raise ValueError(f'topics must include {task_status_topic} of type '
                             f'{TASK_STATUS_TYPE}, got {names}')
        if len(set(names)) != len(names):
            raise ValueError(f'bag topics must differ, got {names}')
        if queue_depth < 1:
            raise ValueError(f'queue_depth must be >= 1, got {queue_depth}')
        self._node, self._depth = node, queue_depth
        self._status_class = _message_class(TASK_STATUS_TYPE)
        self._status_topic = task_status_topic
        self._writer = None
        self._connections = {}
        self._episode = None  # (task, seed) armed for
        self._started = False
        self.last_status = None
        self.message_counts = Counter()
        self._subscriptions = [self._subscribe(t) for t in self._topics]

    def _subscribe(self, recorded):
        reliability = (ReliabilityPolicy.BEST_EFFORT if recorded.best_effort
                       else ReliabilityPolicy.RELIABLE)
        return self._node.create_subscription(
            _message_class(recorded.msgtype), recorded.source_topic,
            lambda raw, info: self._on_message(recorded, raw, info),
            QoSProfile(depth=self._depth, reliability=reliability), raw=True)

    def _on_message(self, recorded, raw, info):
        if recorded.topic == self._status_topic:
            self._on_status(deserialize_message(raw, self._status_class))
        if self._writer is None or (recorded.wait_for_episode and not self._started):
            return
        # The middleware's receive time, as `ros2 bag record` stores it.
        self._writer.write(self._connections[recorded.topic], info['received_timestamp'], raw)
        self.message_counts[recorded.topic] += 1

    def _on_status(self, status):
        """Start writing at the armed episode's first status (the converter's boundary)."""
        before, self.last_status = self.last_status, status
        if self._episode is None or self._started or before is None:
            return
        new_episode = ((before.task, before.instruction, before.arm, before.seed)
                       != (status.task, status.instruction, status.arm, status.seed)
                       or status.episode_time_s < before.episode_time_s)
        self._started = new_episode and (status.task, status.seed) == self._episode

    def wait_for_status(self, executor, timeout_s=30.0):
        """Spin until a task status arrived: the episode start is found by comparing two.

        Args:
            executor: the executor spinning the recorder's node.
            timeout_s: how long to wait (s).

        Raises:
            TimeoutError: when no task status arrives.
        """
        deadline = time.monotonic() + timeout_s
        while self.last_status is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f'no message on {self._status_topic} within {timeout_s} s')
            executor.spin_once(timeout_sec=0.05)

    @contextlib.contextmanager
    def recording(self, path, task, seed):
        """Record one episode into a new bag while the block runs the episode.

        Arm before resetting the simulator: writing starts at the first task status of
        (``task``, ``seed``) that follows a status of another episode or a later time.

        Args:
            path: bag directory to create (must not exist).
            task: simulator task of the episode.
            seed: seed of the episode.

        Yields:
            dict: metadata the block may fill; stored as ``custom_data`` in metadata.yaml
            under ``gato_ros.<key>`` (values as strings).

        Raises:
            FileExistsError: when ``path`` exists.
            RuntimeError: when the block ends before the episode's first task status came
                (the bag is deleted).
        """
        path = Path(path)
        if path.exists():
            raise FileExistsError(f'bag {path} exists; choose another output folder or seed')
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        typestore = default_typestore()
        self._connections = {t.topic: writer.add_connection(
            t.topic, t.msgtype, typestore=typestore, serialization_format='cdr',
            offered_qos_profiles=[_bag_qos(t.best_effort, self._depth)]) for t in self._topics}
        self._writer, self._episode, self._started = writer, (task, int(seed)), False
        self.message_counts = Counter()
        metadata = {}
        completed = False
        try:
            yield metadata
            if not self._started:
                raise RuntimeError(f'no task status of {task} seed {seed} after a reset '
                                   f'arrived on {self._status_topic}; nothing recorded')
            completed = True
        finally:
            self._writer, self._episode = None, None
            for key, value in metadata.items():
                writer.set_custom_data(METADATA_PREFIX + key, str(value))
            writer.close()
            if not completed:
                shutil.rmtree(path, ignore_errors=True)

    def destroy(self):
        """Remove the subscriptions from the node."""
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._subscriptions = []


@dataclass(frozen=True)
class RecordConfig:
    """What :func:`record_demonstrations` records.

    Attributes:
        arm: simulated arm name.
        tasks: simulator task names.
        episodes: episodes run per task (seeds ``first_seed`` ...).
        out_dir: folder of the bags, one ``<arm>-<task>-<seed>`` directory each.
        first_seed: seed of each task's first episode.
        keep_failures: keep the bags of episodes the expert failed.
        control_rate_hz: rate of the expert and of the inference node (Hz).
        log_dir: folder of the graph processes' logs (outside ``out_dir``, which holds bags
            only).
        action_space: ``'joint'``: the expert commands the trajectory controller and the
            bags hold the trajectories; ``'twist'``: it commands the simulated arm's twist
            interface (as MoveIt Servo would) and the bags hold the twists.
        wrist_camera: the simulated arm also publishes its wrist camera, and the bags hold it.
    """

    arm: str
    tasks: tuple
    episodes: int
    out_dir: str
    first_seed: int = 0
    keep_failures: bool = False
    control_rate_hz: float = 10.0
    log_dir: str = 'runs/record/logs'
    action_space: str = 'joint'
    wrist_camera: bool = False

    def __post_init__(self):
        """Check the counts and the action space.

        Raises:
            ValueError: on no task, fewer than one episode, a negative seed or an unknown
                action space.
        """
        check_action_space(self.action_space)
        if not self.tasks:
            raise ValueError('tasks must name at least one task, got none')
        if self.episodes < 1:
            raise ValueError(f'episodes must be >= 1, got {self.episodes}')
        if self.first_seed < 0:
            raise ValueError(f'first_seed must be >= 0, got {self.first_seed}')


@dataclass(frozen=True)
class RecordedEpisode:
    """The outcome of one recorded episode.

    Attributes:
        task: simulator task name.
        seed: episode seed.
        success: whether the expert succeeded.
        duration_s: simulated time until success or timeout (s).
        path: the bag directory; None when the bag of a failure was deleted.
        messages: messages written per bag topic.
        size_bytes: bag size on disk (0 when deleted).
        wall_s: wall-clock time of the episode (s).
    """

    task: str
    seed: int
    success: bool
    duration_s: float
    path: Path | None
    messages: dict
    size_bytes: int
    wall_s: float


def bag_path(out_dir, arm, task, seed):
    """Return the bag directory of one episode.

    Args:
        out_dir: output folder.
        arm: simulated arm name.
        task: simulator task name.
        seed: episode seed.

    Returns:
        Path: ``out_dir/<arm>-<task>-<seed:06d>``.
    """
    return Path(out_dir) / f'{arm}-{task}-{seed:06d}'


def _record_episode(session, recorder, config, task, seed):
    path = bag_path(config.out_dir, config.arm, task, seed)
    started_s = time.monotonic()
    with recorder.recording(path, task, seed) as metadata:
        record = session.driver.run_episode(task, seed, make_task(task).time_limit_s)
        metadata.update(arm=config.arm, task=task, seed=seed, success=record.success,
                        duration_s=f'{record.duration_s:.3f}', policy='scripted_expert',
                        control_rate_hz=config.control_rate_hz,
                        action_space=config.action_space, wrist_camera=config.wrist_camera,
                        instruction=recorder.last_status.instruction)
    messages = dict(recorder.message_counts)
    if not (record.success or config.keep_failures):
        shutil.rmtree(path)
        path = None
    size = sum(f.stat().st_size for f in path.iterdir()) if path else 0
    return RecordedEpisode(task, seed, record.success, record.duration_s, path, messages,
                           size, time.monotonic() - started_s)


def record_demonstrations(config, progress=True):
    """Run the scripted experts through the ROS graph and record one bag per episode.

    Args:
        config: a :class:`RecordConfig`.
        progress: show a progress bar.

    Returns:
        list[RecordedEpisode]: every episode run, in order.

    Raises:
        ValueError: on an unknown arm or task.
        FileExistsError: when a bag the run would write exists (checked before starting).
        TimeoutError: when the graph stops answering.
        RuntimeError: when a graph process exits.
    """
    conversion = recorded_conversion_config(config.arm, config.action_space,
                                            config.wrist_camera)
    seeds = range(config.first_seed, config.first_seed + config.episodes)
    for task in config.tasks:
        make_task(task)  # an unknown task fails here, before the graph starts
        existing = [p for s in seeds if (p := bag_path(config.out_dir, config.arm, task, s))
                    .exists()]
        if existing:
            raise FileExistsError(f'bags exist already: {[str(p) for p in existing[:3]]}; '
                                  'choose another --out or --first-seed')
    graph_config = GraphConfig(arm=config.arm, policy_source='action_topic',
                               sim_task=config.tasks[0],
                               control_rate_hz=config.control_rate_hz, log_dir=config.log_dir,
                               action_space=config.action_space,
                               wrist_camera=config.wrist_camera)
    episodes = []
    with tqdm(total=len(config.tasks) * config.episodes, disable=not progress,
              desc=f'record {config.arm}', unit='episode') as bar, \
            graph_session(graph_config, node_name='gato_recorder') as session:
        recorder = BagRecorder(session.node, bag_topics(conversion),
                               conversion.task_status_topic)
        recorder.wait_for_status(session.executor)
        for task in config.tasks:
            for seed in seeds:
                session.graph.check_alive()
                episodes.append(_record_episode(session, recorder, config, task, seed))
                bar.set_postfix(task=task, kept=sum(e.path is not None for e in episodes),
                                failed=sum(not e.success for e in episodes))
                bar.update(1)
        recorder.destroy()
    return episodes
