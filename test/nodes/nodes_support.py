"""Helpers of the node tests: a tiny checkpoint, child processes and waiting on conditions."""

import os
from pathlib import Path
import subprocess
import sys
import time

from gato_ros.configuration_gato import GatoConfig
from gato_ros.data import Episode, Normalizer
from gato_ros.modeling_gato import GatoModel
from gato_ros.policy import Checkpoint
from gato_ros.text_tokenizer import TextTokenizer
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
ARM_JOINTS = [f'panda_joint{i}' for i in range(1, 8)]
IMAGE_SIZE = 32


def demo_episode(steps=4, seed=0, arm_dim=7):
    """Build a small random episode of the arm task: 32x32 image, 8 joints.

    Args:
        steps: Number of timesteps.
        seed: Random seed.
        arm_dim: Action entries before the gripper command (7 joint deltas, or a 6-D twist).

    Returns:
        gato_ros.data.Episode: The episode (task ``reach``), action (arm_dim + 1,).
    """
    rng = np.random.default_rng(seed)
    return Episode(
        observations={
            'image': rng.integers(0, 256, (steps, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8),
            'joints': rng.normal(0.0, 0.5, (steps, 8)).astype(np.float32)},
        actions=np.concatenate([rng.normal(0.0, 0.01, (steps, arm_dim)),
                                rng.uniform(0.0, 1.0, (steps, 1))], axis=1).astype(np.float32),
        task='reach', instruction='reach the cube')


def save_tiny_checkpoint(directory, arm_dim=7):
    """Save an untrained ``gato-test`` policy for the arm task.

    Args:
        directory: Where to write it.
        arm_dim: Action entries before the gripper command.

    Returns:
        pathlib.Path: The checkpoint directory.
    """
    torch.manual_seed(0)
    episode = demo_episode(arm_dim=arm_dim)
    config = GatoConfig.from_preset('gato-test', context_length=256)
    checkpoint = Checkpoint(GatoModel(config), {'reach': episode.spec()},
                            Normalizer.fit([episode]), TextTokenizer())
    return checkpoint.save(directory)


def child_env():
    """Return the environment of child ROS processes: this one's, plus the source tree.

    Returns:
        dict: Environment variables (same ROS_DOMAIN_ID as the test process).
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))
    env['OMP_NUM_THREADS'] = '1'
    env['PYTHONUNBUFFERED'] = '1'
    return env


def start_process(args, log_path, stdin=None):
    """Start a Python child process with its output in a log file.

    Args:
        args: Arguments after the interpreter.
        log_path: File receiving stdout and stderr.
        stdin: ``subprocess.PIPE`` to talk to it, or None.

    Returns:
        subprocess.Popen: The process.
    """
    log = open(log_path, 'w', encoding='utf-8')
    return subprocess.Popen([sys.executable, *args], env=child_env(), cwd=REPO, stdin=stdin,
                            stdout=log, stderr=subprocess.STDOUT, text=True)


def stop_processes(processes, timeout_s=10.0):
    """Interrupt child processes (SIGINT, like Ctrl-C), then kill those that do not exit.

    Args:
        processes: The processes.
        timeout_s: Time each may take to exit.
    """
    for process in processes:
        if process.poll() is None:
            process.send_signal(2)
    for process in processes:
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(predicate, timeout_s, what):
    """Poll a condition until it holds.

    Args:
        predicate: Callable returning a truthy value when done.
        timeout_s: Longest wait (s).
        what: Description for the failure message.

    Returns:
        The predicate's truthy value.

    Raises:
        AssertionError: When the condition did not hold in time.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f'timed out after {timeout_s} s waiting for {what}')
