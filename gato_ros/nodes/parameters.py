"""Declare a node's ROS parameters once, with defaults from ``config/<node_name>.yaml``.

Each node module keeps ONE table of :class:`ParameterSpec` (name, description, range); the
default values live only in the node's YAML file (ROS params file format,
``<node_name>: ros__parameters: {...}``), which is also a ready-made ``--params-file`` for
users. The file is looked up in the source tree first, then in the installed share directory.
Values given on the command line or in another params file override the defaults as usual.
"""

from dataclasses import dataclass
from pathlib import Path
import sys

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
import yaml

PACKAGE = 'gato_ros'


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter.

    Attributes:
        name: Parameter name.
        description: What it means, with its unit.
        value_range: (low, high) inclusive, for integer and floating point parameters.
    """

    name: str
    description: str
    value_range: tuple = None


def _share_directories():
    try:
        from ament_index_python.packages import get_package_share_directory
        yield Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError, OSError):
        pass
    yield Path(sys.prefix) / 'share' / PACKAGE


def config_file(name):
    """Find a file of the package's ``config/`` folder.

    Args:
        name: File name relative to ``config/``, e.g. ``'inference_node.yaml'``.

    Returns:
        pathlib.Path: The existing file, from the source tree or else the installed share.

    Raises:
        FileNotFoundError: When neither the source tree nor an installed share directory has it.
    """
    source = Path(__file__).resolve().parents[2] / 'config'
    candidates = [source] + [share / 'config' for share in _share_directories()]
    for directory in candidates:
        path = directory / name
        if path.is_file():
            return path
    raise FileNotFoundError(f'{name} not found in {[str(c) for c in candidates]}')


def config_path(node_name):
    """Find a node's default parameter file.

    Args:
        node_name: Default node name, e.g. ``'inference_node'``.

    Returns:
        pathlib.Path: The existing ``<node_name>.yaml``.

    Raises:
        FileNotFoundError: When neither the source tree nor an installed share directory has it.
    """
    return config_file(f'{node_name}.yaml')


def load_defaults(node_name):
    """Read a node's default parameter values.

    Args:
        node_name: Default node name; also the top-level key of its YAML file.

    Returns:
        dict: parameter name -> default value.

    Raises:
        FileNotFoundError: When the file is missing.
        ValueError: When the file lacks ``<node_name>: ros__parameters:``.
    """
    path = config_path(node_name)
    with open(path, encoding='utf-8') as stream:
        content = yaml.safe_load(stream)
    try:
        return dict(content[node_name]['ros__parameters'])
    except (KeyError, TypeError) as error:
        raise ValueError(
            f'{path}: expected "{node_name}: ros__parameters: ..." at the top') from error


def _descriptor(spec, default, read_only):
    descriptor = ParameterDescriptor(description=spec.description, read_only=read_only)
    if spec.value_range is None:
        return descriptor
    low, high = spec.value_range
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        raise ValueError(f'parameter {spec.name!r}: a range needs a number, got {default!r}')
    if isinstance(default, int):
        descriptor.integer_range = [IntegerRange(from_value=low, to_value=high, step=0)]
    else:
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
    return descriptor


def declare_parameters(node, node_name, specs, read_only):
    """Declare every parameter of a node, defaulted from its YAML file.

    Args:
        node: The rclpy node.
        node_name: Default node name (selects the YAML file and its top-level key).
        specs: The node's :class:`ParameterSpec` table.
        read_only: Whether the parameters may change after start-up.

    Returns:
        dict: parameter name -> value in effect (defaults or overrides).

    Raises:
        ValueError: When the YAML file and the table do not name the same parameters.
    """
    defaults = load_defaults(node_name)
    names = [spec.name for spec in specs]
    if set(defaults) != set(names):
        raise ValueError(
            f'{node_name}.yaml and the parameter table differ: only in the file '
            f'{sorted(set(defaults) - set(names))}, only in the table '
            f'{sorted(set(names) - set(defaults))}')
    for spec in specs:
        default = defaults[spec.name]
        node.declare_parameter(spec.name, default, _descriptor(spec, default, read_only))
    return parameter_values(node, specs)


def parameter_values(node, specs):
    """Read the current values of declared parameters.

    Args:
        node: The rclpy node.
        specs: The node's :class:`ParameterSpec` table.

    Returns:
        dict: parameter name -> value.
    """
    return {spec.name: node.get_parameter(spec.name).value for spec in specs}
