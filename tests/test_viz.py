"""Pictures: the plot functions, the confusion matrix and `tfconv viz` on a tiny trained run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

import tfconv
from tfconv import cli, models, train, viz
from tfconv.cli import viz as viz_command

FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


pytestmark = pytest.mark.usefixtures("real_data")


@pytest.fixture(scope="module")
def run_dir(data_root, tmp_path_factory) -> Path:
    """A run folder of one quick epoch (1024 training and 512 test images)."""
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFCONV_DATA_DIR", str(data_root))
        config = train.TrainConfig(
            epochs=1, limit_train=1024, limit_test=512, batch_size=128, verbose=0
        )
        train.train(config, out=out, print_fn=lambda _: None)
    return out


@pytest.fixture(scope="module")
def all_pictures(run_dir, data_root, tmp_path_factory) -> tuple[Path, int]:
    """`tfconv viz RUN_DIR --what all --out DIR`, run once: (DIR, exit status)."""
    out = tmp_path_factory.mktemp("viz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFCONV_DATA_DIR", str(data_root))
        status = cli.main(["viz", str(run_dir), "--what", "all", "--out", str(out)])
    return out, status


def _check_png(path: Path, min_side: int = 200) -> None:
    """A readable PNG of plausible size that is not a blank canvas."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert height > min_side and width > min_side, (path.name, pixels.shape)
    gray = pixels[..., :3].mean(axis=-1)
    assert gray.var() > 1e-3, f"{path.name} looks blank"
    assert (gray < 0.5).mean() > 0.005, f"{path.name} has almost no dark pixels"


def _lenet_images(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28, 1), dtype=np.float32), np.arange(n) % 10


# --------------------------------------------------------------------------
# Confusion matrix
# --------------------------------------------------------------------------


class TestConfusionMatrix:
    def test_matches_a_loop(self):
        rng = np.random.default_rng(0)
        y_true = rng.integers(0, 7, size=500)
        y_pred = rng.integers(0, 7, size=500)
        expected = np.zeros((9, 9), dtype=np.int64)
        for t, p in zip(y_true, y_pred, strict=True):
            expected[t, p] += 1
        cm = viz.confusion_matrix(y_true, y_pred, num_classes=9)
        np.testing.assert_array_equal(cm, expected)
        assert cm.sum() == 500
        np.testing.assert_array_equal(viz.confusion_matrix(y_true, y_pred), expected[:7, :7])

    def test_small_example(self):
        cm = viz.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2])
        np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 0, 1], [0, 0, 2]])

    @pytest.mark.parametrize(
        "y_true, y_pred, num_classes",
        [([0, 1], [0], 2), ([0, 3], [0, 1], 3), ([0, -1], [0, 1], 2), ([0.5, 1], [0, 1], 2)],
    )
    def test_rejects_bad_labels(self, y_true, y_pred, num_classes):
        with pytest.raises(ValueError):
            viz.confusion_matrix(y_true, y_pred, num_classes)

    def test_most_confused_pair(self):
        cm = np.diag([50] * 4)
        cm[1, 3], cm[3, 1], cm[0, 2] = 4, 3, 6
        assert viz.most_confused_pair(cm) == (1, 3)
        assert viz.most_confused_pair(cm, exclude=[(3, 1)]) == (0, 2)

    def test_default_groups_are_the_books_pair_and_another(self):
        cm = np.diag([50] * 10)
        cm[2, 4] = 30  # pullover taken for coat: the book's pair is also the worst
        cm[0, 6] = 20
        assert viz.default_class_groups(cm, FASHION) == [(2, 4), (0, 6)]
        digits = [str(d) for d in range(10)]
        assert viz.default_class_groups(cm, digits) == [(2, 4)]


def test_parse_classes():
    assert viz.parse_classes("pullover,Coat", FASHION) == [2, 4]
    assert viz.parse_classes("t-shirt, 6 ,ankle boot", FASHION) == [0, 6, 9]
    with pytest.raises(ValueError, match="Unknown class 'hat'"):
        viz.parse_classes("coat,hat", FASHION)
    with pytest.raises(ValueError, match="two different"):
        viz.parse_classes("coat,4", FASHION)


# --------------------------------------------------------------------------
# Model pictures, both layer back ends
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layers", ["tfconv", "keras"])
def test_conv_blocks_and_feature_maps(layers):
    model = models.build("lenet", layers=layers)
    blocks = viz.conv_blocks(model)
    assert [(b.conv.name, b.activated.name, b.pool.name) for b in blocks] == [
        ("conv1", "conv1", "pool1"),
        ("conv2", "conv2", "pool2"),
    ]
    extractor, labels = viz.feature_extractor(model)
    assert labels == ["conv1 + sigmoid", "pool1", "conv2 + sigmoid", "pool2"]
    x, _ = _lenet_images(3)
    maps = [np.asarray(m) for m in extractor(x)]
    assert [m.shape for m in maps] == [
        (3, 28, 28, 6),
        (3, 14, 14, 6),
        (3, 10, 10, 16),
        (3, 5, 5, 16),
    ]
    # The pooled map is the 2x2 average of the activated one.
    pooled = maps[0].reshape(3, 14, 2, 14, 2, 6).mean(axis=(2, 4))
    np.testing.assert_allclose(maps[1], pooled, atol=1e-6)
    assert maps[0].min() > 0 and maps[0].max() < 1  # after the sigmoid


def test_batch_norm_blocks_use_the_activation_layer():
    model = models.build("lenet_modern", layers="keras")
    blocks = viz.conv_blocks(model)
    assert [(b.conv.name, b.activated.name, b.pool.name) for b in blocks] == [
        (f"conv{i}", f"act{i}", f"pool{i}") for i in (1, 2, 3)
    ]


@pytest.mark.parametrize("layers", ["tfconv", "keras"])
def test_plot_kernels_uses_a_symmetric_diverging_scale(layers, tmp_path):
    model = models.build("lenet", layers=layers)
    fig = viz.plot_kernels(model)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 6
    vmax = float(np.abs(np.asarray(model.get_layer("conv1").kernel)).max())
    for image in images:
        assert image.get_clim() == pytest.approx((-vmax, vmax))
        assert image.get_cmap().name == "RdBu_r"
    np.testing.assert_allclose(
        images[3].get_array(), np.asarray(model.get_layer("conv1").kernel)[:, :, 0, 3]
    )
    viz.save_figure(fig, tmp_path / "kernels.png")
    _check_png(tmp_path / "kernels.png")


def test_plot_kernels_of_a_multi_channel_layer():
    model = models.build("lenet")
    fig = viz.plot_kernels(model, block=1)
    titled = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titled) == 6 * 8  # 6 input channels x the first 8 of 16 outputs
    assert titled[:2] == ["out 0 / in 0", "out 1 / in 0"]
    assert "48 shown" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="block"):
        viz.plot_kernels(model, block=2)


@pytest.mark.parametrize("variant, layers", [("lenet", "tfconv"), ("lenet_bn", "keras")])
def test_plot_features_and_activations(variant, layers, tmp_path):
    model = models.build(variant, layers=layers)
    x, y = _lenet_images()
    fig = viz.plot_features(model, x[0, :, :, 0], max_channels=8)
    viz.save_figure(fig, tmp_path / "features.png")
    _check_png(tmp_path / "features.png")
    fig = viz.plot_activations(model, x, y, [2, 4, 6], FASHION)
    viz.save_figure(fig, tmp_path / "activations.png")
    _check_png(tmp_path / "activations.png")
    with pytest.raises(ValueError, match="No image of class 3"):
        viz.class_activations(model, x, np.zeros(len(x)), [3])


def test_class_activations_are_means_of_the_feature_maps():
    model = models.build("lenet")
    x, y = _lenet_images()
    means = viz.class_activations(model, x, y, [1])
    extractor, _ = viz.feature_extractor(model)
    maps = extractor(x[y == 1])
    np.testing.assert_allclose(means[1][0], np.asarray(maps[0]).mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(means[1][1], np.asarray(maps[2]).mean(axis=0), atol=1e-6)


def test_plot_confusion_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((60, 28, 28), dtype=np.float32)
    y_true = np.arange(60) % 10
    y_pred = np.where(np.arange(60) % 4 == 0, (y_true + 1) % 10, y_true)
    fig = viz.plot_confusion(y_true, y_pred, FASHION)
    assert "accuracy 0.750" in fig.axes[0].get_title()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(FASHION)
    viz.save_figure(fig, tmp_path / "confusion.png")
    _check_png(tmp_path / "confusion.png")
    fig = viz.plot_errors(x, y_true, y_pred, FASHION)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 15
    assert titles[0] == f"true: {FASHION[0]}\npred: {FASHION[1]}"
    viz.save_figure(fig, tmp_path / "errors.png")
    _check_png(tmp_path / "errors.png")
    no_errors = viz.plot_errors(x, y_true, y_true, FASHION)
    assert "0 shown of 0 errors" in no_errors._suptitle.get_text()


def test_plot_curves_draws_the_history():
    history = [
        {"epoch": 1, "loss": 2.0, "train_acc": 0.3, "test_acc": 0.4},
        {"epoch": 2, "loss": 1.0, "train_acc": 0.6, "test_acc": 0.5},
    ]
    fig = viz.plot_curves(history, title="t")
    lines = {line.get_label(): list(line.get_ydata()) for line in fig.axes[0].lines}
    assert lines == {"train loss": [2.0, 1.0], "train acc": [0.3, 0.6], "test acc": [0.4, 0.5]}


def test_save_figure_is_atomic_and_readable(tmp_path):
    viz.save_figure(viz.plot_curves([{"epoch": 1, "loss": 1.0}]), tmp_path / "a" / "c.png")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["c.png"]
    assert (tmp_path / "a" / "c.png").stat().st_mode & 0o044  # not private to the owner


# --------------------------------------------------------------------------
# No global matplotlib state
# --------------------------------------------------------------------------


def test_import_and_save_leave_the_backend_alone(tmp_path):
    # A fresh interpreter: here matplotlib's backend is already settled.
    script = textwrap.dedent("""
        import sys
        import matplotlib
        matplotlib.use("svg")  # as a notebook or an application would choose its own
        import tfconv.viz as viz
        after_import = matplotlib.get_backend()
        fig = viz.plot_curves([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}])
        viz.save_figure(fig, sys.argv[1])
        # Keras imports pyplot itself; tfconv must open no figure in it.
        pyplot = sys.modules.get("matplotlib.pyplot")
        open_figures = len(pyplot.get_fignums()) if pyplot else 0
        print(after_import, matplotlib.get_backend(), open_figures)
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("MPLBACKEND", None)
    # The checkout under test, whatever is installed.
    root = str(Path(tfconv.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    png = tmp_path / "curves.png"
    result = subprocess.run(
        [sys.executable, "-c", script, str(png)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["svg", "svg", "0"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_figure_leaves_no_pyplot_figure_open(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    viz.save_figure(viz.plot_curves([{"epoch": 1, "loss": 1.0}]), tmp_path / "a.png")
    viz.save_figure(viz.plot_kernels(models.build("lenet")), tmp_path / "b.png")
    assert plt.get_fignums() == before
    # A pyplot figure handed in is closed after the save, as before.
    fig = plt.figure()
    viz.save_figure(fig, tmp_path / "c.png")
    assert plt.get_fignums() == before
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------
# `tfconv viz` on a trained run
# --------------------------------------------------------------------------


EXPECTED_FILES = {
    "curves": ["curves.png"],
    "kernels": ["kernels.png"],
    "features": ["features.png"],
    # Pullover vs coat and the most confused other pair.
    "activations": ["activations_pullover_vs_coat.png", "activations_*_vs_*.png"],
    "confusion": ["confusion.png"],
    "errors": ["errors.png"],
}


def test_cli_kinds_match_the_library():
    assert viz_command._KINDS == viz.KINDS


def test_viz_all_writes_every_picture(all_pictures):
    out, status = all_pictures
    assert status == 0
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 7, names
    assert not [n for n in names if n.startswith(".")], "temporary files left behind"


@pytest.mark.parametrize("kind", list(EXPECTED_FILES))
def test_viz_kind_gives_a_readable_picture(all_pictures, kind):
    out, _ = all_pictures
    for pattern in EXPECTED_FILES[kind]:
        paths = sorted(out.glob(pattern))
        assert paths, f"{kind}: no {pattern} in {sorted(p.name for p in out.iterdir())}"
        for path in paths:
            _check_png(path)


def test_viz_one_kind_with_options(run_dir, tmp_path, capsys):
    status = cli.main(
        [
            "viz",
            str(run_dir),
            "--what",
            "activations,kernels",
            "--classes",
            "shirt,T-shirt,coat",
            "--limit",
            "200",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "activations_shirt_vs_t-shirt-top_vs_coat.png",
        "kernels.png",
    ]
    assert "2 picture(s) written" in capsys.readouterr().out


def test_viz_defaults_to_a_folder_in_the_run(run_dir):
    assert cli.main(["viz", str(run_dir), "--what", "curves"]) == 0
    _check_png(run_dir / "viz" / "curves.png")


@pytest.mark.parametrize("args", [["--what", "kernels"], ["--what", "confusion"], []])
def test_viz_missing_run_folder_exits_2(tmp_path, capsys, args):
    status = cli.main(["viz", str(tmp_path / "nowhere"), *args])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("tfconv viz: error: The run folder does not exist.")
    assert len(err.strip().splitlines()) == 1


def test_viz_folder_without_model_exits_2(tmp_path, capsys):
    assert cli.main(["viz", str(tmp_path)]) == 2
    assert "no model.keras" in capsys.readouterr().err


@pytest.mark.parametrize("standardize", [False, True])
def test_model_input_scales_only_for_a_legacy_model(standardize):
    from tfconv import data
    from tfconv.viz.pictures import _model_input

    info = data.get_info("fashion_mnist")
    images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28) % 256
    images = images.astype(np.uint8)
    config = {"standardize": standardize}
    legacy = viz.Run(Path("."), models.build("lenet"), config, {}, [])
    x = _model_input(legacy, images, info)
    expected = images.astype(np.float32)[..., None] / 255.0
    if standardize:
        expected = (expected - info.mean) / info.std
    assert x.dtype == np.float32 and x.shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(x, expected)
    # A model with its own PixelScaling layer takes the raw pixels.
    raw = viz.Run(Path("."), models.with_preprocessing(models.build("lenet")), config, {}, [])
    np.testing.assert_array_equal(_model_input(raw, images, info), images[..., None])


def test_viz_of_a_legacy_run_folder(tmp_path, capsys):
    # A model saved before models took raw pixels: viz scales the test images itself.
    models.build("lenet").save(tmp_path / "model.keras")
    (tmp_path / "metrics.json").write_text('{"config": {"dataset": "fashion_mnist"}}')
    status = cli.main(
        ["viz", str(tmp_path), "--what", "confusion", "--limit", "64", "--out", str(tmp_path)]
    )
    assert status == 0, capsys.readouterr().err
    _check_png(tmp_path / "confusion.png")


@pytest.mark.parametrize("what", ["kernel", "all,nope", ""])
def test_viz_unknown_kind_exits_2(run_dir, what, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["viz", str(run_dir), "--what", what])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--what", "activations", "--classes", "coat,hat"], "Unknown class 'hat'"),
        (["--what", "features", "--index", "512"], "`index` must be in [0, 512)"),
        (["--what", "errors", "--limit", "0"], "`limit` must be a positive int"),
    ],
)
def test_viz_bad_values_exit_2(run_dir, tmp_path, capsys, args, message):
    assert cli.main(["viz", str(run_dir), "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
