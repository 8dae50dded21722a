"""Closed-loop evaluation on the simulated arms: episode driver (ROS) and reports (ROS-free)."""
