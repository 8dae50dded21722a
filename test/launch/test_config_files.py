"""The params files under config/ parse and set only parameters their nodes declare.

Files of gato_ros nodes name only parameters those nodes declare; the controller_manager
files of the Gazebo arms (config/gazebo/) declare each controller with a type from a package
the package depends on, and configure only declared controllers.
"""

from launch_static import (
    CONFIG_DIR, CONTROLLERS_DIR, gato_ros_nodes, package_dependencies, parameter_names)
import pytest
import yaml

CONTROLLER_FILES = sorted(CONTROLLERS_DIR.glob('*.yaml'))
CONFIG_FILES = sorted(set(CONFIG_DIR.rglob('*.yaml')) - set(CONTROLLER_FILES))
CONTROLLER_MANAGER = 'controller_manager'
# Several image observers share one executable: image_observer, image_observer_wrist, ...
IMAGE_OBSERVER = 'image_observer'


def _relative(path):
    return str(path.relative_to(CONFIG_DIR))


def _sections(path):
    with open(path, encoding='utf-8') as stream:
        content = yaml.safe_load(stream)
    assert isinstance(content, dict) and content, f'{path}: expected node sections'
    return content


def _executable(section_key):
    name = section_key.rsplit('/', 1)[-1]
    return IMAGE_OBSERVER if name.startswith(IMAGE_OBSERVER) else name


def test_every_node_has_its_defaults_file():
    """config/<node>.yaml exists for every installed node executable."""
    for node in gato_ros_nodes():
        assert (CONFIG_DIR / f'{node}.yaml').is_file(), node


@pytest.mark.parametrize('path', CONFIG_FILES, ids=_relative)
def test_params_file_sections_are_declared_parameters(path):
    """Each section is '<node>: ros__parameters: {...}' naming a gato_ros node's parameters."""
    for key, section in _sections(path).items():
        assert isinstance(section, dict) and isinstance(section.get('ros__parameters'), dict), (
            f'{_relative(path)}: section {key!r} needs a ros__parameters mapping')
        executable = _executable(key)
        assert executable in gato_ros_nodes(), f'{_relative(path)}: unknown node {key!r}'
        unknown = set(section['ros__parameters']) - parameter_names(executable)
        assert not unknown, f'{_relative(path)}: {key} does not declare {sorted(unknown)}'


@pytest.mark.parametrize('node', gato_ros_nodes())
def test_defaults_file_sets_every_declared_parameter(node):
    """config/<node>.yaml is the node's only section and gives a default to every parameter."""
    sections = _sections(CONFIG_DIR / f'{node}.yaml')
    assert list(sections) == [node]
    assert set(sections[node]['ros__parameters']) == parameter_names(node)


def test_controllers_folder_holds_only_controller_files():
    """config/gazebo/ has only <arm>_controllers.yaml files, and nothing below it."""
    assert CONTROLLER_FILES
    assert all(path.name.endswith('_controllers.yaml') for path in CONTROLLER_FILES)
    assert not any(path.is_dir() for path in CONTROLLERS_DIR.iterdir())


@pytest.mark.parametrize('path', CONTROLLER_FILES, ids=_relative)
def test_controller_files_declare_typed_controllers(path):
    """controller_manager declares every configured controller with a depended-on type."""
    sections = _sections(path)
    assert list(sections)[0] == CONTROLLER_MANAGER
    for key, section in sections.items():
        assert isinstance(section, dict) and isinstance(section.get('ros__parameters'), dict), (
            f'{_relative(path)}: section {key!r} needs a ros__parameters mapping')
    manager = dict(sections[CONTROLLER_MANAGER]['ros__parameters'])
    update_rate = manager.pop('update_rate')
    assert isinstance(update_rate, int) and update_rate > 0
    for name, controller in manager.items():
        kind = controller['type']
        package, _, plugin = kind.partition('/')
        assert plugin and package in package_dependencies(), f'{_relative(path)}: {name} {kind}'
    assert set(sections) - {CONTROLLER_MANAGER} <= set(manager), _relative(path)
