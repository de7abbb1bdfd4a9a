import numpy as np
import pytest

from compute import DataSpec, toy_data
from compute.data import (
    BOUNDARY,
    BOUNDARY_TEXT,
    CLASS_SCORE_SOURCE,
    CLASS_SCORE_TEXT,
    TRUE_CURVE_SOURCE,
    TRUE_CURVE_TEXT,
    class_score,
    true_curve,
)


def classic_script(n: int, noise: float, seed: int):
    """The data exactly as the classic experiment draws it, through numpy's global state."""
    np.random.seed(seed)
    x = np.array(np.random.randn(n), dtype=np.float32)
    y = np.array(0.75 * x**2 + 1.0 * x + 2.0 + noise * np.random.randn(n), dtype=np.float32)
    return x, y


@pytest.mark.parametrize(("n", "noise", "seed"), [(50, 0.3, 20240215), (7, 0.0, 0), (300, 2.5, 12345)])
def test_toy_data_is_bit_for_bit_the_classic_script(n, noise, seed):
    state = np.random.get_state()
    try:
        expected = classic_script(n, noise, seed)
    finally:
        np.random.set_state(state)
    x, y = toy_data(DataSpec(n, noise, seed))
    assert x.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_array_equal(x, expected[0])
    np.testing.assert_array_equal(y, expected[1])


def test_toy_data_leaves_numpy_global_state_alone():
    before = np.random.get_state()[1].copy()
    toy_data(DataSpec())
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_classification_labels_come_from_the_same_stream():
    x, labels = toy_data(DataSpec(), "classification")
    np.random.seed(20240215)
    expected_x = np.array(np.random.randn(50), dtype=np.float32)
    expected = np.array(expected_x + 0.5 + 0.3 * np.random.randn(50) > 0, dtype=np.float32)
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(labels, expected)
    assert set(labels.tolist()) == {0.0, 1.0}


def test_the_true_curve_is_written_once_and_read_alike():
    """``true_curve`` against the formula typed here; its text forms (the page's, the script's source) say
    the same curve, and the class boundary is where the noise-free score is 0."""
    x = np.linspace(-3, 3, 13, dtype=np.float32)
    np.testing.assert_array_equal(true_curve(x), 0.75 * x**2 + 1.0 * x + 2.0)
    assert true_curve(x).dtype == np.float32
    np.testing.assert_array_equal(eval(TRUE_CURVE_SOURCE, {"x": x}), true_curve(x))
    assert TRUE_CURVE_TEXT == "0.75x² + x + 2"
    np.testing.assert_array_equal(eval(CLASS_SCORE_SOURCE, {"x": x}), x + 0.5)
    assert CLASS_SCORE_TEXT == "x + 0.5" and BOUNDARY_TEXT == "x = −0.5" and class_score(BOUNDARY) == 0
