"""The thin ROS 2 layer of gato_ros.

Observer, inference and agent nodes, message conversion, and the safety filter every motion
command passes through.
"""
