"""Table-top tasks: their props, seeded randomization, text instructions and success checks.

A task adds its props to the scene once (``build``), places and colours them at every reset
from a seeded generator (``reset``) and judges the current state (``success``). Props are
either free bodies (blocks) or fixed bodies moved per episode (mocap bodies: markers, the tray,
the buttons). A task instance keeps the current episode's choices, so each simulator uses its
own instances (``make_task``).
"""

import abc
from dataclasses import dataclass

import mujoco
import numpy as np

COLOURS = {
    'red': (0.85, 0.12, 0.12, 1.0),
    'green': (0.15, 0.7, 0.2, 1.0),
    'blue': (0.15, 0.3, 0.9, 1.0),
    'yellow': (0.95, 0.8, 0.1, 1.0),
}
BLOCK_HALF_SIZE_M = 0.02
BLOCK_MASS_KG = 0.05
# Fingers count as released above this opening: wider than a block (2 * 0.02 m) so a block
# still squeezed between the fingers does not count as placed.
RELEASED_OPENING_M = 0.03


@dataclass(frozen=True)
class Workspace:
    """Table region where props are placed (world frame, robot base at the origin)."""

    x_range_m: tuple = (0.4, 0.62)
    y_range_m: tuple = (-0.2, 0.2)


def _add_block(spec: mujoco.MjSpec, name: str) -> None:
    """Add a free cube whose body, joint and geom are all called name."""
    body = spec.worldbody.add_body(name=name, pos=[0.5, 0.0, BLOCK_HALF_SIZE_M])
    body.add_freejoint(name=name)
    body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=[BLOCK_HALF_SIZE_M] * 3,
                  mass=BLOCK_MASS_KG)


def _place_block(sim, rng: np.random.Generator, name: str, xy, colour: str) -> None:
    """Rest a block flat on the table at xy with a random yaw in [-45, 45] deg and a colour."""
    sim.set_free_body_pose(name, [*xy, BLOCK_HALF_SIZE_M], rng.uniform(-np.pi / 4, np.pi / 4))
    sim.set_geom_rgba(name, COLOURS[colour])


def _add_marker(spec: mujoco.MjSpec, name: str, geom_type, half_size_m: float) -> None:
    """Add a flat coloured marker on the table that nothing collides with."""
    body = spec.worldbody.add_body(name=name, mocap=True)
    size = [half_size_m, half_size_m, 0.001]
    body.add_geom(name=name, type=geom_type, size=size, pos=[0.0, 0.0, 0.001], contype=0,
                  conaffinity=0)


def _sample_positions(rng: np.random.Generator, workspace: Workspace, count: int,
                      min_separation_m: float, max_separation_m: float = np.inf) -> np.ndarray:
    """Draw count (x, y) table positions, pairwise between the separation bounds.

    Args:
        rng: the episode's random generator.
        workspace: region to sample in.
        count: number of positions.
        min_separation_m: smallest allowed distance between any two positions.
        max_separation_m: largest allowed distance between any two positions.

    Returns:
        (count, 2) array of positions.

    Raises:
        RuntimeError: if no valid set is found (bounds incompatible with the workspace).

    """
    low = [workspace.x_range_m[0], workspace.y_range_m[0]]
    high = [workspace.x_range_m[1], workspace.y_range_m[1]]
    for _ in range(1000):
        points = rng.uniform(low, high, size=(count, 2))
        distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
        pairs = distances[np.triu_indices(count, k=1)]
        if np.all(pairs >= min_separation_m) and np.all(pairs <= max_separation_m):
            return points
    raise RuntimeError(
        f'cannot place {count} props {min_separation_m}-{max_separation_m} m apart in {workspace}')


def _pick_colours(rng: np.random.Generator, count: int) -> list:
    """Draw count distinct colour names."""
    return [str(c) for c in rng.choice(sorted(COLOURS), size=count, replace=False)]


def _block_resting_on(sim, name: str, support_top_m: float) -> bool:
    """Return whether a block's centre is at resting height above support_top_m."""
    height_m = sim.body_position(name)[2] - support_top_m
    return abs(height_m - BLOCK_HALF_SIZE_M) < 0.01


class Task(abc.ABC):
    """A table-top task with a text instruction.

    Subclasses set ``name``, ``time_limit_s`` and ``approach_body`` (the body the tool
    heads for first, which diagnostics compare the tool's motion with) and implement build,
    reset and success.
    """

    name = ''
    time_limit_s = 15.0
    approach_body = ''

    def __init__(self, workspace: Workspace = Workspace()):
        """Create the task with no episode started.

        Args:
            workspace: table region where props are placed.

        """
        self.workspace = workspace
        self.instruction = ''

    @abc.abstractmethod
    def build(self, spec: mujoco.MjSpec) -> None:
        """Add the task's props to a scene before it is compiled.

        Args:
            spec: the scene being built.

        """

    @abc.abstractmethod
    def reset(self, sim, rng: np.random.Generator) -> None:
        """Place and colour the props and choose the instruction.

        Args:
            sim: the ArmSim whose state to set (arm already homed).
            rng: the episode's seeded random generator.

        """

    @abc.abstractmethod
    def success(self, sim) -> bool:
        """Return whether the task is solved in the simulator's current state.

        Args:
            sim: the ArmSim to judge.

        """


class ReachTarget(Task):
    """Touch the coloured disc named in the instruction; two other discs distract."""

    name = 'reach_target'
    time_limit_s = 8.0
    approach_body = 'target_0'
    n_targets = 3
    target_radius_m = 0.03
    touch_height_m = 0.06

    def build(self, spec: mujoco.MjSpec) -> None:
        """Add the target discs.

        Args:
            spec: the scene being built.

        """
        for i in range(self.n_targets):
            _add_marker(spec, f'target_{i}', mujoco.mjtGeom.mjGEOM_CYLINDER, self.target_radius_m)

    def reset(self, sim, rng: np.random.Generator) -> None:
        """Place the discs apart and colour them; disc 0 is the goal.

        Args:
            sim: the ArmSim whose state to set.
            rng: the episode's seeded random generator.

        """
        colours = _pick_colours(rng, self.n_targets)
        positions = _sample_positions(rng, self.workspace, self.n_targets, 0.1)
        for i, (colour, xy) in enumerate(zip(colours, positions)):
            sim.set_mocap_position(f'target_{i}', [xy[0], xy[1], 0.0])
            sim.set_geom_rgba(f'target_{i}', COLOURS[colour])
        self.instruction = f'reach the {colours[0]} target'

    def success(self, sim) -> bool:
        """Return whether the tool is over the goal disc and close to the table.

        Args:
            sim: the ArmSim to judge.

        """
        offset = sim.tcp_position() - sim.body_position('target_0')
        return bool(np.linalg.norm(offset[:2]) < self.target_radius_m
                    and offset[2] < self.touch_height_m)


class PushBlock(Task):
    """Push a block onto a coloured zone without lifting it."""

    name = 'push_block'
    time_limit_s = 15.0
    approach_body = 'block'
    zone_half_size_m = 0.05
    tolerance_m = 0.04

    def build(self, spec: mujoco.MjSpec) -> None:
        """Add the block and the zone.

        Args:
            spec: the scene being built.

        """
        _add_block(spec, 'block')
        _add_marker(spec, 'zone', mujoco.mjtGeom.mjGEOM_BOX, self.zone_half_size_m)

    def reset(self, sim, rng: np.random.Generator) -> None:
        """Place block and zone 0.12-0.22 m apart, with random colours and block yaw.

        Args:
            sim: the ArmSim whose state to set.
            rng: the episode's seeded random generator.

        """
        block_colour, zone_colour = _pick_colours(rng, 2)
        block_xy, zone_xy = _sample_positions(rng, self.workspace, 2, 0.12, 0.22)
        _place_block(sim, rng, 'block', block_xy, block_colour)
        sim.set_mocap_position('zone', [*zone_xy, 0.0])
        sim.set_geom_rgba('zone', COLOURS[zone_colour])
        self.instruction = f'push the {block_colour} block to the {zone_colour} zone'

    def success(self, sim) -> bool:
        """Return whether the block rests on the table within tolerance of the zone centre.

        Args:
            sim: the ArmSim to judge.

        """
        offset = sim.body_position('block') - sim.body_position('zone')
        return bool(np.linalg.norm(offset[:2]) < self.tolerance_m
                    and _block_resting_on(sim, 'block', 0.0))


class LiftBlock(Task):
    """Grasp a block and hold it above the table."""

    name = 'lift_block'
    approach_body = 'block'
    time_limit_s = 10.0
    lift_height_m = 0.1

    def build(self, spec: mujoco.MjSpec) -> None:
        """Add the block.

        Args:
            spec: the scene being built.

        """
        _add_block(spec, 'block')

    def reset(self, sim, rng: np.random.Generator) -> None:
        """Place the block with a random colour and yaw.

        Args:
            sim: the ArmSim whose state to set.
            rng: the episode's seeded random generator.

        """
        (colour,) = _pick_colours(rng, 1)
        (block_xy,) = _sample_positions(rng, self.workspace, 1, 0.0)
        _place_block(sim, rng, 'block', block_xy, colour)
        self.instruction = f'lift the {colour} block'

    def success(self, sim) -> bool:
        """Return whether the block's centre is lift_height_m above the table.

        Args:
            sim: the ArmSim to judge.

        """
        return bool(sim.body_position('block')[2] > self.lift_height_m)


class PickPlace(Task):
    """Put a block into a low-walled tray (pushing it in is blocked by the walls)."""

    name = 'pick_place'
    approach_body = 'block'
    time_limit_s = 15.0
    tray_inner_half_size_m = 0.06
    tray_wall_height_m = 0.025
    tray_wall_thickness_m = 0.008
    tray_floor_thickness_m = 0.005

    def build(self, spec: mujoco.MjSpec) -> None:
        """Add the block and the tray (floor plate and four walls).

        Args:
            spec: the scene being built.

        """
        _add_block(spec, 'block')
        tray = spec.worldbody.add_body(name='tray', mocap=True)
        floor = self.tray_floor_thickness_m / 2.0
        outer = self.tray_inner_half_size_m + self.tray_wall_thickness_m
        tray.add_geom(name='tray', type=mujoco.mjtGeom.mjGEOM_BOX, size=[outer, outer, floor],
                      pos=[0.0, 0.0, floor])
        wall_half = [self.tray_wall_thickness_m / 2.0, outer, self.tray_wall_height_m / 2.0]
        centre = self.tray_inner_half_size_m + self.tray_wall_thickness_m / 2.0
        for i, (x, y) in enumerate([(centre, 0.0), (-centre, 0.0), (0.0, centre), (0.0, -centre)]):
            size = wall_half if x else [wall_half[1], wall_half[0], wall_half[2]]
            tray.add_geom(name=f'tray_wall_{i}', type=mujoco.mjtGeom.mjGEOM_BOX, size=size,
                          pos=[x, y, self.tray_wall_height_m / 2.0])

    def reset(self, sim, rng: np.random.Generator) -> None:
        """Place block and tray apart with random colours (walls share the tray's colour).

        Args:
            sim: the ArmSim whose state to set.
            rng: the episode's seeded random generator.

        """
        block_colour, tray_colour = _pick_colours(rng, 2)
        block_xy, tray_xy = _sample_positions(rng, self.workspace, 2, 0.16, 0.3)
        _place_block(sim, rng, 'block', block_xy, block_colour)
        sim.set_mocap_position('tray', [*tray_xy, 0.0])
        for name in ['tray'] + [f'tray_wall_{i}' for i in range(4)]:
            sim.set_geom_rgba(name, COLOURS[tray_colour])
        self.instruction = f'put the {block_colour} block in the {tray_colour} tray'

    def success(self, sim) -> bool:
        """Return whether the released block rests on the tray floor.

        Args:
            sim: the ArmSim to judge.

        """
        offset = sim.body_position('block') - sim.body_position('tray')
        inside = np.all(np.abs(offset[:2]) < self.tray_inner_half_size_m)
        return bool(inside and _block_resting_on(sim, 'block', self.tray_floor_thickness_m)
                    and sim.joint_positions()[-1] > RELEASED_OPENING_M)


class StackBlocks(Task):
    """Put one block on top of another."""

    name = 'stack_blocks'
    approach_body = 'block_top'
    time_limit_s = 15.0
    tolerance_m = 0.02

    def build(self, spec: mujoco.MjSpec) -> None:
        """Add the two blocks: 'block_top' goes onto 'block_base'.

        Args:
            spec: the scene being built.

        """
        _add_block(spec, 'block_top')
        _add_block(spec, 'block_base')

    def reset(self, sim, rng: np.random.Generator) -> None:
        """Place the blocks apart with distinct random colours and yaws.

        Args:
            sim: the ArmSim whose state to set.
            rng: the episode's seeded random generator.

        """
        top_colour, base_colour = _pick_colours(rng, 2)
        positions = _sample_positions(rng, self.workspace, 2, 0.1, 0.25)
        for name, colour, xy in zip(('block_top', 'block_base'), (top_colour, base_colour),
                                    positions):
            _place_block(sim, rng, name, xy, colour)
        self.instruction = f'stack the {top_colour} block on the {base_colour} block'

    def success(self, sim) -> bool:
        """Return whether the released top block rests centred on the base block.

        Args:
            sim: the ArmSim to judge.

        """
        base = sim.body_position('block_base')
        offset = sim.body_position('block_top') - base
        return bool(np.linalg.norm(offset[:2]) < self.tolerance_m
                    and _block_resting_on(sim, 'block_top', base[2] + BLOCK_HALF_SIZE_M)
                    and _block_resting_on(sim, 'block_base', 0.0)
                    and sim.joint_positions()[-1] > RELEASED_OPENING_M)


class PressButton(Task):
    """Press the button of the named colour, not the other one."""

    name = 'press_button'
    approach_body = 'button_0'
    time_limit_s = 10.0
    n_buttons = 2
    housing_half_size_m = 0.035
    housing_height_m = 0.02
    cap_radius_m = 0.022
    cap_height_m = 0.02
    travel_m = 0.015
    pressed_depth_m = 0.011

    def build(self, spec: mujoco.MjSpec) -> None:
        """Add the buttons: a fixed housing and a sprung cap on a vertical slide joint.

        Args:
            spec: the scene being built.

        """
        for i in range(self.n_buttons):
            housing = spec.worldbody.add_body(name=f'button_{i}', mocap=True)
            half = self.housing_half_size_m
            housing.add_geom(name=f'button_{i}_housing', type=mujoco.mjtGeom.mjGEOM_BOX,
                             size=[half, half, self.housing_height_m / 2.0],
                             pos=[0.0, 0.0, self.housing_height_m / 2.0],
                             rgba=[0.3, 0.3, 0.3, 1.0])
            cap = housing.add_body(name=f'button_{i}_cap',
                                   pos=[0.0, 0.0, self.housing_height_m + self.cap_height_m / 2])
            cap.add_joint(name=f'button_{i}', type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, 0, 1],
                          range=[-self.travel_m, 0.0], stiffness=300.0, damping=3.0)
            # The cap sinks into the housing when pressed; only the finger pushes it.
            cap.add_geom(name=f'button_{i}_cap', type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                         size=[self.cap_radius_m, self.cap_height_m / 2.0, 0.0], mass=0.02)
            spec.add_exclude(bodyname1=f'button_{i}', bodyname2=f'button_{i}_cap')

    def reset(self, sim, rng: np.random.Generator) -> None:
        """Place the buttons apart with distinct colours; button 0 is the goal.

        Args:
            sim: the ArmSim whose state to set.
            rng: the episode's seeded random generator.

        """
        colours = _pick_colours(rng, self.n_buttons)
        positions = _sample_positions(rng, self.workspace, self.n_buttons, 0.15)
        for i, (colour, xy) in enumerate(zip(colours, positions)):
            sim.set_mocap_position(f'button_{i}', [xy[0], xy[1], 0.0])
            sim.set_geom_rgba(f'button_{i}_cap', COLOURS[colour])
        self.instruction = f'press the {colours[0]} button'

    def pressed(self, sim, index: int) -> bool:
        """Return whether button index is pushed in past pressed_depth_m.

        Args:
            sim: the ArmSim to judge.
            index: button number.

        """
        return sim.joint_value(f'button_{index}') < -self.pressed_depth_m

    def success(self, sim) -> bool:
        """Return whether the goal button, and only it, is pressed.

        Args:
            sim: the ArmSim to judge.

        """
        return bool(self.pressed(sim, 0)
                    and not any(self.pressed(sim, i) for i in range(1, self.n_buttons)))


_TASKS = {task.name: task for task in (ReachTarget, PushBlock, LiftBlock, PickPlace,
                                       StackBlocks, PressButton)}


def list_tasks() -> list:
    """Return the task names, sorted.

    Returns:
        Names accepted by make_task and ArmSim.reset.

    """
    return sorted(_TASKS)


def make_task(name: str) -> Task:
    """Create a fresh instance of a task.

    Args:
        name: a task name from list_tasks().

    Returns:
        The task.

    Raises:
        ValueError: if the name is unknown.

    """
    if name not in _TASKS:
        raise ValueError(f'unknown task {name!r}; expected one of {list_tasks()}')
    return _TASKS[name]()
