"""Start and stop the ROS graph of a closed-loop evaluation: simulator and agent processes.

Four child processes talk over Fast DDS on the loopback interface: ``mujoco_arm`` (the
simulated arm), ``joint_state_observer``, ``image_observer`` and ``inference_node`` (a fifth,
``image_observer_wrist``, for a checkpoint that observes the wrist camera). Their
parameters come from one generated params file: the arm's URDF-derived parameters
(:mod:`gato_ros.nodes.arm_params`) plus what the evaluation chooses (policy source,
checkpoint, task). The graph runs in its own ``ROS_DOMAIN_ID`` so an evaluation on a lab
machine can never command a real arm on the lab's domain.
"""

from dataclasses import dataclass
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time

from gato_ros.evaluation.claims import claim, claim_domain
from gato_ros.nodes.arm_params import arm_parameters
from gato_ros.sim.scene import WRIST_IMAGE_KEY
import yaml

# The simulated arm's command topics in twist evaluations.
TWIST_TOPIC = '/twist_controller/commands'
GRIPPER_TOPIC = '/gripper_controller/commands'
# The simulated arm's wrist camera, for checkpoints that observe it.
WRIST_IMAGE_TOPIC = '/wrist_camera/image_raw'
# Fast DDS derives UDP ports from the domain id; ids above 232 are invalid. Evaluations pick
# one at random from a range labs rarely use, among those no other graph here holds.
EVAL_DOMAIN_IDS = range(150, 230)
# How long each stopping signal (SIGINT, SIGTERM) gets before the next (s).
STOP_WAIT_S = 5.0


@dataclass(frozen=True)
class GraphConfig:
    """What the evaluation graph runs.

    Attributes:
        arm: simulated arm name.
        policy_source: inference node ``policy_source``: checkpoint, random or action_topic.
        checkpoint_path: checkpoint folder (policy_source checkpoint).
        task: checkpoint task of the first episode ('<arm>/<task>'); '' for baselines.
        sim_task: simulator task of the first episode.
        control_rate_hz: inference node control rate (Hz).
        action_decoding: inference node ``action_decoding`` (mode or mean).
        log_dir: folder of the processes' logs and the params file (one running graph each).
        domain_id: ROS_DOMAIN_ID of the graph; None picks a free one from EVAL_DOMAIN_IDS.
        action_space: ``'joint'``: the agent commands the trajectory controller;
            ``'twist'``: it runs in servo mode, its twists going to the simulated arm's
            Cartesian velocity interface and its gripper commands to the gripper topic (the
            expert baseline then publishes twists too).
        wrist_camera: the simulated arm also publishes its wrist camera, which a second
            image observer (``image_observer_wrist``) hands to the agent as ``image_wrist``.
    """

    arm: str
    policy_source: str
    checkpoint_path: str = ''
    task: str = ''
    sim_task: str = 'reach_target'
    control_rate_hz: float = 10.0
    action_decoding: str = 'mode'
    log_dir: str = 'runs/eval/logs'
    domain_id: int = None
    action_space: str = 'joint'
    wrist_camera: bool = False


def graph_parameters(config):
    """Build the params file content of the evaluation graph.

    Args:
        config: a :class:`GraphConfig`.

    Returns:
        dict: ROS params file layout for mujoco_arm, the observers and inference_node.
    """
    params = arm_parameters(config.arm, config.control_rate_hz)
    params['inference_node']['ros__parameters'].update({
        'autostart': True, 'policy_source': config.policy_source,
        'checkpoint_path': config.checkpoint_path, 'task': config.task,
        'action_decoding': config.action_decoding,
        'motion_enabled': False})
    params['mujoco_arm']['ros__parameters'].update({
        'task': config.sim_task,
        'publish_expert_action': config.policy_source == 'action_topic',
        'expert_rate_hz': float(config.control_rate_hz),
        'expert_action_space': config.action_space})
    if config.action_space == 'twist':
        _use_twists(params, config.control_rate_hz)
    if config.wrist_camera:
        _add_wrist_camera(params)
    return params


def _add_wrist_camera(params):
    """Publish the wrist camera and observe it with a second image observer."""
    params['mujoco_arm']['ros__parameters']['wrist_image_topic'] = WRIST_IMAGE_TOPIC
    # Both observers are named, so the params file also serves `gato-ros agent`, which starts
    # one observer per image_observer* section.
    params['image_observer'] = {'ros__parameters': {'key': 'image'}}
    params['image_observer_wrist'] = {'ros__parameters': {
        'key': WRIST_IMAGE_KEY, 'image_topic': WRIST_IMAGE_TOPIC}}
    params['inference_node']['ros__parameters']['observation_keys'] = [
        'image', WRIST_IMAGE_KEY, 'joints']
    # mujoco_arm publishes the wrist frame right after the scene frame of the same instant:
    # stepping on the scene frame would pair it with the wrist frame of one period before.
    params['inference_node']['ros__parameters']['trigger_observation_key'] = WRIST_IMAGE_KEY


def _use_twists(params, control_rate_hz):
    """Switch the agent to servo mode, commanding the simulator's twist and gripper topics."""
    params['inference_node']['ros__parameters'].update({
        'mode': 'servo', 'command_topic': TWIST_TOPIC, 'gripper_output': 'topic',
        'gripper_topic': GRIPPER_TOPIC})
    params['mujoco_arm']['ros__parameters'].update({
        'twist_command_topic': TWIST_TOPIC, 'gripper_command_topic': GRIPPER_TOPIC,
        'twist_command_period_s': 1.0 / control_rate_hz})


class RosGraph:
    """The simulator and agent processes, as a context manager that always stops them.

    Entered in the main thread, it also stops them when its process gets SIGTERM: the
    signal then raises SystemExit (status 143) and unwinds through ``__exit__``.
    """

    def __init__(self, config):
        """Prepare (but do not start) the graph.

        Args:
            config: a :class:`GraphConfig`.
        """
        self.config = config
        self.domain_id = config.domain_id
        self._claims = []
        self._processes = []
        self._previous_sigterm = None

    def environment(self):
        """Return the environment of the graph's processes (and of the driver).

        Returns:
            dict: os.environ with the graph's domain, loopback discovery and MuJoCo's EGL.
        """
        env = dict(os.environ, ROS_DOMAIN_ID=str(self.domain_id),
                   ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1')
        env.setdefault('MUJOCO_GL', 'egl')
        # Two processes share the machine: one torch thread keeps the simulator responsive.
        env.setdefault('OMP_NUM_THREADS', '1')
        return env

    def __enter__(self):
        """Claim the log folder and a domain, write the params file and start the processes.

        Returns:
            RosGraph: self.

        Raises:
            RuntimeError: when another running graph holds the log folder or every domain.
        """
        log_dir = Path(self.config.log_dir)
        self._claim(log_dir)
        try:
            self._start(log_dir)
        except BaseException:
            # Whatever failed (the params file on a full disk, a process start), the claims,
            # the handler and any process started go back now, not at garbage collection.
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _start(self, log_dir):
        """Write the params file, take over SIGTERM and start one process per node."""
        params_path = log_dir / 'graph_params.yaml'
        params_path.write_text(yaml.safe_dump(graph_parameters(self.config), sort_keys=False))
        env = self.environment()
        commands = self._node_commands(params_path)
        if threading.current_thread() is threading.main_thread():
            # Terminated (kill, timeout, a job scheduler), the evaluation unwinds through
            # __exit__ as on Ctrl-C, instead of leaving the simulator and agent running.
            previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
            self._previous_sigterm = signal.SIG_DFL if previous is None else previous
        for name, command in commands.items():
            log = open(log_dir / f'{name}.log', 'w', encoding='utf-8')
            self._processes.append((subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT), log))

    def _node_commands(self, params_path):
        """Return node name -> the command that starts it with the params file."""
        # One process per node: the policy's Python-heavy decoding then never starves the
        # observers' callbacks (in one process they share the GIL and the executor threads).
        modules = {name: name for name in ('mujoco_arm', 'joint_state_observer',
                                           'image_observer', 'inference_node')}
        if self.config.wrist_camera:
            modules['image_observer_wrist'] = 'image_observer'
        return {name: [sys.executable, '-m', f'gato_ros.nodes.{module}', '--ros-args',
                       '--params-file', str(params_path),
                       *(['-r', f'__node:={name}'] if name != module else [])]
                for name, module in modules.items()}

    def _claim(self, log_dir):
        """Take the log folder and a domain for this graph; release both if either fails."""
        folder_claim = claim(log_dir / '.graph.lock')
        if folder_claim is None:
            raise RuntimeError(f'{log_dir} is in use by another running graph; give each run '
                               'its own folder (eval: its own --json name)')
        self._claims.append(folder_claim)
        try:
            domain_ids = (EVAL_DOMAIN_IDS if self.config.domain_id is None
                          else [self.config.domain_id])
            self.domain_id, domain_claim = claim_domain(domain_ids)
        except RuntimeError:
            self._release_claims()
            raise
        self._claims.append(domain_claim)

    def _release_claims(self):
        for held in self._claims:
            held.close()
        self._claims = []

    def check_alive(self):
        """Raise if a process of the graph has exited.

        Raises:
            RuntimeError: naming the log to read.
        """
        for process, log in self._processes:
            if process.poll() is not None:
                raise RuntimeError(f'{process.args[2]} exited with status '
                                   f'{process.returncode}; see {log.name}')

    def __exit__(self, *exc_info):
        """Stop the processes and restore SIGTERM's handler.

        As ``ros2 launch`` does: SIGINT, then SIGTERM to those still running after 5 s, then
        SIGKILL after 5 s more. SIGTERM is needed when SIGINT is ignored: a shell starts
        background jobs (``eval ... &`` in a script) ignoring it, and the nodes inherit that.

        Args:
            *exc_info: exception information (not suppressed).
        """
        if self._previous_sigterm is not None:
            # A second SIGTERM must not cut the stopping short; it takes at most 10 s.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        processes = [process for process, _ in self._processes]
        for stop in (lambda process: process.send_signal(signal.SIGINT),
                     subprocess.Popen.terminate, subprocess.Popen.kill):
            _signal_and_wait([process for process in processes if process.poll() is None],
                             stop, STOP_WAIT_S)
        for process, log in self._processes:
            process.wait()
            log.close()
        self._processes = []
        self._release_claims()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


def _signal_and_wait(processes, stop, timeout_s):
    """Apply ``stop`` to each process, then wait for them all up to ``timeout_s`` in total."""
    for process in processes:
        stop(process)
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass


def _exit_on_sigterm(signum, frame):
    """Raise SystemExit (status 128 + SIGTERM, as the shell reports a terminated process).

    Args:
        signum: the signal number.
        frame: the interrupted frame (unused).
    """
    raise SystemExit(128 + signum)
