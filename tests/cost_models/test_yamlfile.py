"""cost_models.yamlfile: the strict YAML reader shared by target files and run configs."""
import time

import pytest

from cost_models.yamlfile import MAX_BYTES, YamlError, load_yaml_file, load_yaml_text


def laughs(levels: int = 9) -> str:
    """A 'billion laughs' document: each level is nine aliases of the one before."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_plain_yaml_reads_as_safe_load_does():
    assert load_yaml_text("a: 1\nb: [x, 2.5, true, null]\nc: {d: e}\n") == {
        "a": 1, "b": ["x", 2.5, True, None], "c": {"d": "e"}}
    assert load_yaml_text("") is None


def test_exponent_numbers_are_numbers():
    assert load_yaml_text("[1e-3, 2E5, -3e+2, 1.5e-3, 1e400]") == [1e-3, 2e5, -300.0, 1.5e-3, float("inf")]


def test_alias_bomb_is_refused_at_once():
    text = laughs()
    assert len(text) < 1200
    start = time.perf_counter()
    with pytest.raises(YamlError, match=r"^bomb.yaml, line 1: anchors and aliases \(&name, \*name\) are not allowed"):
        load_yaml_text(text, "bomb.yaml")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("text, message", [
    ("a: 1\nb: 2\na: 3\n", "f.yaml, line 3: duplicate key 'a' (first on line 1)"),
    ("s:\n  x: 1\n  x: 1\n", "f.yaml, line 3: duplicate key 'x' (first on line 2)"),
    ("a: *nothing\n", "f.yaml, line 1: anchors and aliases"),
    ("a: [1, 2\n", "f.yaml, line 2: not valid YAML: while parsing a flow sequence"),
    ("a: !!python/object/apply:os.system [ls]\n", "f.yaml, line 1: not valid YAML: could not determine a constructor"),
    ("[" * 5000, "f.yaml: not valid YAML: nested too deeply"),
    ("- a\n---\n- b\n", "f.yaml, line 2: not valid YAML: expected a single document"),
])
def test_refusals_are_one_line_naming_file_and_line(text, message):
    with pytest.raises(YamlError) as info:
        load_yaml_text(text, "f.yaml")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_files_are_bounded_and_text(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("a: 1\n" + "#" * MAX_BYTES)
    with pytest.raises(YamlError, match=f"big.yaml: larger than {MAX_BYTES} bytes"):
        load_yaml_file(path)
    assert load_yaml_file(path, max_bytes=2 * MAX_BYTES) == {"a": 1}
    path.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(YamlError, match="big.yaml: not UTF-8 text"):
        load_yaml_file(path)
    with pytest.raises(ValueError, match="missing.yaml: cannot read"):
        load_yaml_file(tmp_path / "missing.yaml", error=ValueError)
