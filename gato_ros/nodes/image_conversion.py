"""Convert ``sensor_msgs/Image`` fields to the RGB uint8 arrays the policy reads.

Two steps, each a function so tests can feed hand-built message fields:

1. Decode: the raw bytes of an image (``height``, ``width``, ``encoding``, ``is_bigendian``,
   ``step``, ``data``) become an (H, W, C) array of the encoding's own type. ROS's ``cv_bridge``
   does this where it is installed as a ROS package; elsewhere the project's own decoder is used
   (the PyPI ``cv-bridge`` port is never used: it is broken with NumPy 2 and OpenCV 5).
2. To RGB: the decoded array becomes uint8 (H, W, 3), R first. Scaling of the non-8-bit
   encodings (documented in :class:`ImageConversionConfig`):

   * ``mono8``: the grey value is copied to the three channels;
   * ``mono16`` and ``16UC1`` (e.g. depth in mm): ``round(v * 255 / uint16_full_scale)``,
     values above ``uint16_full_scale`` saturate at 255;
   * ``32FC1`` (e.g. depth in m): ``[float_min, float_max]`` maps linearly to [0, 255] with
     saturation; NaN and inf (no depth return) become 0.

Then :func:`crop_and_resize` gives the model's input size: centre-crop to the target aspect
ratio (nothing is stretched), then an OpenCV ``INTER_AREA`` resize (area averaging, which does
not alias when shrinking).
"""

from dataclasses import dataclass
import functools

import cv2
import numpy as np

# encoding -> (NumPy element type, channels); the types are little-endian here and switched to
# big-endian when the message says so.
ENCODINGS = {
    'rgb8': ('u1', 3),
    'bgr8': ('u1', 3),
    'rgba8': ('u1', 4),
    'bgra8': ('u1', 4),
    'mono8': ('u1', 1),
    'mono16': ('<u2', 1),
    '16UC1': ('<u2', 1),
    '32FC1': ('<f4', 1),
}


@dataclass(frozen=True)
class ImageConversionConfig:
    """How images are checked, scaled to 8 bits and resized.

    Attributes:
        output_height: Height of the model input image (pixels).
        output_width: Width of the model input image (pixels).
        max_pixels: Largest accepted input image (height * width); bigger ones are rejected
            so a misconfigured camera cannot stall the control loop.
        uint16_full_scale: 16-bit value mapped to 255 (``mono16``, ``16UC1``).
        float_min: ``32FC1`` value mapped to 0.
        float_max: ``32FC1`` value mapped to 255.
    """

    output_height: int = 64
    output_width: int = 64
    max_pixels: int = 4096 * 4096
    uint16_full_scale: int = 65535
    float_min: float = 0.0
    float_max: float = 10.0

    def __post_init__(self):
        """Check the values.

        Raises:
            ValueError: If a size is not positive or a scaling range is empty.
        """
        for name in ('output_height', 'output_width', 'max_pixels'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}')
        if not 1 <= self.uint16_full_scale <= 65535:
            raise ValueError(
                f'uint16_full_scale must be in [1, 65535], got {self.uint16_full_scale}')
        if not np.isfinite([self.float_min, self.float_max]).all() or (
                self.float_max <= self.float_min):
            raise ValueError(
                'float_min < float_max (finite) expected, got '
                f'[{self.float_min}, {self.float_max}]')


def check_image_layout(height, width, encoding, step, data_size, max_pixels):
    """Check that image fields describe a supported image whose size matches its data.

    Args:
        height: Number of rows.
        width: Number of columns.
        encoding: One of :data:`ENCODINGS`.
        step: Bytes per row, padding included.
        data_size: Length of the data in bytes.
        max_pixels: Largest accepted ``height * width``.

    Returns:
        tuple[np.dtype, int, int]: Little-endian element type, channels, bytes of pixels per
        row (without padding).

    Raises:
        ValueError: On an unsupported encoding, a zero-size or oversized image, or when
            ``step`` or the data length do not match the declared size.
    """
    if encoding not in ENCODINGS:
        raise ValueError(
            f'unsupported image encoding {encoding!r}, expected one of {sorted(ENCODINGS)}')
    if height < 1 or width < 1:
        raise ValueError(f'image must not be empty, got height={height} width={width}')
    if height * width > max_pixels:
        raise ValueError(
            f'image of {height}x{width} pixels exceeds max_pixels={max_pixels}')
    kind, channels = ENCODINGS[encoding]
    dtype = np.dtype(kind)
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ValueError(
            f'step {step} is shorter than a {encoding} row of {width} pixels '
            f'({row_bytes} bytes)')
    if data_size != step * height:
        raise ValueError(
            f'image data has {data_size} bytes, expected step * height = {step * height}')
    return dtype, channels, row_bytes


def decode_image(height, width, encoding, is_bigendian, step, data, max_pixels):
    """Decode raw ``sensor_msgs/Image`` fields into an array of the encoding's element type.

    Args:
        height: Number of rows.
        width: Number of columns.
        encoding: One of :data:`ENCODINGS`.
        is_bigendian: True when multi-byte values are stored most significant byte first.
        step: Bytes per row, padding included.
        data: Row-major bytes (any bytes-like object: bytes, array.array('B'), uint8 array).
        max_pixels: Largest accepted ``height * width``.

    Returns:
        np.ndarray: (H, W, C) array in native byte order, C = the encoding's channel count.

    Raises:
        ValueError: When the fields are inconsistent (see :func:`check_image_layout`) or
            ``data`` is not bytes-like.
    """
    try:
        raw = np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError) as error:
        raise ValueError(f'image data must be bytes-like, got {type(data).__name__}') from error
    dtype, channels, row_bytes = check_image_layout(
        height, width, encoding, step, raw.size, max_pixels)
    if is_bigendian:
        dtype = dtype.newbyteorder('>')
    rows = np.ascontiguousarray(raw.reshape(height, step)[:, :row_bytes])  # (H, row_bytes)
    pixels = rows.view(dtype).reshape(height, width, channels)  # (H, W, C)
    return pixels.astype(dtype.newbyteorder('='), copy=False)


def to_rgb8(pixels, encoding, config):
    """Turn a decoded image into 8-bit RGB with the scaling documented in the module.

    Args:
        pixels: (H, W, C) array from :func:`decode_image` (or cv_bridge).
        encoding: The encoding the array was decoded from.
        config: An :class:`ImageConversionConfig` (16-bit and float scaling).

    Returns:
        np.ndarray: uint8 (H, W, 3), R first.

    Raises:
        ValueError: On an unsupported encoding.
    """
    if encoding not in ENCODINGS:
        raise ValueError(
            f'unsupported image encoding {encoding!r}, expected one of {sorted(ENCODINGS)}')
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)  # (H, W, C)
    if encoding in ('rgb8', 'rgba8'):
        return np.ascontiguousarray(pixels[..., :3])
    if encoding in ('bgr8', 'bgra8'):
        return np.ascontiguousarray(pixels[..., 2::-1])
    if encoding == 'mono8':
        grey = pixels[..., 0]
    elif encoding == '32FC1':
        values = pixels[..., 0].astype(np.float64)
        scaled = (values - config.float_min) * (255.0 / (config.float_max - config.float_min))
        grey = np.where(np.isfinite(values), np.rint(np.clip(scaled, 0.0, 255.0)), 0.0)
    else:
        scaled = pixels[..., 0].astype(np.float64) * (255.0 / config.uint16_full_scale)
        grey = np.rint(np.minimum(scaled, 255.0))
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)  # (H, W, 3)


def crop_and_resize(rgb, height, width):
    """Centre-crop an image to the target aspect ratio, then resize it with INTER_AREA.

    Args:
        rgb: uint8 (H, W, 3) image.
        height: Target height (pixels).
        width: Target width (pixels).

    Returns:
        np.ndarray: uint8 (height, width, 3), C-contiguous.
    """
    in_height, in_width = rgb.shape[:2]
    if in_width * height > in_height * width:  # wider than the target: cut left and right
        crop_width = max(1, round(in_height * width / height))
        left = (in_width - crop_width) // 2
        rgb = rgb[:, left:left + crop_width]
    else:  # taller (or equal): cut top and bottom
        crop_height = max(1, round(in_width * height / width))
        top = (in_height - crop_height) // 2
        rgb = rgb[top:top + crop_height]
    if rgb.shape[:2] == (height, width):
        return np.ascontiguousarray(rgb)
    return cv2.resize(np.ascontiguousarray(rgb), (width, height), interpolation=cv2.INTER_AREA)


def image_fields_to_model_input(height, width, encoding, is_bigendian, step, data, config):
    """Decode, convert to RGB and resize raw image fields with the project's own decoder.

    Args:
        height: Number of rows.
        width: Number of columns.
        encoding: One of :data:`ENCODINGS`.
        is_bigendian: True when multi-byte values are stored most significant byte first.
        step: Bytes per row, padding included.
        data: Row-major bytes.
        config: An :class:`ImageConversionConfig`.

    Returns:
        np.ndarray: uint8 (output_height, output_width, 3) RGB.

    Raises:
        ValueError: When the fields do not describe a supported, consistent image.
    """
    pixels = decode_image(height, width, encoding, is_bigendian, step, data, config.max_pixels)
    rgb = to_rgb8(pixels, encoding, config)
    return crop_and_resize(rgb, config.output_height, config.output_width)


@functools.lru_cache(maxsize=1)
def ros_cv_bridge():
    """Return a ROS ``cv_bridge.CvBridge``, or None where ROS's cv_bridge is not installed.

    The ament index check keeps the PyPI ``cv-bridge`` port (same module name, broken with
    NumPy 2 and OpenCV 5) out: only a cv_bridge installed as a ROS package is used.

    Returns:
        cv_bridge.CvBridge | None: The bridge, or None.
    """
    try:
        from ament_index_python.packages import get_package_share_directory
        get_package_share_directory('cv_bridge')
        from cv_bridge import CvBridge
    except (ImportError, LookupError, OSError):
        return None
    return CvBridge()


def image_msg_to_model_input(msg, config):
    """Convert a ``sensor_msgs/Image`` to the model's RGB input, with cv_bridge when present.

    The message is checked by the project's decoder rules first in both cases, so a message
    that lies about its size is rejected the same way with or without cv_bridge.

    Args:
        msg: A ``sensor_msgs.msg.Image``.
        config: An :class:`ImageConversionConfig`.

    Returns:
        np.ndarray: uint8 (output_height, output_width, 3) RGB.

    Raises:
        ValueError: When the message does not describe a supported, consistent image.
    """
    bridge = ros_cv_bridge()
    if bridge is None:
        return image_fields_to_model_input(
            msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data, config)
    check_image_layout(
        msg.height, msg.width, msg.encoding, msg.step, len(msg.data), config.max_pixels)
    pixels = np.asarray(bridge.imgmsg_to_cv2(msg, desired_encoding='passthrough'))
    rgb = to_rgb8(pixels, msg.encoding, config)
    return crop_and_resize(rgb, config.output_height, config.output_width)
