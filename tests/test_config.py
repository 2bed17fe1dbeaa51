import pytest

from galaxy_lib.config import Config, load_config, parse_overrides
from galaxy_lib.errors import ConfigError, GalaxyLibError


def test_defaults_are_the_papers():
    c = Config()
    assert (c.crop, c.epochs, c.batch_size, c.learning_rate, c.loss, c.head) == (128, 50, 256, 1e-3, "bce", "sigmoid")
    assert c.input_size == 128 and c.replace(image_size=69).input_size == 69


def test_yaml_base_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("epochs: 3\ncrop: 207\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\nimage_size: 69\nhead: tree\n")
    c = load_config(tmp_path / "child.yaml", ["epochs=5", "augment=true"])
    assert (c.epochs, c.crop, c.image_size, c.head, c.augment) == (5, 207, 69, "tree", True)


def test_roundtrip(tmp_path):
    c = Config(epochs=7, head="tree")
    c.save(tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == c


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epoch: 3\n", "unknown config key.*epoch"),
        ("epochs: three\n", "'epochs'.*integer"),
        ("epochs: 0\n", "'epochs'.*out of range"),
        ("head: softmax\n", "'head'.*not one of"),
        ("augment: maybe\n", "'augment'.*true or false"),
        ("- 1\n- 2\n", "mapping"),
    ],
)
def test_bad_files_name_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["epochs"])
    with pytest.raises(ConfigError, match=r"override 'data=\[x': the value is not a YAML scalar"):
        parse_overrides(["data=[x"])
    # A missing file is the user's mistake like any other: the CLI prints it as one line, exit 2.
    with pytest.raises(ConfigError, match="configuration file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "child.yaml").write_text("base: gone.yaml\n")
    with pytest.raises(ConfigError, match="gone.yaml"):
        load_config(tmp_path / "child.yaml")
    (tmp_path / "latin1.yaml").write_bytes("run_name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml: not UTF-8 text"):
        load_config(tmp_path / "latin1.yaml")


def test_every_user_error_is_a_galaxy_lib_error_and_still_a_value_error():
    with pytest.raises(GalaxyLibError):
        Config(epochs=0)
    with pytest.raises(ValueError):  # code written against the older ValueError contract keeps working
        Config(head="softmax")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"seed": -1}, "'seed'.*out of range"),
        ({"synthetic_seed": -1}, "'synthetic_seed'.*out of range"),
        ({"split_seed": -1}, "'split_seed'.*out of range"),
        ({"early_stopping_patience": -2}, "'early_stopping_patience'.*out of range"),
        ({"time_limit_minutes": -1}, "'time_limit_minutes'.*out of range"),
        ({"central_pixel_clusters": -3}, "'central_pixel_clusters'.*out of range"),
        ({"warmup_epochs": -1}, "'warmup_epochs'.*out of range"),
        ({"weight_averaging": "ema", "ema_momentum": 1.0}, "'ema_momentum'.*out of range"),
        ({"weight_averaging": "ema", "ema_momentum": 0}, "'ema_momentum'.*out of range"),
        ({"mixup": -0.2}, "'mixup'.*out of range"),
        ({"label_smoothing": 1.0}, "'label_smoothing'.*out of range"),
    ],
)
def test_negative_values_are_out_of_range(values, message):
    with pytest.raises(ConfigError, match=message):
        Config(**values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"augment_shift": 4}, r"'augment_shift' \(4\) does nothing while 'augment' is false: set augment: true"),
        ({"augment_rotate": True}, r"'augment_rotate' \(true\) does nothing while 'augment' is false"),
        ({"synthetic_test_n": 100}, r"'synthetic_test_n' \(100\) does nothing while 'synthetic' is false"),
        ({"test_pool_subset": "block"}, r"'test_pool_subset' \(block\) does nothing while 'test_pool_file' is empty"),
        ({"tree_normalisation": "softmax"}, r"'tree_normalisation' \(softmax\) does nothing while 'head' is sigmoid"),
        ({"ema_momentum": 0.99}, r"'ema_momentum' \(0.99\) does nothing while 'weight_averaging' is none: "
                                 "set weight_averaging: ema"),
        ({"views": 4}, r"'views' \(4\) does nothing while 'model' is vgg6: set model: vgg6_views"),
        ({"views_combine": "concat"}, r"'views_combine' \(concat\) does nothing while 'model' is vgg6"),
        ({"schedule_clock": "budget"}, r"'schedule_clock' \(budget\) does nothing while 'time_limit_minutes' is 0"),
        ({"refit": True, "val_fraction": 0}, r"'refit' \(true\) does nothing while 'val_fraction' is 0"),
    ],
)
def test_a_key_that_another_key_switches_off_is_an_error(values, message):
    with pytest.raises(ConfigError, match=message):
        Config(**values)
    with pytest.raises(ConfigError, match=message):  # the same from a file or --set
        load_config(None, values)


@pytest.mark.parametrize("values", [
    {"augment": True, "augment_shift": 4, "augment_rotate": True},
    {"synthetic": True, "synthetic_test_n": 100},
    {"test_pool_file": "pool.csv", "test_pool_subset": "block"},
    {"head": "tree", "tree_normalisation": "softmax"},
])
def test_keys_that_work_together_are_accepted(values):
    """The same keys as the switched-off cases above, now with the key that switches them on: kept as
    given, the same from a file or --set."""
    config = Config(**values)
    assert {key: getattr(config, key) for key in values} == values
    assert load_config(None, values) == config
    Config(val_fraction=0.0, early_stopping_patience=3)  # monitors the training RMSE then: not a no-op
    Config(crop=32, image_size=64)  # upscaling a small crop is allowed
    Config(weight_averaging="ema", ema_momentum=0.99)
    Config(weight_averaging="ema")  # the default momentum
    Config(model="vgg6_views", views=16, views_combine="concat")
    Config(model="vgg6_views")  # the default 8 views


@pytest.mark.parametrize("views", [0, 2, 6, 32])
def test_views_must_be_4_8_or_16(views):
    with pytest.raises(ConfigError, match=f"config key 'views': {views} is not one of 4, 8, 16"):
        Config(model="vgg6_views", views=views)
    with pytest.raises(ConfigError, match="'views_combine': 'max' is not one of mean, concat"):
        load_config(None, ["model=vgg6_views", "views_combine=max"])


@pytest.mark.parametrize(("old", "precision"), [("false", "float32"), ("true", "mixed_float16")])
def test_an_old_config_yaml_with_mixed_precision_still_loads(tmp_path, old, precision):
    """Run folders trained before ``precision`` replaced ``mixed_precision`` must still load
    (evaluate, report, resume): the old key becomes the new one, not a second key."""
    path = tmp_path / "config.yaml"
    path.write_text(f"epochs: 3\nmixed_precision: {old}\nrun_name: old\n")
    config = load_config(path)
    assert config.precision == precision and config.epochs == 3
    assert "mixed_precision" not in config.to_dict()
    # A newer file based on the old one, or an override, still decides.
    child = tmp_path / "child.yaml"
    child.write_text("base: config.yaml\nprecision: mixed_bfloat16\n")
    assert load_config(child).precision == "mixed_bfloat16"
    assert load_config(path, ["precision=float32"]).precision == "float32"


def test_old_and_new_precision_keys_together_and_the_old_key_typed_today(tmp_path):
    path = tmp_path / "both.yaml"
    path.write_text("mixed_precision: true\nprecision: float32\n")
    with pytest.raises(ConfigError, match=r"both.yaml: has both 'mixed_precision' \(the old name\) and 'precision'"):
        load_config(path)
    path.write_text("mixed_precision: perhaps\n")
    with pytest.raises(ConfigError, match=r"'mixed_precision' in .*both.yaml: expected true or false"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) in overrides: mixed_precision \(now precision\)"):
        load_config(None, ["mixed_precision=true"])
    with pytest.raises(ConfigError, match="'precision': 'bfloat16' is not one of float32, mixed_bfloat16"):
        Config(precision="bfloat16")


def test_every_parameters_file_loads(repo_root):
    """Each file of parameters/ is read once by the one reader, which finds its kind; its kind's
    loader then accepts it (a comparison's file names runs)."""
    from galaxy_lib.model.ensemble import load_parameters  # a configuration, or an ensemble of them
    from galaxy_lib.parameters_file import COMPARE, CURVE, read
    from galaxy_lib.report.compare import read_compare_file
    from galaxy_lib.studies.curve_file import load_curve_file

    files = sorted((repo_root / "parameters").glob("*.yaml"))
    assert len(files) >= 5
    kinds = set()
    for path in files:
        file = read(path)
        kinds.add(file.kind)
        if file.kind == COMPARE:
            assert len(read_compare_file(file)[0]) >= 2
        else:
            load_curve_file(file) if file.kind == CURVE else load_parameters(file)
    assert kinds == {"configuration", "ensemble", "curve", "compare"}


def test_display_path_is_project_relative_inside_the_project(tmp_path, monkeypatch):
    from galaxy_lib.paths import display_path

    root = tmp_path / "project"
    (root / "runs").mkdir(parents=True)
    (tmp_path / "link").symlink_to(root)
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(root))
    assert display_path(root / "runs" / "smoke") == "runs/smoke"
    assert display_path(str(root / "parameters" / "a.yaml")) == "parameters/a.yaml"  # need not exist
    assert display_path(tmp_path / "link" / "runs") == "runs"  # through a symlink to the project
    assert display_path(root) == "."
    assert display_path("data/synthetic") == "data/synthetic"  # relative paths are project-relative already
    assert display_path(tmp_path / "elsewhere") == str(tmp_path / "elsewhere")  # outside: as given
    assert display_path("../shared/data") == "../shared/data"
    assert display_path("") == ""
    assert display_path("bad\0name") == "bad\0name"  # never raises


def test_changes_from_lists_differing_keys_as_old_then_new():
    paper = Config()
    run = paper.replace(crop=207, head="tree", tta="dihedral")
    assert run.changes_from(paper) == {"crop": (128, 207), "head": ("sigmoid", "tree"), "tta": ("none", "dihedral")}
    assert list(run.changes_from(paper)) == ["crop", "head", "tta"]  # field order, as config.yaml lists them
    assert paper.changes_from(run)["crop"] == (207, 128)
    assert run.changes_from(run) == {}


def test_split_seed_is_a_key_of_its_own_and_documented(repo_root):
    c = Config()
    assert (c.seed, c.split_seed) == (0, 0)
    assert load_config(None, ["split_seed=4"]).split_seed == 4 and load_config(None, ["split_seed=4"]).seed == 0
    with pytest.raises(ConfigError, match="'split_seed'.*expected an integer"):
        load_config(None, ["split_seed=two"])
    assert Config(seed=1, split_seed=2).changes_from(Config()) == {"split_seed": (0, 2), "seed": (0, 1)}
    page = (repo_root / "docs" / "command-line-and-configuration.md").read_text()
    assert "| `split_seed` | the galaxies: which are validation and test" in page
    assert "| `seed` | the model: initial weights" in page
    source = (repo_root / "galaxy_lib" / "config.py").read_text()
    assert "split_seed: int = 0" in source and "(not the split: split_seed)" in source


def test_an_old_config_yaml_without_split_seed_loads_resumes_and_evaluates(tmp_path):
    """Run folders trained before ``split_seed`` existed have a ``config.yaml`` without it (``seed``
    drew their split): it loads with the default 0, and a configuration that now names the seed
    that drew their split is not refused when resuming or evaluating them (their ``split.csv``
    decides their galaxies); any other difference still is."""
    import yaml

    from galaxy_lib.errors import RunError
    from galaxy_lib.model.runs import EVALUATION_CHANGES, RESUMABLE_CHANGES, check_same_run

    values = Config(seed=3, epochs=4).to_dict()
    del values["split_seed"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    saved = load_config(path)
    assert (saved.seed, saved.split_seed, saved.epochs) == (3, 0, 4)
    now = saved.replace(split_seed=3)
    for allowed in (RESUMABLE_CHANGES, EVALUATION_CHANGES):
        check_same_run(saved, now, allowed=allowed, where=tmp_path, advice="x")
        with pytest.raises(RunError, match=r"\(seed: 3 -> 4\)"):
            check_same_run(saved, now.replace(seed=4), allowed=allowed, where=tmp_path, advice="x")
