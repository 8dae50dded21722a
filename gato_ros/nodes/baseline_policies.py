"""Policies the inference node can run instead of a checkpoint, with the same interface.

* ``random``: uniform random actions over the robot's action range, Gato's 0% reference for
  the expert-normalized score;
* ``action_topic``: the newest action published by another node on a
  ``std_msgs/Float32MultiArray`` topic, e.g. the simulator's scripted expert
  (``/mujoco_arm/expert_action``, the 100% reference) or a teleoperation bridge.

Both go through the node's action mapping, safety filter and command messages exactly like a
checkpoint's actions, so baselines and recorded demonstrations use the same control path as the
agent. They have the ``GatoPolicy`` methods the node calls: ``reset``, ``select_action``,
``task``.
"""

import numpy as np

POLICY_SOURCES = ('checkpoint', 'random', 'action_topic')


class RandomPolicy:
    """Independent uniform random actions in [low, high] per action dimension."""

    def __init__(self, low, high, seed=0):
        """Create the policy.

        Args:
            low: (A,) lowest value of each action dimension.
            high: (A,) highest value of each action dimension.
            seed: seed of the random generator (reset does not re-seed: episodes differ).

        Raises:
            ValueError: when the bounds differ in shape or low > high.
        """
        self._low = np.asarray(low, dtype=np.float64)
        self._high = np.asarray(high, dtype=np.float64)
        if self._low.shape != self._high.shape or np.any(self._low > self._high):
            raise ValueError(f'random action bounds must be equal-length with low <= high, got '
                             f'{self._low.tolist()} and {self._high.tolist()}')
        self._rng = np.random.default_rng(seed)
        self.task = 'random'

    def reset(self, task=None, instruction=None, prompt=None):
        """Start a new episode (random actions need no context).

        Args:
            task: ignored.
            instruction: ignored.
            prompt: ignored.
        """

    def select_action(self, observation):
        """Draw an action.

        Args:
            observation: ignored.

        Returns:
            numpy.ndarray: (A,) float32 action.
        """
        return self._rng.uniform(self._low, self._high).astype(np.float32)


def random_action_bounds(params, layout):
    """Return the action range a random policy samples from.

    Arm joints move at most ``max_step`` per period (trajectory mode) or the configured speed
    limits (servo mode); the gripper command spans [0, 1].

    Args:
        params: the inference node's parameter values.
        layout: its :class:`gato_ros.nodes.action_mapping.ActionLayout`.

    Returns:
        tuple: ((A,) low, (A,) high).
    """
    if layout.mode == 'trajectory':
        high = list(params['max_step'])
    else:
        high = [params['max_linear_speed_mps']] * 3 + [params['max_angular_speed_radps']] * 3
    low = [-value for value in high]
    if layout.gripper.enabled:
        low, high = low + [0.0], high + [1.0]
    return np.array(low), np.array(high)


class TopicActionPolicy:
    """The newest action received on a topic, refused once older than ``max_age_ns``."""

    def __init__(self, action_dim, max_age_ns, now_ns):
        """Create the policy.

        Args:
            action_dim: expected number of values per action.
            max_age_ns: oldest action still used (ns).
            now_ns: callable returning the current time (ns) on the node's clock.
        """
        self._action_dim = action_dim
        self._max_age_ns = max_age_ns
        self._now_ns = now_ns
        self._latest = None
        self.task = 'action_topic'

    def put(self, values):
        """Store an action received now.

        Args:
            values: the message's values.
        """
        self._latest = (np.asarray(values, dtype=np.float32), self._now_ns())

    def reset(self, task=None, instruction=None, prompt=None):
        """Forget the stored action: a new episode waits for a new one.

        Args:
            task: ignored.
            instruction: ignored.
            prompt: ignored.
        """
        self._latest = None

    def select_action(self, observation):
        """Return the newest action.

        Args:
            observation: ignored (the publisher decided).

        Returns:
            numpy.ndarray: (A,) float32 action.

        Raises:
            ValueError: when no action arrived yet, the newest is too old or has the wrong size.
        """
        if self._latest is None:
            raise ValueError('no action received on the action topic yet')
        values, stamp_ns = self._latest
        if self._now_ns() - stamp_ns > self._max_age_ns:
            raise ValueError(f'newest topic action is {(self._now_ns() - stamp_ns) * 1e-9:.3f} s '
                             f'old (max {self._max_age_ns * 1e-9:.3f} s)')
        if values.shape != (self._action_dim,):
            raise ValueError(f'topic action has {values.size} values, expected '
                             f'{self._action_dim}')
        return values
