"""Public entry point of the Gato model: its config and the model class.

This module is part of the ROS-free core: it imports neither rclpy nor message packages.
"""

from gato_ros.configuration_gato import GatoConfig, list_presets
from gato_ros.modeling_gato import collate_sequences, GatoModel, GatoOutput, next_token_loss

__all__ = ['collate_sequences', 'GatoConfig', 'GatoModel', 'GatoOutput', 'list_presets',
           'next_token_loss']
