"""ROS-free MuJoCo simulation of table-top arms: embodiments, tasks and scripted experts.

Importing any module of this package selects MuJoCo's headless EGL OpenGL backend unless the
caller already chose one: without a backend, offscreen rendering fails on machines with no
display. MuJoCo reads ``MUJOCO_GL`` once, when it is first imported, so a caller that imports
``mujoco`` before this package must set the variable itself.
"""

import os

os.environ.setdefault('MUJOCO_GL', 'egl')
