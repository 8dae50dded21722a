"""Turn the inference node's parameters into checked configs, and check a checkpoint against them.

Everything here raises ValueError with a message naming the parameter or checkpoint field at
fault, so a failed lifecycle ``configure`` tells the operator what to fix.
"""

from gato_ros.nodes.action_mapping import ActionLayout, GripperConfig
from gato_ros.nodes.safety import SafetyConfig

# Default command topics per mode; the trajectory one follows the controller's name.
SERVO_TOPIC = '/servo_node/delta_twist_cmds'


def action_layout(params):
    """Build the action layout from parameters.

    Args:
        params: Parameter name -> value of the inference node.

    Returns:
        ActionLayout: Mode, arm joints and gripper.

    Raises:
        ValueError: On an inconsistent mode, joint list or gripper setting.
    """
    gripper = GripperConfig(
        joint_name=params['gripper_joint_name'], output=params['gripper_output'],
        closed_position=params['gripper_closed_position'],
        open_position=params['gripper_open_position'])
    return ActionLayout(mode=params['mode'], joint_names=tuple(params['joint_names']),
                        gripper=gripper)


def safety_config(params, layout):
    """Build the safety limits of the layout's commanded joints from parameters.

    Arm joints take ``position_lower``/``position_upper``/``max_step`` (one value per entry
    of ``joint_names``); the gripper joint takes its closed/open range and
    ``gripper_max_step``.

    Args:
        params: Parameter name -> value of the inference node.
        layout: The :class:`ActionLayout` built from the same parameters.

    Returns:
        SafetyConfig: Limits in ``layout.commanded_joints`` order.

    Raises:
        ValueError: When the limit lists do not match ``joint_names`` or are invalid.
    """
    lower, upper, step = [], [], []
    if layout.mode == 'trajectory':
        count = len(layout.joint_names)
        for name in ('position_lower', 'position_upper', 'max_step'):
            if len(params[name]) != count:
                raise ValueError(
                    f'parameter {name} needs one value per joint of joint_names ({count}), '
                    f'got {len(params[name])}')
        lower, upper, step = (list(params[name]) for name in (
            'position_lower', 'position_upper', 'max_step'))
    if layout.gripper.enabled:
        lower.append(layout.gripper.limits[0])
        upper.append(layout.gripper.limits[1])
        step.append(params['gripper_max_step'])
    return SafetyConfig(
        joint_names=layout.commanded_joints, position_lower=tuple(lower),
        position_upper=tuple(upper), max_step=tuple(step),
        seed_tolerance=params['seed_tolerance'])


def command_topic(params):
    """Return the motion command topic.

    Args:
        params: Parameter name -> value of the inference node.

    Returns:
        str: ``command_topic`` if set, else ``/<controller_name>/joint_trajectory``
        (trajectory mode) or MoveIt Servo's ``/servo_node/delta_twist_cmds`` (servo mode).
    """
    if params['command_topic']:
        return params['command_topic']
    if params['mode'] == 'servo':
        return SERVO_TOPIC
    return f"/{params['controller_name']}/joint_trajectory"


def check_trigger_key(params):
    """Check that the trigger of control steps, if any, is one of the observations.

    Args:
        params: Parameter name -> value of the inference node.

    Raises:
        ValueError: When ``trigger_observation_key`` is set but not in ``observation_keys``.
    """
    key = params['trigger_observation_key']
    if key and key not in params['observation_keys']:
        raise ValueError(
            f'trigger_observation_key {key!r} is not one of observation_keys '
            f"{list(params['observation_keys'])}: name one of them, or leave it empty for the "
            'control timer alone')


def observed_keys(observation_spec, params):
    """Return the configured observation keys a checkpoint's task observes, in their order.

    Args:
        observation_spec: Observation key -> ``gato_ros.data.TensorSpec`` of the task.
        params: Parameter name -> value of the inference node.

    Returns:
        list[str]: The keys a control tick gathers; the others are received but not used.
    """
    return [key for key in params['observation_keys'] if key in observation_spec]


def check_policy(observation_spec, action_dim, params, layout):
    """Check that a checkpoint's task fits the configured sources and robot.

    Args:
        observation_spec: Observation key -> ``gato_ros.data.TensorSpec`` of the task.
        action_dim: Action dimension of the task.
        params: Parameter name -> value of the inference node.
        layout: The :class:`ActionLayout` of the robot.

    ``observation_keys`` may name sources the task does not observe (a wrist camera that only
    other tasks of the checkpoint read); see :func:`observed_keys`.

    Raises:
        ValueError: Naming the missing cameras/joint sources, joints key or action size.
    """
    configured, expected = set(params['observation_keys']), set(observation_spec)
    if not expected <= configured:
        raise ValueError(
            f'the checkpoint observes {sorted(expected)} but observation_keys is '
            f'{sorted(configured)}: missing {sorted(expected - configured)}')
    if action_dim != layout.action_dim:
        arm = (f'{len(layout.joint_names)} joints {list(layout.joint_names)}'
               if layout.mode == 'trajectory' else 'a 6-D twist')
        gripper = ' + a gripper' if layout.gripper.enabled else ''
        raise ValueError(
            f'the checkpoint acts with {action_dim} values, but {layout.mode} mode with '
            f'{arm}{gripper} needs {layout.action_dim}')
    if not layout.commanded_joints:
        return
    key = params['joints_key']
    spec = observation_spec.get(key)
    if spec is None or spec.kind != 'continuous':
        raise ValueError(
            f'joints_key {key!r} must name a continuous observation of the checkpoint '
            f'(measured positions of {list(layout.commanded_joints)}), got {spec}')
