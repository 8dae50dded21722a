"""Recorded ROS 2 bags -> :class:`gato_ros.data.Episode` datasets, with an on-disk cache.

ROS-free: bags are read with the pure-Python ``rosbags`` package. Modules:

* :mod:`~gato_ros.recording.bag_reader`: :class:`BagConversionConfig` and
  :func:`convert_bag` (one bag -> episodes and a summary);
* :mod:`~gato_ros.recording.alignment`: resampling of the message streams onto the control
  rate and the action definitions (pure NumPy);
* :mod:`~gato_ros.recording.summary`: :class:`ConversionSummary`, what was kept and why
  the rest was not;
* :mod:`~gato_ros.recording.dataset`: :func:`convert_bags` (many bags -> cached ``.npz``
  files and ``manifest.json``) and :func:`load_dataset`.

The recording format, alignment rule and action definitions are in ``docs/data.md``.
"""

from gato_ros.recording.bag_reader import BagConversionConfig, convert_bag
from gato_ros.recording.dataset import convert_bags, load_dataset
from gato_ros.recording.summary import ConversionSummary, SkippedEpisode

__all__ = ['BagConversionConfig', 'ConversionSummary', 'SkippedEpisode', 'convert_bag',
           'convert_bags', 'load_dataset']
