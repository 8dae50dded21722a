"""Run a whole closed-loop evaluation: graph up, episodes per task, report out."""

import contextlib
from dataclasses import dataclass, field, replace
import gc
import json
import os
from pathlib import Path

from gato_ros.data import episode_task_name, Normalizer
from gato_ros.evaluation.driver import EpisodeDriver, READY_TIMEOUT_S
from gato_ros.evaluation.graph import GraphConfig, RosGraph, TWIST_TOPIC
from gato_ros.evaluation.report import build_report
from gato_ros.recording.sim_demos import collect_demonstrations, DemoConfig, reads_wrist_image
from gato_ros.sim.experts import check_action_space
from gato_ros.sim.tasks import make_task

# Evaluation seeds start here; `gato-ros collect` trains on seeds from 0 up.
EVAL_FIRST_SEED = 100_000
# Seeds of the demonstrations that prompt the policy (``eval --prompt``).
PROMPT_FIRST_SEED = 200_000
POLICIES = {'checkpoint': 'checkpoint', 'expert': 'action_topic', 'random': 'random'}
CONTROLLER_TOPIC = '/joint_trajectory_controller/joint_trajectory'


@dataclass
class EvalConfig:
    """One evaluation.

    Attributes:
        arm: simulated arm name.
        tasks: simulator task names.
        episodes: episodes per task.
        policy: 'checkpoint', 'expert' or 'random'.
        checkpoint_path: checkpoint folder (policy 'checkpoint').
        first_seed: seed of each task's first episode.
        out_dir: folder of logs (and of GIF frames when recorded).
        record_first_episode: keep the camera frames of each task's first episode.
        baselines: ``{arm: {task: {'expert': rate, 'random': rate}}}`` for the scores.
        control_rate_hz: the agent's control rate (Hz).
        prompted: after each task's unprompted episodes, run them again with the policy
            conditioned on one expert demonstration of the task (Gato's evaluation).
        action_decoding: the inference node's ``action_decoding`` (mode or mean).
        action_space: ``'joint'`` (trajectory mode) or ``'twist'`` (servo mode; a checkpoint's
            tasks are then ``<arm>/twist/<task>``).
        ready_timeout_s: how long an episode waits for the agent's first actions (s).
    """

    arm: str
    tasks: tuple
    episodes: int
    policy: str = 'checkpoint'
    checkpoint_path: str = ''
    first_seed: int = EVAL_FIRST_SEED
    out_dir: str = 'runs/eval'
    record_first_episode: bool = False
    baselines: dict = field(default_factory=dict)
    control_rate_hz: float = 10.0
    prompted: bool = False
    action_decoding: str = 'mode'
    action_space: str = 'joint'
    ready_timeout_s: float = READY_TIMEOUT_S

    def task_name(self, task):
        """Return the checkpoint task name of a simulator task."""
        return episode_task_name(self.arm, task, self.action_space)


def _read_spec(path):
    """Return a checkpoint's gato_spec.json content, without loading its weights."""
    spec = Path(path) / 'gato_spec.json'
    if not spec.is_file():
        raise FileNotFoundError(f'{path} is not a gato_ros checkpoint (no gato_spec.json)')
    return json.loads(spec.read_text())


def checkpoint_tasks(path):
    """Return the task names a checkpoint was trained on, without loading its weights.

    Args:
        path: checkpoint folder.

    Returns:
        list: task names.

    Raises:
        FileNotFoundError: when the folder has no gato_spec.json.
    """
    return sorted(_read_spec(path)['tasks'])


def checkpoint_reads_wrist_image(path, task_names):
    """Return whether a checkpoint observes the wrist camera in any of some tasks.

    Args:
        path: checkpoint folder.
        task_names: checkpoint task names (``'<arm>/<task>'``, ...).

    Returns:
        bool: whether one of those tasks it was trained on has an ``image_wrist``.

    Raises:
        FileNotFoundError: when the folder has no gato_spec.json.
    """
    specs = _read_spec(path)['tasks']
    return any(reads_wrist_image(specs[name]) for name in task_names if name in specs)


def check_config(config):
    """Refuse an evaluation that cannot run, before any process starts.

    Args:
        config: an :class:`EvalConfig`.

    Raises:
        ValueError: for an unknown policy or action space, prompting without a checkpoint,
            or a task the checkpoint cannot act in (neither trained on nor of a trained
            embodiment).
        FileNotFoundError: when the checkpoint does not exist.
    """
    if config.policy not in POLICIES:
        raise ValueError(f'policy must be one of {sorted(POLICIES)}, got {config.policy!r}')
    check_action_space(config.action_space)
    if config.policy != 'checkpoint':
        if config.prompted:
            raise ValueError('prompting needs policy checkpoint')
        return
    spec = _read_spec(config.checkpoint_path)
    normalizer = Normalizer.from_dict(spec['normalizer'])
    missing = [config.task_name(t) for t in config.tasks
               if not normalizer.covers(config.task_name(t))]
    if missing:
        raise ValueError(f'checkpoint {config.checkpoint_path} cannot act in {missing}: it was '
                         f'trained on {sorted(spec["tasks"])} with '
                         f'statistics per {normalizer.group_by}')


def make_prompts(arm, tasks, out_dir, action_space='joint', wrist_camera=False):
    """Record one successful expert demonstration per task to prompt the policy with.

    The demonstrations come from the ROS-free fast path (same camera and image pipeline as
    the graph) with seeds that neither training (from 0) nor evaluation use.

    Args:
        arm: simulated arm name.
        tasks: simulator task names.
        out_dir: folder; the episodes go to its ``prompts`` subfolder.
        action_space: what the demonstrations' actions hold (``'joint'`` or ``'twist'``).
        wrist_camera: the demonstrations also hold the wrist camera's image.

    Returns:
        dict: task -> path of its demonstration ``.npz``.
    """
    folder = Path(out_dir) / 'prompts'
    collect_demonstrations(DemoConfig(arm, tuple(tasks), 1, first_seed=PROMPT_FIRST_SEED,
                                      action_space=action_space, wrist_camera=wrist_camera),
                           folder, progress=False)
    return {task: sorted(folder.glob(f'{arm}-{task}-*.npz'))[0] for task in tasks}


@dataclass(frozen=True)
class GraphSession:
    """A running graph and the driver node that has joined its domain.

    Attributes:
        graph: the :class:`RosGraph` (``check_alive`` before each episode).
        node: the driver's rclpy node; more subscriptions may be added to it.
        executor: the executor spinning ``node`` (the driver spins it while it waits).
        driver: the :class:`EpisodeDriver`, the inference node already active.
    """

    graph: RosGraph
    node: object
    executor: object
    driver: EpisodeDriver


@contextlib.contextmanager
def graph_session(graph_config, node_name='gato_eval_driver', ready_timeout_s=READY_TIMEOUT_S):
    """Start the graph, join its private domain and wait for the agent; stop all on exit.

    Args:
        graph_config: a :class:`GraphConfig`.
        node_name: name of the driver node.
        ready_timeout_s: the driver's wait for the agent's first actions of an episode (s).

    Yields:
        GraphSession: the graph, node, executor and driver.
    """
    from geometry_msgs.msg import TwistStamped
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from trajectory_msgs.msg import JointTrajectory

    saved_environment = dict(os.environ)
    with RosGraph(graph_config) as graph:
        # The driver joins the graph's private domain (rclpy reads these at init).
        os.environ.update(graph.environment())
        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node(node_name, context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        try:
            topic, command_type = ((TWIST_TOPIC, TwistStamped)
                                   if graph_config.action_space == 'twist'
                                   else (CONTROLLER_TOPIC, JointTrajectory))
            driver = EpisodeDriver(node, executor, topic, command_type, ready_timeout_s)
            driver.wait_until_active()
            yield GraphSession(graph, node, executor, driver)
        finally:
            node.destroy_node()
            rclpy.try_shutdown(context=context)
            os.environ.clear()
            os.environ.update(saved_environment)
            # rclpy handles left in reference cycles crash forked processes that would
            # garbage-collect them later; collect them while rclpy still can.
            gc.collect()


def evaluate(config, progress=print, on_task_done=None):
    """Run the episodes through the ROS graph and build the report.

    Args:
        config: an :class:`EvalConfig`.
        progress: callable receiving one line per finished episode.
        on_task_done: callable receiving the report of the tasks finished so far, after
            each task (so that a later failure does not lose them); its ``unfinished_tasks``
            lists the others.

    Returns:
        tuple: (report dict, {task: frames of its first episode}).

    Raises:
        ValueError: on a bad configuration (unknown policy, task missing in the checkpoint).
        FileNotFoundError: when the checkpoint does not exist.
        TimeoutError: when the graph stops answering in an episode.
        RuntimeError: when a graph process dies or the agent refuses a reconfiguration.
    """
    check_config(config)
    is_checkpoint = config.policy == 'checkpoint'
    # The graph gives the agent every camera the checkpoint was trained with.
    wrist = is_checkpoint and checkpoint_reads_wrist_image(
        config.checkpoint_path, [config.task_name(t) for t in config.tasks])
    graph_config = GraphConfig(
        arm=config.arm, policy_source=POLICIES[config.policy],
        checkpoint_path=str(config.checkpoint_path) if is_checkpoint else '',
        task=config.task_name(config.tasks[0]) if is_checkpoint else '',
        sim_task=config.tasks[0], control_rate_hz=config.control_rate_hz,
        action_decoding=config.action_decoding,
        log_dir=str(Path(config.out_dir) / 'logs'), action_space=config.action_space,
        wrist_camera=wrist)
    prompts = (make_prompts(config.arm, config.tasks, config.out_dir, config.action_space,
                            wrist)
               if config.prompted else {})
    frames = {}
    with graph_session(graph_config, ready_timeout_s=config.ready_timeout_s) as session:
        report = run_tasks(session, config, prompts, frames, progress, on_task_done)
    return report, frames


def run_tasks(session, config, prompts, frames, progress=print, on_task_done=None):
    """Run every task's episodes on a running graph session and build the report.

    Args:
        session: a :class:`GraphSession` (or any object with its ``graph`` and ``driver``).
        config: an :class:`EvalConfig`.
        prompts: task -> demonstration path, for the tasks to run prompted too.
        frames: dict that receives each task's first-episode frames when recorded.
        progress: callable receiving one line per finished episode.
        on_task_done: callable receiving the report so far after each task.

    Returns:
        dict: the report of all tasks (``unfinished_tasks`` empty).
    """
    records = []
    for index, task in enumerate(config.tasks):
        if config.policy == 'checkpoint' and index > 0:
            session.driver.set_task(config.task_name(task))
        for prompt in [None] + ([prompts[task]] if task in prompts else []):
            if prompt is not None:
                session.driver.load_prompt(prompt.resolve())
            records += _run_episodes(session, config, task, prompt is not None, frames,
                                     progress)
        report = _report(config, records, session.driver.timing(), config.tasks[index + 1:])
        if on_task_done is not None:
            on_task_done(report)
    return report


def _report(config, records, timing, unfinished_tasks):
    policy = (f'checkpoint:{config.checkpoint_path}' if config.policy == 'checkpoint'
              else config.policy)
    report = build_report(config.arm, policy, records, config.baselines, timing,
                          config.action_space)
    return {**report, 'unfinished_tasks': list(unfinished_tasks)}


def _run_episodes(session, config, task, prompted, frames, progress):
    """Run one task's episodes; keep the first unprompted episode's frames when asked."""
    limit_s = make_task(task).time_limit_s
    records = []
    for episode in range(config.episodes):
        session.graph.check_alive()
        record_frames = config.record_first_episode and episode == 0 and not prompted
        record = replace(session.driver.run_episode(
            task, config.first_seed + episode, limit_s, record_frames), prompted=prompted)
        if record_frames:
            frames[task] = session.driver.recorded_frames
        records.append(record)
        progress(f'{config.arm}/{task}{" (prompted)" if prompted else ""} seed {record.seed}: '
                 f'{"success" if record.success else "failure"} after '
                 f'{record.duration_s:.1f} s, {record.commands} commands')
    return records
