"""Tests for gato_ros/nodes/image_conversion.py against hand-built image bytes."""

from gato_ros.nodes.image_conversion import (
    crop_and_resize, decode_image, image_fields_to_model_input, image_msg_to_model_input,
    ImageConversionConfig, to_rgb8)
import numpy as np
import pytest

# A 2 x 3 image with distinct colours; each test writes it in one encoding.
RGB = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                [[10, 20, 30], [40, 50, 60], [70, 80, 90]]], dtype=np.uint8)
CONFIG = ImageConversionConfig(output_height=2, output_width=3)


def pad_rows(rows, padding):
    """Append `padding` junk bytes to every row of a (H, row_bytes) uint8 array."""
    junk = np.full((rows.shape[0], padding), 0xAB, dtype=np.uint8)
    return np.concatenate([rows, junk], axis=1)


def encode(pixels, padding=0):
    """Row-major bytes and step of an (H, W, C) array, with row padding."""
    rows = np.ascontiguousarray(pixels).view(np.uint8).reshape(pixels.shape[0], -1)
    padded = pad_rows(rows, padding)
    return padded.tobytes(), padded.shape[1]


@pytest.mark.parametrize('padding', [0, 3])
@pytest.mark.parametrize('encoding, pixels', [
    ('rgb8', RGB),
    ('bgr8', RGB[..., ::-1]),
    ('rgba8', np.concatenate([RGB, np.full((2, 3, 1), 7, np.uint8)], axis=2)),
    ('bgra8', np.concatenate([RGB[..., ::-1], np.full((2, 3, 1), 7, np.uint8)], axis=2)),
])
def test_colour_encodings_give_rgb(encoding, pixels, padding):
    """Colour encodings give rgb."""
    data, step = encode(pixels, padding)
    out = image_fields_to_model_input(2, 3, encoding, False, step, data, CONFIG)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize('padding', [0, 1])
def test_mono8_is_copied_to_three_channels(padding):
    """Mono8 is copied to three channels."""
    grey = np.array([[0, 1, 2], [100, 200, 255]], dtype=np.uint8)
    data, step = encode(grey[..., None], padding)
    out = image_fields_to_model_input(2, 3, 'mono8', False, step, data, CONFIG)
    np.testing.assert_array_equal(out, np.stack([grey] * 3, axis=2))


@pytest.mark.parametrize('encoding', ['mono16', '16UC1'])
@pytest.mark.parametrize('is_bigendian', [False, True])
@pytest.mark.parametrize('padding', [0, 2])
def test_16bit_encodings_scale_to_full_range(encoding, is_bigendian, padding):
    """16bit encodings scale to full range."""
    values = np.array([[0, 257, 1000], [32768, 65535, 514]], dtype=np.uint16)
    stored = values.astype('>u2' if is_bigendian else '<u2')
    data, step = encode(stored[..., None], padding)
    out = image_fields_to_model_input(2, 3, encoding, is_bigendian, step, data, CONFIG)
    # round(v * 255 / 65535) written out by hand: 1000 -> 3.89 -> 4, 32768 -> 127.5 -> 128.
    expected = np.array([[0, 1, 4], [128, 255, 2]], dtype=np.uint8)
    np.testing.assert_array_equal(out[..., 0], expected)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_16bit_big_endian_byte_order_is_honoured():
    """16bit big endian byte order is honoured."""
    # 0x0100 = 256 big-endian; read little-endian it would be 1.
    data = bytes([0x01, 0x00])
    pixels = decode_image(1, 1, '16UC1', True, 2, data, 10)
    assert pixels.item() == 256
    assert decode_image(1, 1, '16UC1', False, 2, data, 10).item() == 1


def test_16bit_full_scale_saturates():
    """16bit full scale saturates."""
    config = ImageConversionConfig(output_height=1, output_width=2, uint16_full_scale=1000)
    data = np.array([500, 4000], dtype='<u2').tobytes()
    out = image_fields_to_model_input(1, 2, '16UC1', False, 4, data, config)
    np.testing.assert_array_equal(out[0, :, 1], [128, 255])


@pytest.mark.parametrize('is_bigendian', [False, True])
@pytest.mark.parametrize('padding', [0, 4])
def test_32fc1_maps_range_and_zeroes_invalid_depth(is_bigendian, padding):
    """32fc1 maps range and zeroes invalid depth."""
    config = ImageConversionConfig(output_height=2, output_width=3, float_min=1.0, float_max=3.0)
    values = np.array([[1.0, 2.0, 3.0], [0.0, np.nan, 9.0]], dtype=np.float32)
    stored = values.astype('>f4' if is_bigendian else '<f4')
    data, step = encode(stored[..., None], padding)
    out = image_fields_to_model_input(2, 3, '32FC1', is_bigendian, step, data, config)
    np.testing.assert_array_equal(out[..., 1], [[0, 128, 255], [0, 0, 255]])


def test_32fc1_infinity_is_zero():
    """32fc1 infinity is zero."""
    data = np.array([np.inf, -np.inf], dtype='<f4').tobytes()
    pixels = decode_image(1, 2, '32FC1', False, 8, data, 10)
    np.testing.assert_array_equal(to_rgb8(pixels, '32FC1', CONFIG), np.zeros((1, 2, 3)))


def test_padding_bytes_never_reach_the_output():
    """Padding bytes never reach the output."""
    data, step = encode(RGB, padding=5)
    pixels = decode_image(2, 3, 'rgb8', False, step, data, 100)
    assert 0xAB not in pixels


@pytest.mark.parametrize('fields, message', [
    ((2, 3, 'yuv422', False, 9, bytes(18)), 'unsupported image encoding'),
    ((0, 3, 'rgb8', False, 9, b''), 'must not be empty'),
    ((2, 0, 'rgb8', False, 0, b''), 'must not be empty'),
    ((2, 3, 'rgb8', False, 8, bytes(16)), 'step 8 is shorter'),
    ((2, 3, 'rgb8', False, 9, bytes(17)), 'has 17 bytes, expected'),
    ((2, 3, 'mono16', False, 6, bytes(18)), 'has 18 bytes, expected'),
    ((2, 3, '32FC1', False, 9, bytes(18)), 'step 9 is shorter'),
    ((2, 3, 'rgb8', False, 9, [0] * 18), 'bytes-like'),
])
def test_inconsistent_fields_are_rejected(fields, message):
    """Inconsistent fields are rejected."""
    with pytest.raises(ValueError, match=message):
        decode_image(*fields, max_pixels=100)


def test_oversized_image_is_rejected_before_reading_data():
    """Oversized image is rejected before reading data."""
    with pytest.raises(ValueError, match='exceeds max_pixels=5'):
        decode_image(2, 3, 'mono8', False, 3, bytes(6), max_pixels=5)


def test_crop_and_resize_centre_crops_wide_images():
    """Crop and resize centre crops wide images."""
    wide = np.zeros((4, 8, 3), np.uint8)
    wide[:, 2:6] = 200  # the centre square
    out = crop_and_resize(wide, 2, 2)
    np.testing.assert_array_equal(out, np.full((2, 2, 3), 200))


def test_crop_and_resize_centre_crops_tall_images_and_averages_area():
    """Crop and resize centre crops tall images and averages area."""
    tall = np.zeros((8, 2, 3), np.uint8)
    tall[3:5] = 100  # rows 3, 4 are the centre; crop keeps rows 3..4 and area-averages them
    tall[3] = 50
    out = crop_and_resize(tall, 1, 1)
    np.testing.assert_array_equal(out, np.full((1, 1, 3), 75))


def test_crop_and_resize_keeps_matching_size_untouched():
    """Crop and resize keeps matching size untouched."""
    np.testing.assert_array_equal(crop_and_resize(RGB, 2, 3), RGB)


def test_model_input_has_configured_size():
    """Model input has configured size."""
    config = ImageConversionConfig(output_height=16, output_width=16)
    data, step = encode(np.zeros((48, 64, 3), np.uint8))
    assert image_fields_to_model_input(48, 64, 'rgb8', False, step, data, config).shape == (
        16, 16, 3)


def test_image_message_is_converted():
    """Image message is converted."""
    from sensor_msgs.msg import Image
    msg = Image(height=2, width=3, encoding='bgr8', is_bigendian=False, step=12)
    msg.data, _ = encode(RGB[..., ::-1], padding=3)
    np.testing.assert_array_equal(image_msg_to_model_input(msg, CONFIG), RGB)


@pytest.mark.parametrize('kwargs', [
    {'output_height': 0}, {'max_pixels': 0}, {'uint16_full_scale': 0},
    {'float_min': 2.0, 'float_max': 1.0}, {'float_max': float('nan')},
])
def test_bad_config_is_rejected(kwargs):
    """Bad config is rejected."""
    with pytest.raises(ValueError):
        ImageConversionConfig(**kwargs)
