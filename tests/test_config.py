import pytest

from galaxy_lib.config import Config, load_config, parse_overrides


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
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["epochs"])
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
