"""Peer process of the node integration tests: a kinematic arm with a camera.

Run as ``python fake_arm.py PREFIX``. Publishes ``/PREFIX/joint_states`` at 50 Hz (the Panda's
joints in a shuffled order plus an unrelated joint) and a padded ``bgr8`` image on
``/PREFIX/image_raw`` at 20 Hz, and jumps its joints to the last point of every
``JointTrajectory`` received on ``/PREFIX_jtc/joint_trajectory``. One word per stdin line
switches what it publishes: ``normal``, ``nan`` (panda_joint3 position is NaN), ``pause``
(nothing). It exits when stdin closes.
"""

import sys
import threading

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory

ARM = [f'panda_joint{i}' for i in range(1, 8)] + ['panda_finger_joint1']
# Published order: shuffled, with a joint the observer must ignore.
PUBLISHED = ['panda_joint7', 'unrelated_joint', 'panda_joint2', 'panda_finger_joint1',
             'panda_joint5', 'panda_joint1', 'panda_joint4', 'panda_joint6', 'panda_joint3']
START = {'panda_joint1': 0.0, 'panda_joint2': 0.1, 'panda_joint3': -0.1, 'panda_joint4': -1.5,
         'panda_joint5': 0.0, 'panda_joint6': 1.6, 'panda_joint7': 0.7,
         'panda_finger_joint1': 0.02, 'unrelated_joint': 5.0}
HEIGHT, WIDTH, PADDING = 48, 64, 4


class FakeArm:
    """Joint state and camera publisher that follows joint trajectories."""

    def __init__(self, node, prefix):
        """Create the publishers, the subscription and the timers.

        Args:
            node: The rclpy node.
            prefix: Topic prefix of this test.
        """
        self.node = node
        self.mode = 'normal'
        self.positions = dict(START)
        self.lock = threading.Lock()
        self.joint_pub = node.create_publisher(JointState, f'/{prefix}/joint_states', 10)
        self.image_pub = node.create_publisher(Image, f'/{prefix}/image_raw', 10)
        node.create_subscription(
            JointTrajectory, f'/{prefix}_jtc/joint_trajectory', self.on_trajectory, 10)
        node.create_timer(0.02, self.publish_joints)
        node.create_timer(0.05, self.publish_image)
        rows = np.zeros((HEIGHT, WIDTH * 3 + PADDING), np.uint8)
        rows[:, :WIDTH * 3] = np.arange(WIDTH * 3, dtype=np.uint8)
        self.image_bytes = rows.tobytes()

    def on_trajectory(self, msg):
        """Jump to the last point of a trajectory."""
        with self.lock:
            for name, value in zip(msg.joint_names, msg.points[-1].positions):
                self.positions[name] = value

    def publish_joints(self):
        """Publish the joint states of the current mode."""
        if self.mode == 'pause':
            return
        with self.lock:
            positions = [float(self.positions[name]) for name in PUBLISHED]
        if self.mode == 'nan':
            positions[PUBLISHED.index('panda_joint3')] = float('nan')
        msg = JointState(name=PUBLISHED, position=positions)
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.joint_pub.publish(msg)

    def publish_image(self):
        """Publish a padded bgr8 image."""
        if self.mode == 'pause':
            return
        msg = Image(height=HEIGHT, width=WIDTH, encoding='bgr8', step=WIDTH * 3 + PADDING)
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.header.frame_id = 'camera'
        msg.data = self.image_bytes
        self.image_pub.publish(msg)


def read_commands(arm):
    """Switch modes from stdin lines until stdin closes."""
    for line in sys.stdin:
        word = line.strip()
        if word in ('normal', 'nan', 'pause'):
            arm.mode = word
    rclpy.try_shutdown()


def main():
    """Run the fake arm until stdin closes.

    Returns:
        int: Exit status.
    """
    rclpy.init()
    node = rclpy.create_node('fake_arm')
    try:
        arm = FakeArm(node, sys.argv[1])
        threading.Thread(target=read_commands, args=(arm,), daemon=True).start()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
