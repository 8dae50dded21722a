"""Tests for gato_ros/nodes/parameters.py and the parameter tables of the nodes."""

from gato_ros.nodes import image_observer, inference_node, joint_state_observer
from gato_ros.nodes.parameters import config_path, declare_parameters, load_defaults
import pytest
import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.parameter import Parameter

NODE_MODULES = [joint_state_observer, image_observer, inference_node]
NODE_CLASSES = {joint_state_observer: joint_state_observer.JointStateObserver,
                image_observer: image_observer.ImageObserver,
                inference_node: inference_node.InferenceNode}


@pytest.mark.parametrize('module', NODE_MODULES, ids=lambda m: m.NODE_NAME)
def test_yaml_and_table_declare_the_same_parameters(module):
    """Every tabled parameter has a YAML default and every default is tabled."""
    defaults = load_defaults(module.NODE_NAME)
    assert sorted(defaults) == sorted(spec.name for spec in module.PARAMETERS)
    for spec in module.PARAMETERS:
        assert spec.description
        value = defaults[spec.name]
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        assert numeric == (spec.value_range is not None), spec.name
        if numeric:
            assert spec.value_range[0] <= value <= spec.value_range[1], spec.name


@pytest.mark.parametrize('module', NODE_MODULES, ids=lambda m: m.NODE_NAME)
def test_nodes_start_with_their_defaults(context, module):
    """Each node declares its parameters with descriptions and ranges."""
    node = NODE_CLASSES[module](context=context)
    try:
        defaults = load_defaults(module.NODE_NAME)
        for spec in module.PARAMETERS:
            assert node.get_parameter(spec.name).value == pytest.approx(defaults[spec.name])
            descriptor = node.describe_parameter(spec.name)
            assert descriptor.description == spec.description
            if spec.value_range is not None:
                ranges = descriptor.floating_point_range or descriptor.integer_range
                assert (ranges[0].from_value, ranges[0].to_value) == pytest.approx(
                    spec.value_range)
    finally:
        node.destroy_node()


def test_out_of_range_override_is_refused(context):
    """A parameter outside its declared range stops the node from starting."""
    with pytest.raises(InvalidParameterValueException):
        inference_node.InferenceNode(
            context=context, parameter_overrides=[Parameter('control_rate_hz', value=0.0)])


def test_table_and_file_mismatch_is_reported(context):
    """A table missing a parameter of the YAML file fails with both lists."""
    node = rclpy.create_node('mismatch', context=context)
    try:
        with pytest.raises(ValueError, match=r"only in the file \['max_skew_s'\]"):
            declare_parameters(node, joint_state_observer.NODE_NAME,
                               joint_state_observer.PARAMETERS[:-1], read_only=True)
    finally:
        node.destroy_node()


def test_missing_config_file_is_reported():
    """An unknown node name has no defaults file."""
    with pytest.raises(FileNotFoundError, match='no_such_node.yaml not found'):
        config_path('no_such_node')
