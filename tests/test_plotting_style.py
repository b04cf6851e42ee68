"""The shared figure helpers of drlib.plotting.style: legend handles that stay visible, a scale
bar in image pixels, picture axes that keep their labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from drlib.plotting import add_scale_bar, image_axes, line_handle  # noqa: E402
from drlib.plotting.style import relative_luminance  # noqa: E402


def test_relative_luminance_is_the_wcag_value() -> None:
    assert relative_luminance("white") == pytest.approx(1.0)
    assert relative_luminance("black") == pytest.approx(0.0)
    assert relative_luminance("#808080") == pytest.approx(0.2158605, abs=1e-6)
    assert relative_luminance((0.8, 0.8, 0.8)) == pytest.approx(0.6038273, abs=1e-6)


def test_light_line_colours_get_a_dark_edge_in_the_legend() -> None:
    # white (cotton wool spots, the optic disc) and pale grey (laser scars) vanish on white
    for colour in ("white", (0.8, 0.8, 0.8), "yellow"):
        handle = line_handle(colour, "light")
        assert len(handle.get_path_effects()) == 2, colour
    for colour in ("#0072B2", (1.0, 0.0, 1.0)):
        assert line_handle(colour, "dark").get_path_effects() == [], colour
    handle = line_handle("white", "optic disc mask", linewidth=3.0)
    assert handle.get_label() == "optic disc mask"
    assert handle.get_linewidth() == 3.0


def test_scale_bar_is_length_pixels_long_with_its_label() -> None:
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((100, 100, 3), np.uint8))
    add_scale_bar(ax, 62.5, "1 DD = 1.8 mm")
    bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    assert len(bars) == 1
    rectangle = bars[0].size_bar.get_children()[0]
    assert rectangle.get_width() == 62.5
    assert bars[0].txt_label.get_text() == "1 DD = 1.8 mm"
    with pytest.raises(ValueError, match="must be positive"):
        add_scale_bar(ax, 0, "nothing")
    plt.close(fig)


def test_image_axes_hide_ticks_and_spines_but_keep_labels() -> None:
    fig, ax = plt.subplots()
    ax.set_ylabel("photograph")
    image_axes(ax)
    assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    assert not any(spine.get_visible() for spine in ax.spines.values())
    assert ax.yaxis.label.get_visible() and ax.get_ylabel() == "photograph"
    assert ax.axison
    plt.close(fig)
