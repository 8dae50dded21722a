"""Peer process: publish every sample gato_ros message until each has a subscriber and acks.

Run as ``python publish_interfaces.py``; exits 0 when the test's subscriber has taken them (it
closes its subscriptions), non-zero on timeout.
"""

import sys
import time

import rclpy

from support.interface_samples import sample_messages

TIMEOUT_S = 60.0


def main():
    """Publish each sample on /gato_ros_test/<name> every 50 ms while a subscriber listens.

    Returns:
        int: 0 once every subscriber came and went, 1 on timeout.
    """
    rclpy.init()
    node = rclpy.create_node('interface_publisher')
    try:
        samples = sample_messages()
        pubs = {name: node.create_publisher(type(msg), f'/gato_ros_test/{name}', 10)
                for name, msg in samples.items()}
        deadline = time.monotonic() + TIMEOUT_S
        seen = set()
        while time.monotonic() < deadline:
            for name, pub in pubs.items():
                if pub.get_subscription_count() > 0:
                    seen.add(name)
                    pub.publish(samples[name])
            # The test unsubscribes once it holds every sample: that is the exit signal.
            if len(seen) == len(pubs) and all(
                    p.get_subscription_count() == 0 for p in pubs.values()):
                return 0
            time.sleep(0.05)
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
