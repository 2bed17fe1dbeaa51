"""Central crops decoded with OpenCV: one function behind the galleries, figures and baselines,
cutting the same window as the tf.data decoder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from galaxy_lib.data import images
from galaxy_lib.errors import DataError
from galaxy_lib.evaluation import gallery


def _png(bgr: np.ndarray) -> bytes:
    return cv2.imencode(".png", bgr)[1].tobytes()  # lossless: pixel values survive exactly


def test_crop_offset_is_the_papers_window_and_checks_the_crop():
    assert images.crop_offset(128) == 148 and images.crop_offset(207) == 108 and images.crop_offset(10) == 207
    assert images.crop_offset(3, side=8) == 2
    with pytest.raises(ValueError, match="crop 0"):
        images.crop_offset(0)


def test_decode_centre_is_the_central_window_in_rgb():
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (424, 424, 3), dtype=np.uint8)
    centre = images.decode_centre(_png(bgr), 128)
    assert centre.shape == (128, 128, 3) and centre.dtype == np.uint8
    assert np.array_equal(centre, bgr[148:276, 148:276, ::-1])


def test_decode_centre_of_a_small_or_oblong_image_is_the_largest_central_square():
    bgr = np.arange(100 * 60 * 3, dtype=np.uint32).reshape(100, 60, 3).astype(np.uint8)
    centre = images.decode_centre(_png(bgr), 212)
    assert np.array_equal(centre, bgr[20:80, :, ::-1])


def test_undecodable_bytes_are_a_data_error_naming_the_galaxy():
    class Source:
        def read_bytes(self, galaxy_id: int) -> bytes:
            return b"not an image" if galaxy_id == 7 else b""

        def describe(self, galaxy_id: int) -> str:
            return f"images/{galaxy_id}.jpg"

    with pytest.raises(DataError, match=r"^images/7\.jpg: not a decodable image"):
        images.read_centre(Source(), 7, 64)
    with pytest.raises(DataError, match=r"^images/8\.jpg: not a decodable image"):
        images.read_centre(Source(), 8, 64)  # empty bytes: OpenCV raises instead of returning None
    assert gallery.centre_or_none(Source(), 7, 64) is None  # a gallery leaves that panel blank
