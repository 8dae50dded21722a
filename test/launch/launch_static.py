"""Read launch files without the launch package: their syntax tree, calls and literals.

launch and launch_ros install only with ROS, so the checks that must run everywhere look at
the launch files' source: which actions they build, with which literal arguments.
"""

import ast
import importlib
from pathlib import Path
import re
import xml.etree.ElementTree as ElementTree

REPO = Path(__file__).resolve().parents[2]
LAUNCH_DIR = REPO / 'launch'
CONFIG_DIR = REPO / 'config'
# Params files of ros2_control's controller_manager (not of gato_ros nodes) for the Gazebo arms.
CONTROLLERS_DIR = CONFIG_DIR / 'gazebo'
PACKAGE = 'gato_ros'
# Where each folder of share/gato_ros comes from in the source tree (see CMakeLists.txt).
SHARE_SOURCES = {'config': REPO / 'config', 'launch': REPO / 'launch',
                 'urdf': REPO / 'gato_ros' / 'sim' / 'robots'}
# Parameters every rclpy node declares itself.
BUILTIN_PARAMETERS = frozenset({'use_sim_time'})
NODE_ACTIONS = ('Node', 'LifecycleNode')
SHARE_CALLS = ('FindPackageShare', 'get_package_share_directory')


def launch_files():
    """Return the launch files of the package.

    Returns:
        list[pathlib.Path]: ``launch/*.launch.py``, sorted.
    """
    return sorted(LAUNCH_DIR.glob('*.launch.py'))


def parse(path):
    """Parse a Python file.

    Args:
        path: The file.

    Returns:
        ast.Module: Its syntax tree.
    """
    return ast.parse(Path(path).read_text(encoding='utf-8'), filename=str(path))


def gato_ros_nodes():
    """Return the node executables CMakeLists.txt installs into lib/gato_ros.

    Returns:
        tuple[str, ...]: The names of the ``GATO_ROS_NODES`` list.

    Raises:
        ValueError: When CMakeLists.txt has no ``set(GATO_ROS_NODES ...)``.
    """
    text = (REPO / 'CMakeLists.txt').read_text(encoding='utf-8')
    match = re.search(r'set\(GATO_ROS_NODES\s+([^)]*)\)', text)
    if match is None:
        raise ValueError('CMakeLists.txt: expected set(GATO_ROS_NODES <executables>)')
    return tuple(match.group(1).split())


def package_dependencies():
    """Return the packages package.xml declares as run-time dependencies.

    Returns:
        frozenset[str]: Names of its ``<depend>`` and ``<exec_depend>`` elements.
    """
    root = ElementTree.parse(REPO / 'package.xml').getroot()
    return frozenset(element.text.strip() for tag in ('depend', 'exec_depend')
                     for element in root.findall(tag))


def referenced_packages(tree):
    """Return the ROS packages a launch file uses: nodes' packages and share directories.

    Args:
        tree: The launch file's syntax tree.

    Returns:
        set[str]: Literal ``package=`` of node actions and first arguments of
        ``FindPackageShare``/``get_package_share_directory``.
    """
    packages = {literal(keyword(call, 'package')) for call in node_actions(tree)}
    packages.update(literal(call.args[0]) for call in calls(tree, *SHARE_CALLS) if call.args)
    return {package for package in packages if isinstance(package, str)}


def parameter_names(executable):
    """Return the parameters a gato_ros node declares.

    Args:
        executable: A node executable, e.g. ``'inference_node'``.

    Returns:
        frozenset[str]: Names of its module's ``PARAMETERS`` table.
    """
    module = importlib.import_module(f'{PACKAGE}.nodes.{executable}')
    return frozenset(spec.name for spec in module.PARAMETERS)


def call_name(call):
    """Return the name a call is made through.

    Args:
        call: An ``ast.Call``.

    Returns:
        str: ``'Node'`` for ``Node(...)``, ``'join'`` for ``os.path.join(...)``; '' otherwise.
    """
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ''


def calls(tree, *names):
    """Find the calls of some names anywhere in a tree.

    Args:
        tree: An ast node.
        *names: Call names (see :func:`call_name`).

    Returns:
        list[ast.Call]: The calls, in source order.
    """
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and call_name(node) in names]


def keyword(call, name):
    """Return a keyword argument's expression.

    Args:
        call: An ``ast.Call``.
        name: The keyword.

    Returns:
        ast.expr or None: The expression, None when the call does not pass it.
    """
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def literal(expression):
    """Return the value of a literal expression.

    Args:
        expression: An ast expression or None.

    Returns:
        The value (str, number, list, ...), or None when it is not a literal.
    """
    if expression is None:
        return None
    try:
        return ast.literal_eval(expression)
    except ValueError:
        return None


def node_actions(tree):
    """Find the ROS node actions a launch file builds.

    Args:
        tree: The launch file's syntax tree.

    Returns:
        list[ast.Call]: ``Node(...)`` and ``LifecycleNode(...)`` calls.
    """
    return calls(tree, *NODE_ACTIONS)


def parameter_keys(node_call):
    """Return the parameter names a node action sets literally.

    Covers the keys of every dict literal inside ``parameters=[...]`` (also inside helper
    calls there) and ``-p name:=value`` pairs of ``ros_arguments``/``arguments``.

    Args:
        node_call: A ``Node(...)`` or ``LifecycleNode(...)`` call.

    Returns:
        set[str]: The parameter names.
    """
    keys = set()
    parameters = keyword(node_call, 'parameters')
    if parameters is not None:
        for node in ast.walk(parameters):
            if isinstance(node, ast.Dict):
                keys.update(key.value for key in node.keys
                            if isinstance(key, ast.Constant) and isinstance(key.value, str))
    for name in ('ros_arguments', 'arguments'):
        values = literal(keyword(node_call, name)) or []
        keys.update(rule.split(':=', 1)[0] for flag, rule in zip(values, values[1:])
                    if flag == '-p' and isinstance(rule, str))
    return keys


def is_package_share(expression, package=PACKAGE):
    """Tell whether an expression is a package's share directory.

    Args:
        expression: An ast expression.
        package: The package; default gato_ros.

    Returns:
        bool: True for ``FindPackageShare('gato_ros')``, the text it performs to
        (``FindPackageShare('gato_ros').perform(context)``) and
        ``get_package_share_directory('gato_ros')`` (variables bound to one are found by
        :func:`share_variables`).
    """
    if (isinstance(expression, ast.Call) and call_name(expression) == 'perform'
            and isinstance(expression.func, ast.Attribute)):
        expression = expression.func.value
    return (isinstance(expression, ast.Call)
            and call_name(expression) in SHARE_CALLS
            and literal(expression.args[0] if expression.args else None) == package)


def share_variables(tree, package=PACKAGE):
    """Find the variables that hold a package's share directory.

    Args:
        tree: The launch file's syntax tree.
        package: The package; default gato_ros.

    Returns:
        set[str]: Names assigned ``FindPackageShare('gato_ros')`` or its like.
    """
    return {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
            and is_package_share(node.value, package)
            for target in node.targets if isinstance(target, ast.Name)}


def share_paths(tree, within=None, package=PACKAGE):
    """Find the paths into share/<package> (default share/gato_ros) a launch file joins.

    ``PathJoinSubstitution([<share>, 'a', 'b', ...])`` and ``os.path.join(<share>, 'a', ...)``;
    the parts are the string literals after the share directory, up to the first part that
    is not a literal (e.g. ``LaunchConfiguration('arm')``).

    Args:
        tree: The launch file's syntax tree (where share variables are assigned).
        within: The part of the tree to search (e.g. one call); None: all of it.
        package: The package whose share directory the paths start from.

    Returns:
        list[tuple[tuple[str, ...], bool]]: (literal parts, whether all parts are literal).
    """
    variables = share_variables(tree, package)
    found = []
    for call in calls(tree if within is None else within, 'PathJoinSubstitution', 'join'):
        if call_name(call) == 'PathJoinSubstitution':
            elements = call.args[0].elts if call.args and isinstance(
                call.args[0], (ast.List, ast.Tuple)) else []
        else:
            elements = call.args
        if not elements or not (is_package_share(elements[0], package) or (
                isinstance(elements[0], ast.Name) and elements[0].id in variables)):
            continue
        parts = []
        for element in elements[1:]:
            value = literal(element)
            if not isinstance(value, str):
                break
            parts.append(value)
        found.append((tuple(parts), len(parts) == len(elements) - 1))
    return found


def source_path(share_parts):
    """Map a path inside share/gato_ros to the source file or folder it is installed from.

    Args:
        share_parts: Path parts below share/gato_ros, e.g. ``('config', 'arms', 'ur5e.yaml')``.

    Returns:
        pathlib.Path or None: The source path, None for a folder the package does not install.
    """
    if not share_parts or share_parts[0] not in SHARE_SOURCES:
        return None
    return SHARE_SOURCES[share_parts[0]].joinpath(*share_parts[1:])


def declared_arguments(tree):
    """Return the launch arguments a launch file declares.

    Args:
        tree: The launch file's syntax tree.

    Returns:
        dict[str, ast.Call]: Argument name -> its ``DeclareLaunchArgument(...)`` call.
    """
    return {literal(call.args[0]): call for call in calls(tree, 'DeclareLaunchArgument')}


def load_functions(path, names, namespace):
    """Compile some top-level functions of a launch file on their own.

    The launch file's module cannot be imported without launch; functions that use only the
    standard library and yaml can still run, given those modules in ``namespace``.

    Args:
        path: The launch file.
        names: The functions, including those they call.
        namespace: Globals the functions need (e.g. ``{'re': re}``); the compiled functions
            are added to it, so they find each other.

    Returns:
        dict: The namespace, holding the functions.

    Raises:
        ValueError: When the file lacks one of the functions.
    """
    tree = parse(path)
    definitions = [node for node in tree.body
                   if isinstance(node, ast.FunctionDef) and node.name in names]
    missing = set(names) - {definition.name for definition in definitions}
    if missing:
        raise ValueError(f'{path}: no top-level function {sorted(missing)}')
    module = ast.Module(body=definitions, type_ignores=[])
    exec(compile(module, str(path), 'exec'), namespace)
    return namespace
