"""Explanation maps over photographs (drlib.plotting.overlays): pixel values of the blend and the
layout of the chapter figures."""

from __future__ import annotations

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from drlib import plotting  # noqa: E402
from drlib.plotting import overlays  # noqa: E402

GREEN = np.array(mcolors.to_rgb("#00a000"))
RED = np.array(mcolors.to_rgb("#e00000"))

# a 2 x 2 photograph: red, blue / white, black
IMAGE = np.array([[[255, 0, 0], [0, 0, 255]], [[255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
PHOTO = IMAGE / 255.0
HEAT = np.array([[0.0, 4.0], [4.0, 0.0]])  # min 0 -> green, max 4 -> red


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_public_names_are_exported() -> None:
    for name in ("PAPER_CMAP", "PERCEPTUAL_CMAP", "overlay_map", "plot_grade_columns",
                 "plot_map_pair"):
        assert getattr(plotting, name) is getattr(overlays, name)
        assert name in plotting.__all__


def test_paper_cmap_runs_green_yellow_red() -> None:
    cmap = plotting.PAPER_CMAP
    assert isinstance(cmap, mcolors.LinearSegmentedColormap)
    assert cmap.name == "paper_red_green"
    np.testing.assert_allclose(cmap(0.0)[:3], GREEN)
    np.testing.assert_allclose(cmap(1.0)[:3], RED)
    r, g, b = cmap(0.5)[:3]
    assert r > 0.95 and g > 0.95 and b < 0.05  # yellow in the middle
    assert plotting.PERCEPTUAL_CMAP == "viridis"


def test_overlay_alpha_zero_one_and_half() -> None:
    out0 = plotting.overlay_map(IMAGE, HEAT, alpha=0.0)
    assert out0.shape == (2, 2, 3) and out0.dtype == np.float64
    np.testing.assert_array_equal(out0, PHOTO)
    colour = np.array([[GREEN, RED], [RED, GREEN]])
    np.testing.assert_allclose(plotting.overlay_map(IMAGE, HEAT, alpha=1.0), colour, atol=1e-12)
    half = plotting.overlay_map(IMAGE, HEAT, alpha=0.5)
    np.testing.assert_allclose(half, 0.5 * PHOTO + 0.5 * colour, atol=1e-12)
    np.testing.assert_allclose(half[0, 0], [0.5, 0.5 * 0xA0 / 255, 0.0], atol=1e-12)
    # float images in [0, 255] are the same photograph
    np.testing.assert_allclose(
        plotting.overlay_map(IMAGE.astype(np.float32), HEAT, alpha=0.5), half, atol=1e-7
    )
    # the middle of the range takes the colour map's middle
    mid = plotting.overlay_map(IMAGE, np.array([[0.0, 2.0], [4.0, 0.0]]), alpha=1.0)
    np.testing.assert_allclose(mid[0, 1], plotting.PAPER_CMAP(0.5)[:3], atol=1e-12)


def test_overlay_mask_leaves_the_photograph_and_sets_the_range() -> None:
    heat = np.array([[0.0, 100.0], [2.0, -50.0]])
    mask = np.array([[True, False], [True, False]])
    out = plotting.overlay_map(IMAGE, heat, alpha=0.5, mask=mask)
    np.testing.assert_array_equal(out[:, 1], PHOTO[:, 1])  # outside the mask: unblended
    # range from inside the mask only: 0 -> green, 2 -> red (100 and -50 do not count)
    np.testing.assert_allclose(out[0, 0], 0.5 * PHOTO[0, 0] + 0.5 * GREEN, atol=1e-12)
    np.testing.assert_allclose(out[1, 0], 0.5 * PHOTO[1, 0] + 0.5 * RED, atol=1e-12)


def test_overlay_vmin_vmax_clip_and_other_cmaps() -> None:
    out = plotting.overlay_map(IMAGE, HEAT, alpha=1.0, vmin=-4.0, vmax=2.0)
    # 0 -> (0 + 4) / 6 of the range; 4 -> beyond vmax, clipped to the top
    np.testing.assert_allclose(out[0, 0], plotting.PAPER_CMAP(4 / 6)[:3], atol=1e-12)
    np.testing.assert_allclose(out[0, 1], RED, atol=1e-12)
    viridis = plotting.overlay_map(IMAGE, HEAT, cmap="viridis", alpha=1.0)
    np.testing.assert_allclose(viridis[0, 0], mpl.colormaps["viridis"](0.0)[:3], atol=1e-12)
    # a constant map is coloured as the low end
    flat = plotting.overlay_map(IMAGE, np.full((2, 2), 3.0), alpha=1.0)
    np.testing.assert_allclose(flat, np.broadcast_to(GREEN, (2, 2, 3)), atol=1e-12)


def test_overlay_shape_errors_name_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"heat shape \(4, 4\), image shape \(2, 2, 3\)"):
        plotting.overlay_map(IMAGE, np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, 3\), got shape \(2, 2\)"):
        plotting.overlay_map(np.zeros((2, 2)), HEAT)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 2\).*got shape \(3, 3\)"):
        plotting.overlay_map(IMAGE, HEAT, mask=np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="alpha"):
        plotting.overlay_map(IMAGE, HEAT, alpha=1.5)


def _columns() -> list[dict]:
    rng = np.random.default_rng(0)
    columns = []
    for grade in range(3):
        image = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
        column = {"title": f"grade {grade}", "image": image,
                  "cam": rng.random((6, 5)), "saliency": rng.normal(size=(6, 5))}
        if grade == 1:
            column["mask"] = rng.random((6, 5)) < 0.5
        columns.append(column)
    return columns


def test_plot_grade_columns_layout_and_pixels() -> None:
    columns = _columns()
    fig = plotting.plot_grade_columns(columns, row_titles=("photo", "CAM", "saliency map"))
    axes = np.array(fig.axes).reshape(3, 3)
    assert len(fig.axes) == 9
    assert [ax.get_title() for ax in axes[0]] == ["grade 0", "grade 1", "grade 2"]
    assert all(ax.get_title() == "" for ax in axes[1:].ravel())
    assert [[t.get_text() for t in ax.texts] for ax in axes[:, 0]] == [
        ["photo"], ["CAM"], ["saliency map"]
    ]
    assert not any(ax.axison for ax in fig.axes)
    for j, column in enumerate(columns):
        np.testing.assert_array_equal(axes[0, j].images[0].get_array(), column["image"] / 255.0)
        for i, key in ((1, "cam"), (2, "saliency")):
            expected = plotting.overlay_map(column["image"], column[key], mask=column.get("mask"))
            np.testing.assert_array_equal(axes[i, j].images[0].get_array(), expected)
    fig.canvas.draw()  # renders


def test_plot_grade_columns_defaults_colorbar_and_errors() -> None:
    columns = _columns()[:2]
    fig = plotting.plot_grade_columns(columns, rows=("image", "cam"), cmap="viridis", alpha=0.3)
    assert len(fig.axes) == 4
    assert [fig.axes[i].texts[0].get_text() for i in (0, 2)] == ["image", "cam"]
    np.testing.assert_array_equal(
        fig.axes[3].images[0].get_array(),
        plotting.overlay_map(columns[1]["image"], columns[1]["cam"], cmap="viridis", alpha=0.3,
                             mask=columns[1]["mask"]),
    )
    assert tuple(fig.get_size_inches()) == pytest.approx((4.0, 4.0))
    with_bar = plotting.plot_grade_columns(columns, colorbar=True)
    assert len(with_bar.axes) == 3 * 2 + 1
    del columns[0]["saliency"]
    with pytest.raises(ValueError, match=r"columns\[0\] lacks the keys \['saliency'\]"):
        plotting.plot_grade_columns(columns)
    with pytest.raises(ValueError, match="2 row_titles for 3 rows"):
        plotting.plot_grade_columns(_columns(), row_titles=("a", "b"))
    columns = _columns()
    columns[2]["cam"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"heat shape \(3, 3\), image shape \(6, 5, 3\)"):
        plotting.plot_grade_columns(columns)


def test_plot_map_pair() -> None:
    column = _columns()[1]
    maps = {"Grad-CAM": column["cam"], "saliency": column["saliency"]}
    fig = plotting.plot_map_pair(column["image"], maps, mask=column["mask"])
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["image", "Grad-CAM", "saliency"]
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), column["image"] / 255.0)
    for ax, heat in zip(fig.axes[1:], maps.values(), strict=True):
        expected = plotting.overlay_map(column["image"], heat, cmap="viridis",
                                        mask=column["mask"])
        np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert len(plotting.plot_map_pair(column["image"], maps, colorbar=True).axes) == 4
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_map_pair(column["image"], {})


def test_rendered_pixels_are_the_overlay() -> None:
    """Drawn on the canvas, the centre of each image cell shows overlay_map's colour."""
    fig = plotting.plot_map_pair(IMAGE, {"heat": HEAT}, cmap=plotting.PAPER_CMAP, alpha=0.5)
    fig.canvas.draw()
    canvas = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0
    height = canvas.shape[0]
    expected = {0: PHOTO, 1: plotting.overlay_map(IMAGE, HEAT, alpha=0.5)}
    for k, ax in enumerate(fig.axes):
        box = ax.get_window_extent()
        for row in range(2):
            for col in range(2):
                x = box.x0 + (col + 0.5) * box.width / 2
                y = box.y1 - (row + 0.5) * box.height / 2  # display y runs upwards
                pixel = canvas[int(height - y), int(x)]
                np.testing.assert_allclose(pixel, expected[k][row, col], atol=1.5 / 255)
