"""ROS-free MuJoCo scene: one arm on a table, task props, cameras and offscreen rendering.

The arm comes from its URDF (see ``arms.py``); ``mujoco.MjSpec`` then adds what a URDF cannot
hold: the table, lights, cameras, position actuators, a tool-centre-point site and the props
of a task. One model is compiled per task the first time the task is used, then reused.

Frames: the arm's ``base_link`` is the world origin, on the table top (z = 0); x points away
from the robot into the workspace.
"""

from dataclasses import dataclass

from gato_ros.sim.arms import ArmSpec, load_arm
from gato_ros.sim.camera import SceneCamera
from gato_ros.sim.tasks import make_task, Task
import mujoco
import numpy as np

TCP_SITE = 'tcp'
SCENE_CAMERA = 'scene'
WRIST_CAMERA = 'wrist'
# Observation key of the wrist camera's image, as the ROS graph's image_observer_wrist names it.
WRIST_IMAGE_KEY = 'image_wrist'
_SCENE_CAMERA = SceneCamera()


@dataclass(frozen=True)
class SceneConfig:
    """Scene constants that are not per-episode choices.

    Position-actuator gains are stiffness_per_effort times the URDF effort limit, so a joint
    saturates its effort limit at an error of 1 / stiffness_per_effort (rad or m). A speed
    above unstable_speed (rad/s or m/s, any joint or prop) means the physics blew up: the arm
    joints top out near 3 rad/s and a block struck by the fingers spins at tens of rad/s.
    """

    table_half_size_m: tuple = (0.75, 0.8, 0.375)
    table_center_m: tuple = (0.3, 0.0, -0.375)
    scene_camera_position_m: tuple = _SCENE_CAMERA.position_m
    scene_camera_target_m: tuple = _SCENE_CAMERA.target_m
    scene_camera_fovy_deg: float = _SCENE_CAMERA.fovy_deg
    wrist_camera_position_m: tuple = (0.07, 0.0, -0.04)
    wrist_camera_target_m: tuple = (0.0, 0.0, 0.06)
    wrist_camera_fovy_deg: float = 75.0
    stiffness_per_effort: float = 20.0
    joint_armature: float = 0.1
    gripper_stiffness_n_per_m: float = 400.0
    finger_friction: tuple = (1.5, 0.01, 0.001)
    home_noise_rad: float = 0.05
    unstable_speed: float = 500.0


class _CompiledScene:
    """One compiled model with its data, index arrays and (lazily) a renderer."""

    def __init__(self, model: mujoco.MjModel, arm: ArmSpec):
        """Index the arm joints, actuators and tool site of a compiled model.

        Args:
            model: the compiled scene.
            arm: the arm it contains.

        """
        self.model = model
        self.data = mujoco.MjData(model)
        joint_ids = [model.joint(name).id for name in arm.joint_names]
        self.qpos_adr = model.jnt_qposadr[joint_ids]
        self.mimic_qpos_adr = model.jnt_qposadr[model.joint(arm.gripper_mimic_joint).id]
        self.dof_adr = model.jnt_dofadr[joint_ids]
        self.actuator_ids = np.array([model.actuator(name).id for name in arm.joint_names])
        # A damped position servo, kp (q* - q) - kv v, trails a target moving at v* by
        # kv / kp * v*; leading the target by that much turns it into kp (q* - q) + kv (v* - v).
        self.lead_s = (-model.actuator_biasprm[self.actuator_ids, 2]
                       / model.actuator_gainprm[self.actuator_ids, 0])
        self.tcp_site_id = model.site(TCP_SITE).id
        self.camera_names = [model.camera(i).name for i in range(model.ncam)]
        self.renderer = None


def _look_at_quat(position_m, target_m, up) -> np.ndarray:
    """Return the orientation of a camera at position_m looking at target_m.

    Args:
        position_m: camera position (3,) in the parent frame.
        target_m: point to look at (3,) in the parent frame.
        up: direction (3,) that should point up in the image.

    Returns:
        A (w, x, y, z) quaternion; MuJoCo cameras look along their -z axis with y up.

    """
    forward = np.asarray(target_m, float) - np.asarray(position_m, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    up = np.cross(-forward, right)
    rotation = np.column_stack([right, up, -forward])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rotation.flatten())
    return quat


def _add_environment(spec: mujoco.MjSpec, config: SceneConfig) -> None:
    """Add floor, table, light and the fixed scene camera.

    Args:
        spec: the scene being built.
        config: scene constants.

    """
    world = spec.worldbody
    floor_z_m = config.table_center_m[2] - config.table_half_size_m[2]
    world.add_geom(name='floor', type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3.0, 3.0, 0.1],
                   pos=[0.0, 0.0, floor_z_m], rgba=[0.35, 0.37, 0.4, 1.0])
    world.add_geom(name='table', type=mujoco.mjtGeom.mjGEOM_BOX,
                   size=list(config.table_half_size_m), pos=list(config.table_center_m),
                   rgba=[0.62, 0.52, 0.4, 1.0])
    # Shadows cost ~10x render time on the software renderer and teach nothing here.
    world.add_light(name='top_light', type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
                    pos=[0.4, 0.0, 2.0], dir=[0.2, 0.0, -1.0], castshadow=False,
                    diffuse=[0.6, 0.6, 0.6])
    world.add_camera(name=SCENE_CAMERA, pos=list(config.scene_camera_position_m),
                     quat=list(_look_at_quat(config.scene_camera_position_m,
                                             config.scene_camera_target_m, [0.0, 0.0, 1.0])),
                     fovy=config.scene_camera_fovy_deg)
    spec.visual.quality.offsamples = 0
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.4, 0.4, 0.4]


def _configure_arm(spec: mujoco.MjSpec, arm: ArmSpec, config: SceneConfig) -> None:
    """Add actuators, gravity compensation, contacts, the tool site and the wrist camera.

    Args:
        spec: the scene being built, holding only the arm so far.
        config: scene constants.
        arm: the arm in the spec.

    """
    for geom in spec.geoms:
        # The arm links pass through each other and the table: only the gripper touches props,
        # which keeps contact handling cheap and random policies from jamming the arm.
        geom.contype = 0
        geom.conaffinity = 0
    for geom in spec.body(arm.hand_link).find_all(mujoco.mjtObj.mjOBJ_GEOM):
        geom.contype = 1
        geom.conaffinity = 1
        geom.friction = list(config.finger_friction)
    for body in spec.bodies:
        # Real arm controllers cancel gravity; without it position actuators sag.
        body.gravcomp = 1.0
    for name in arm.arm_joint_names:
        spec.joint(name).armature = config.joint_armature
    for name in arm.joint_names:
        joint = spec.joint(name)
        stiffness = (config.gripper_stiffness_n_per_m if name == arm.gripper_joint_name
                     else config.stiffness_per_effort * joint.actfrcrange[1])
        actuator = spec.add_actuator(name=name, target=name,
                                     trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.set_to_position(kp=stiffness, dampratio=1.0, inheritrange=True)
    tcp = spec.body(arm.tcp_link)
    tcp.add_site(name=TCP_SITE, size=[0.005, 0.005, 0.005], group=5, rgba=[1.0, 0.0, 0.0, 0.0])
    # Beside the palm, looking past the fingertips; image up is away from the fingers.
    tcp.add_camera(name=WRIST_CAMERA, pos=list(config.wrist_camera_position_m),
                   quat=list(_look_at_quat(config.wrist_camera_position_m,
                                           config.wrist_camera_target_m, [1.0, 0.0, 0.0])),
                   fovy=config.wrist_camera_fovy_deg)


def build_scene_model(arm: ArmSpec, task: Task, config: SceneConfig, physics_dt_s: float,
                      image_size: tuple) -> mujoco.MjModel:
    """Compile the scene of one arm, with the props of one task.

    Args:
        arm: the arm to load from its URDF.
        task: the task whose props to add, or None for the bare table.
        config: scene constants.
        physics_dt_s: physics time step.
        image_size: (height, width) of rendered images, to size the offscreen buffer.

    Returns:
        The compiled model.

    """
    spec = mujoco.MjSpec.from_file(str(arm.urdf_path))
    # Keep fixed URDF links (flange, tool centre point) as named bodies instead of merging them.
    spec.compiler.fusestatic = False
    # The URDF parser already dropped its <visual> duplicates; compile must keep the
    # non-colliding geoms added here (arm links, markers), which this flag would delete.
    spec.compiler.discardvisual = False
    spec.option.timestep = physics_dt_s
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    _configure_arm(spec, arm, config)
    _add_environment(spec, config)
    spec.visual.global_.offheight = max(spec.visual.global_.offheight, image_size[0])
    spec.visual.global_.offwidth = max(spec.visual.global_.offwidth, image_size[1])
    if task is not None:
        task.build(spec)
    return spec.compile()


class ArmSim:
    """One arm on a table in MuJoCo, without ROS.

    Joint vectors follow ``joint_names``: the arm joints (rad) then the gripper finger
    opening (m). Call ``reset(task, seed)`` to start an episode.
    """

    def __init__(self, arm: str = 'ur5e', image_size: tuple = (64, 64), camera: str = 'scene',
                 physics_dt_s: float = 0.002, config: SceneConfig = SceneConfig(),
                 wrist_image: bool = False):
        """Load the arm and compile the bare table scene.

        Args:
            arm: an arm name from gato_ros.sim.arms.list_arms().
            image_size: (height, width) of rendered images in pixels.
            camera: default camera for render() and observation(): 'scene' or 'wrist'.
            physics_dt_s: physics time step in seconds.
            config: scene constants.
            wrist_image: observation() also renders the wrist camera, as
                :data:`WRIST_IMAGE_KEY` (a second image, beside the default camera's).

        Raises:
            ValueError: on an unknown arm or camera, a bad image size or time step, or a
                wrist image asked beside a default camera that is the wrist camera.

        """
        if wrist_image and camera == WRIST_CAMERA:
            raise ValueError('wrist_image adds the wrist camera beside the default camera; '
                             f'camera must not be {WRIST_CAMERA!r} then')
        if len(image_size) != 2 or min(image_size) < 1:
            raise ValueError(f'image_size must be (height, width) >= 1, got {image_size}')
        if not physics_dt_s > 0.0:
            raise ValueError(f'physics_dt_s must be > 0, got {physics_dt_s}')
        self._arm = load_arm(arm)
        self._image_size = (int(image_size[0]), int(image_size[1]))
        self._physics_dt_s = float(physics_dt_s)
        self._config = config
        self._scenes = {}
        self._tasks = {}
        self._task = None
        self._episode_id = 0
        self._lower = np.array(self._arm.lower_limits)
        self._upper = np.array(self._arm.upper_limits)
        self._scene = self._compiled_scene(None)
        self._check_camera(camera)
        self._camera = camera
        self._wrist_image = bool(wrist_image)
        self._set_arm_state(np.array(self._arm.home_positions))
        mujoco.mj_forward(self.model, self.data)

    @property
    def arm(self) -> ArmSpec:
        """Return the simulated arm's description."""
        return self._arm

    @property
    def model(self) -> mujoco.MjModel:
        """Return the MuJoCo model of the current scene."""
        return self._scene.model

    @property
    def data(self) -> mujoco.MjData:
        """Return the MuJoCo data of the current scene."""
        return self._scene.data

    @property
    def task(self) -> Task:
        """Return the current task, or None before the first reset."""
        return self._task

    @property
    def instruction(self) -> str:
        """Return the current task's text instruction, empty before the first reset."""
        return '' if self._task is None else self._task.instruction

    @property
    def joint_names(self) -> tuple:
        """Return the joint names: arm joints then the gripper finger joint."""
        return self._arm.joint_names

    @property
    def time_s(self) -> float:
        """Return the simulated time since the last reset in seconds."""
        return float(self.data.time)

    @property
    def physics_dt_s(self) -> float:
        """Return the physics time step in seconds."""
        return self._physics_dt_s

    @property
    def image_size(self) -> tuple:
        """Return (height, width) of rendered images."""
        return self._image_size

    @property
    def episode_id(self) -> int:
        """Return a counter that changes at every reset (lets stateful policies notice it)."""
        return self._episode_id

    def reset(self, task, seed: int) -> None:
        """Start an episode: home the arm with seeded noise and let the task place its props.

        Args:
            task: a task name from gato_ros.sim.tasks.list_tasks() or a Task instance.
            seed: integer seed; the same seed gives the same initial state and instruction.

        Raises:
            ValueError: on an unknown task or a seed that is not a non-negative integer.

        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
        if isinstance(task, str):
            if task not in self._tasks:
                self._tasks[task] = make_task(task)
            task = self._tasks[task]
        self._scene = self._compiled_scene(task)
        self._task = task
        mujoco.mj_resetData(self.model, self.data)
        rng = np.random.default_rng(seed)
        home = np.array(self._arm.home_positions)
        noise = rng.uniform(-1.0, 1.0, self._arm.n_arm_joints) * self._config.home_noise_rad
        home[:-1] += noise
        self._set_arm_state(np.clip(home, self._lower, self._upper))
        task.reset(self, rng)
        mujoco.mj_forward(self.model, self.data)
        self._episode_id += 1

    def _compiled_scene(self, task: Task) -> _CompiledScene:
        """Return the compiled scene for a task (None: bare table), compiling it once."""
        key = None if task is None else task.name
        if key not in self._scenes:
            model = build_scene_model(self._arm, task, self._config, self._physics_dt_s,
                                      self._image_size)
            self._scenes[key] = _CompiledScene(model, self._arm)
        return self._scenes[key]

    def _set_arm_state(self, positions: np.ndarray) -> None:
        """Place the arm at rest at positions and hold it there."""
        scene = self._scene
        scene.data.qpos[scene.qpos_adr] = positions
        scene.data.qpos[scene.mimic_qpos_adr] = positions[-1]
        scene.data.qvel[scene.dof_adr] = 0.0
        self.set_joint_targets(positions)

    def joint_positions(self) -> np.ndarray:
        """Return measured joint positions: arm joints (rad) then gripper opening (m)."""
        return self.data.qpos[self._scene.qpos_adr].copy()

    def joint_velocities(self) -> np.ndarray:
        """Return measured joint velocities: arm joints (rad/s) then gripper (m/s)."""
        return self.data.qvel[self._scene.dof_adr].copy()

    def joint_targets(self) -> np.ndarray:
        """Return the commanded joint positions (after clamping), in joint_names order."""
        return self._targets.copy()

    def set_joint_targets(self, positions, velocities=None) -> None:
        """Command the position servos, clamped to the joint limits.

        Args:
            positions: (n_joints,) targets: arm joints (rad) then gripper opening (m).
            velocities: optional (n_joints,) velocities of a moving target (rad/s, m/s), fed
                forward so the joints follow a trajectory without lag; None holds still.

        Raises:
            ValueError: if a shape is wrong or a value is not finite.

        """
        targets = np.clip(self.joint_vector(positions, 'joint targets'), self._lower,
                          self._upper)
        commands = targets
        if velocities is not None:
            velocities = self.joint_vector(velocities, 'joint velocities')
            commands = targets + self._scene.lead_s * velocities
        self._targets = targets
        self.data.ctrl[self._scene.actuator_ids] = np.clip(commands, self._lower, self._upper)

    def joint_vector(self, values, what: str) -> np.ndarray:
        """Return values as a float64 vector of one finite value per joint.

        Args:
            values: one value per joint, in joint_names order.
            what: what the values are, for the error message.

        Returns:
            float64 (n_joints,) array.

        Raises:
            ValueError: if the shape is wrong or a value is not finite.

        """
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(self.joint_names),):
            raise ValueError(
                f'expected {len(self.joint_names)} {what} {self.joint_names}, '
                f'got shape {values.shape}')
        if not np.all(np.isfinite(values)):
            raise ValueError(f'{what} must be finite, got {values}')
        return values

    def step(self, duration_s: float) -> None:
        """Advance the physics by duration_s, rounded to whole physics steps (at least one).

        Args:
            duration_s: simulated time to advance in seconds.

        Raises:
            ValueError: if duration_s is not positive.

        """
        if not duration_s > 0.0:
            raise ValueError(f'duration_s must be > 0, got {duration_s}')
        n_steps = max(1, int(round(duration_s / self._physics_dt_s)))
        mujoco.mj_step(self.model, self.data, nstep=n_steps)

    def _check_camera(self, camera: str) -> None:
        """Raise ValueError unless the scene has a camera with that name."""
        if camera not in self._scene.camera_names:
            raise ValueError(
                f'unknown camera {camera!r}; expected one of {self._scene.camera_names}')

    def render(self, camera: str = None) -> np.ndarray:
        """Render an RGB image offscreen.

        Args:
            camera: camera name ('scene' or 'wrist'); None uses the default camera.

        Returns:
            uint8 array (height, width, 3), top row first.

        """
        camera = self._camera if camera is None else camera
        self._check_camera(camera)
        scene = self._scene
        if scene.renderer is None:
            scene.renderer = mujoco.Renderer(scene.model, *self._image_size)
        scene.renderer.update_scene(scene.data, camera=camera)
        return scene.renderer.render()

    def camera_intrinsics(self, camera: str = None) -> tuple:
        """Return pinhole intrinsics of a camera at the rendered image size (ROS CameraInfo).

        Pixels are square (MuJoCo widens the horizontal field of view with the aspect ratio)
        and the principal point is the image centre, with pixel centres at integer
        coordinates as in OpenCV and ROS.

        Args:
            camera: camera name; None uses the default camera.

        Returns:
            (fx, fy, cx, cy) in pixels.

        """
        camera = self._camera if camera is None else camera
        self._check_camera(camera)
        height, width = self._image_size
        fovy_rad = np.deg2rad(self.model.camera(camera).fovy[0])
        focal_px = 0.5 * height / np.tan(0.5 * fovy_rad)
        return float(focal_px), float(focal_px), (width - 1) / 2.0, (height - 1) / 2.0

    def observation(self, include_image: bool = True) -> dict:
        """Return the policy's observation.

        Args:
            include_image: render the cameras (skip it to save time when unused).

        Returns:
            {'joints': float32 (n_joints,), 'image': uint8 (height, width, 3)}, plus the
            wrist camera's image under :data:`WRIST_IMAGE_KEY` when the simulator was made
            with ``wrist_image``; no images when include_image is False.

        """
        observation = {'joints': self.joint_positions().astype(np.float32)}
        if include_image:
            observation['image'] = self.render()
            if self._wrist_image:
                observation[WRIST_IMAGE_KEY] = self.render(WRIST_CAMERA)
        return observation

    def success(self) -> bool:
        """Return whether the current task is solved (False before the first reset)."""
        return self._task is not None and bool(self._task.success(self))

    def is_unstable(self) -> bool:
        """Return whether the physics blew up: non-finite state, huge speeds or bad accelerations.

        MuJoCo silently resets a state whose positions, velocities or accelerations went bad,
        so its warning counters are checked too. The caller should end the episode with an
        error and reset.
        """
        data = self.data
        if not (np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))):
            return True
        bad_state_warnings = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                              mujoco.mjtWarning.mjWARN_BADQACC)
        if any(data.warning[w].number > 0 for w in bad_state_warnings):
            return True
        return bool(np.max(np.abs(data.qvel), initial=0.0) > self._config.unstable_speed)

    def tcp_position(self) -> np.ndarray:
        """Return the tool centre point position in the world frame (m)."""
        return self.data.site_xpos[self._scene.tcp_site_id].copy()

    def tcp_rotation(self) -> np.ndarray:
        """Return the tool frame rotation (3, 3): z points out of the fingers, y along them."""
        return self.data.site_xmat[self._scene.tcp_site_id].reshape(3, 3).copy()

    def tcp_jacobian(self) -> np.ndarray:
        """Return the (6, n_arm_joints) Jacobian of the tool site: linear rows then angular."""
        jacp = np.zeros((3, self.model.nv))
        jacr = np.zeros((3, self.model.nv))
        mujoco.mj_jacSite(self.model, self.data, jacp, jacr, self._scene.tcp_site_id)
        columns = self._scene.dof_adr[:-1]
        return np.vstack([jacp[:, columns], jacr[:, columns]])

    def body_position(self, name: str) -> np.ndarray:
        """Return a body's world position (m)."""
        return self.data.body(name).xpos.copy()

    def body_rotation(self, name: str) -> np.ndarray:
        """Return a body's world rotation matrix (3, 3)."""
        return self.data.body(name).xmat.reshape(3, 3).copy()

    def body_speed(self, name: str) -> float:
        """Return a free body's linear speed (m/s)."""
        joint_id = self.model.body(name).jntadr[0]
        dof = self.model.jnt_dofadr[joint_id]
        return float(np.linalg.norm(self.data.qvel[dof:dof + 3]))

    def joint_value(self, name: str) -> float:
        """Return the position of a one-degree-of-freedom joint by name (a prop's joint)."""
        return float(self.data.joint(name).qpos[0])

    def set_free_body_pose(self, name: str, position_m, yaw_rad: float) -> None:
        """Place a free body at rest, upright, rotated by yaw_rad about world z.

        Args:
            name: body name.
            position_m: (3,) world position of its centre.
            yaw_rad: rotation about the world z axis.

        """
        joint = self.data.joint(self.model.body(name).jntadr[0])
        joint.qpos[:3] = position_m
        joint.qpos[3:] = [np.cos(yaw_rad / 2.0), 0.0, 0.0, np.sin(yaw_rad / 2.0)]
        joint.qvel[:] = 0.0

    def set_mocap_position(self, name: str, position_m) -> None:
        """Move a fixed (mocap) prop body to a world position.

        Args:
            name: body name.
            position_m: (3,) world position.

        """
        self.data.mocap_pos[self.model.body(name).mocapid[0]] = position_m

    def set_geom_rgba(self, name: str, rgba) -> None:
        """Recolour a geom (colours are part of a task's randomization).

        Args:
            name: geom name.
            rgba: (4,) colour in [0, 1].

        """
        self.model.geom(name).rgba = rgba

    def close(self) -> None:
        """Free the renderers' OpenGL contexts."""
        for scene in self._scenes.values():
            if scene.renderer is not None:
                scene.renderer.close()
                scene.renderer = None

    def __enter__(self):
        """Return self, for use as a context manager."""
        return self

    def __exit__(self, *exc_info):
        """Close the renderers.

        Args:
            exc_info: exception type, value and traceback (unused).

        """
        self.close()
