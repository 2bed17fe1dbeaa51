"""The paper's in-RAM loader, kept for comparisons (benchmarks/bench_input.py and its tests).

The paper read every image with ``cv2.imread``, cropped it, appended it to a list and made one
NumPy array: 61,578 crops of 128x128x3 are 12.1 GB as float32, which crashed its authors'
kernels. The library streams crops with :func:`galaxy_lib.data.pipeline.make_dataset` instead;
this module keeps the paper's way only to measure it against the pipeline, which is why it lives
in ``benchmarks/`` and not in the library (issue 9: library code is product code). Only NumPy
is imported at the top, as in the paper's loop, so a process measuring :func:`paper_loop`
carries neither TensorFlow nor the library (peak RSS is the loop's own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from galaxy_lib.data.images import ImageSource

IMAGE_SIDE = 424  # Kaggle's frames (galaxy_lib.data.images.IMAGE_SIDE, not imported: see above)


def _crop_offset(crop: int) -> int:
    """Top/left pixel of the central ``crop`` of a 424x424 image (148 for the paper's 128)."""
    if not 1 <= crop <= IMAGE_SIDE:
        raise ValueError(f"crop {crop} must be between 1 and {IMAGE_SIDE}")
    return (IMAGE_SIDE - crop) // 2


def paper_loop(paths: list[str], crop: int, copy: bool = False) -> np.ndarray:
    """The paper's loader as written: ``cv2.imread``, central crop, append, ``np.array``. Written
    plainly the crop is a NumPy *view*, so every list entry keeps its whole 424x424 decode alive
    until ``np.array`` copies the crops out; ``copy=True`` (as :func:`load_in_ram` does) avoids that."""
    import cv2

    lo = _crop_offset(crop)
    crops = []
    for path in paths:
        image = cv2.imread(path)
        crop_view = image[lo : lo + crop, lo : lo + crop]
        crops.append(crop_view.copy() if copy else crop_view)
    return np.array(crops)


def estimate_in_ram_bytes(n_images: int, crop: int, dtype: str = "float32") -> int:
    """Bytes of one ``(n, crop, crop, 3)`` array: 61,578 crops of 128 are 12.1 GB as float32."""
    return int(n_images) * int(crop) * int(crop) * 3 * np.dtype(dtype).itemsize


def load_in_ram(
    images: ImageSource,
    ids: Any,
    crop: int = 128,
    max_gigabytes: float = 4.0,
    *,
    dtype: str = "uint8",
    progress: bool | None = None,
) -> np.ndarray:
    """The paper's loader on an image source (folder or zip): ``cv2.imread`` each image, central
    crop, append to a list, ``np.array``.

    Returns BGR crops as the paper's code had them (uint8 0-255; ``dtype='float32'`` divides by
    255 as its text says). Crops are copied, so the list does not keep whole images alive.
    At the end the list and the array coexist, so the peak is about twice the array; above
    ``max_gigabytes`` it refuses with a :class:`DataError` instead of exhausting the machine.
    """
    import cv2
    from tqdm import tqdm

    from galaxy_lib.errors import DataError

    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(ids) == 0:
        raise DataError(f"{images.location}: no galaxies to read (empty id list)")
    peak = 2 * estimate_in_ram_bytes(len(ids), crop, dtype)
    if peak > max_gigabytes * 1e9:
        raise DataError(
            f"loading {len(ids):,} crops of {crop}x{crop} into RAM as {dtype} needs about {peak / 1e9:.1f} GB "
            f"(list + array), above the limit of {max_gigabytes:g} GB; stream them with "
            "galaxy_lib.data.pipeline.make_dataset or raise max_gigabytes"
        )
    lo = _crop_offset(crop)
    show = len(ids) >= 1000 if progress is None else progress
    crops = []
    for gid in tqdm(ids, desc="loading images", disable=not show):
        path = images.file_path(int(gid))
        if path is not None:
            image = cv2.imread(path)
        else:
            image = cv2.imdecode(np.frombuffer(images.read_bytes(int(gid)), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"{images.describe(int(gid))}: cv2 could not read this image")
        crops.append(image[lo : lo + crop, lo : lo + crop].copy())
    array = np.array(crops)
    del crops
    if dtype != "uint8":
        array = array.astype(dtype)
        array /= 255
    return array
