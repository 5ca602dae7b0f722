"""Exact Moran's I and Geary's C of an ROI, computed over all voxel pairs by FFT correlation."""

from __future__ import annotations

import numpy as np
from scipy import fft


def spatial_autocorrelation(
    image: np.ndarray, roi: np.ndarray, spacing: tuple[float, ...]
) -> tuple[float, float]:
    """Return Moran's I (IBSI N365) and Geary's C (IBSI NPT7) of the voxels in `roi`.

    Parameters
    ----------
    image, roi
        Arrays on the same grid; `roi` is boolean.
    spacing
        Voxel spacing in mm along the array axes, in array order.

    Returns
    -------
    tuple[float, float]
        Moran's I and Geary's C with weights 1/distance over every pair of distinct voxels.

    Notes
    -----
    The weight of a pair depends only on the offset between its voxels, so each sum over
    pairs is a sum over offsets of weight x correlation, and the correlations come from
    FFTs of the bounding box padded to twice its size. The result equals the brute-force
    sum over all n(n-1)/2 pairs to floating-point precision, in O(N log N) for a box of N
    voxels instead of O(n^2): seconds rather than minutes for an ROI of 100,000 voxels.
    """
    box = tuple(slice(axis.min(), axis.max() + 1) for axis in np.nonzero(roi))
    inside = roi[box].astype(np.float64)
    values = image[box].astype(np.float64)
    n = inside.sum()

    deviation = (values - values[roi[box]].mean()) * inside
    sum_of_squares = float((deviation**2).sum())
    if n < 2 or sum_of_squares == 0.0:
        # One intensity only: perfect spatial correlation, as MIRP reports it.
        return 1.0, 1.0

    # Padding to 2s - 1 per axis keeps the circular correlation free of wrap-around:
    padded = [fft.next_fast_len(2 * size - 1, real=True) for size in inside.shape]
    spectrum_inside = fft.rfftn(inside, padded)
    spectrum_deviation = fft.rfftn(deviation, padded)

    def correlate(spectrum_a: np.ndarray, spectrum_b: np.ndarray) -> np.ndarray:
        return fft.irfftn(spectrum_a * np.conj(spectrum_b), padded)

    pairs = correlate(spectrum_inside, spectrum_inside)
    products = correlate(spectrum_deviation, spectrum_deviation)
    squares = correlate(fft.rfftn(deviation**2, padded), spectrum_inside)

    weights = _inverse_distance_weights(inside.shape, padded, spacing)
    weight_sum = float((weights * pairs).sum())
    product_sum = float((weights * products).sum())
    squared_difference_sum = 2.0 * (float((weights * squares).sum()) - product_sum)

    moran_i = n * product_sum / (weight_sum * sum_of_squares)
    geary_c = (n - 1.0) * squared_difference_sum / (2.0 * weight_sum * sum_of_squares)
    return float(moran_i), float(geary_c)


def _inverse_distance_weights(
    shape: tuple[int, ...], padded: list[int], spacing: tuple[float, ...]
) -> np.ndarray:
    # Index k of a padded axis holds offset k, or k - size past the middle (FFT order):
    offsets_mm = []
    for size, length, step in zip(shape, padded, spacing, strict=True):
        index = np.arange(length)
        offsets_mm.append(np.where(index < size, index, index - length) * step)

    grids = np.meshgrid(*offsets_mm, indexing="ij", sparse=True)
    distance = np.sqrt(sum(grid**2 for grid in grids))
    with np.errstate(divide="ignore"):
        return np.where(distance > 0, 1.0 / distance, 0.0)
