"""diffnas/inputs.py: strict, bounded reading of user files, and bounded values in messages."""

from __future__ import annotations

import argparse

import pytest

from diffnas.config import SearchConfig, flatten
from diffnas.errors import InputError
from diffnas.inputs import MAX_BYTES, load_json, load_yaml, number_arg, parse_yaml, shown


def test_plain_yaml_and_merge_keys_still_load() -> None:
    assert parse_yaml("a: 1\nb: [x, y]\n", "f") == {"a": 1, "b": ["x", "y"]}
    # a merge key may repeat a merged key: explicit keys override merged ones, as YAML says
    text = "base: &b {t0: 1, t_min: 1}\ntemperature: {<<: *b, t0: 2}\n"
    assert parse_yaml(text, "f")["temperature"] == {"t0": 2, "t_min": 1}
    assert parse_yaml("", "f") is None


@pytest.mark.parametrize("text, value", [
    ("3e-4", 3e-4), ("1.0e6", 1e6), ("-2E+3", -2000.0), (".5e-1", 0.05), ("1.5", 1.5), ("12", 12),
    ("1e", "1e"), ("e5", "e5"), ("3e-4x", "3e-4x"),
])
def test_exponent_floats_are_numbers_as_in_yaml_1_2(text: str, value: object) -> None:
    """PyYAML alone reads 3e-4 and 1.0e6 as strings; a learning rate written so must be a number, in a file
    and in --set, while anything that is not a float stays as it was."""
    got = parse_yaml(f"a: {text}", "x")["a"]
    assert got == value and type(got) is type(value)


def test_a_learning_rate_in_exponent_form_is_accepted_from_a_file_and_from_set() -> None:
    cfg = SearchConfig.from_dict(parse_yaml("optim: {w_lr: 3e-2, a_lr: 6e-4}", "config"), ["optim.w_lr=1.0e-1"])
    assert (cfg["optim.w_lr"], cfg["optim.a_lr"]) == (0.1, 6e-4)


@pytest.mark.parametrize("text, words", [
    ("a: 1\nb: 2\na: 3\n", "key 'a' given twice (line 3)"),
    ("t:\n  x: 1\n  x: 1\n", "key 'x' given twice"),
    ("a: &a [*a]\n", "recursive"),
    ("a: [1\n", "not valid YAML"),
    ("[" * 1500, "nested too deeply"),
])
def test_refused_yaml(text: str, words: str) -> None:
    with pytest.raises(InputError) as err:
        parse_yaml(text, "--config", "c.yaml")
    assert err.value.field == "--config" and words in err.value.message and "c.yaml" in err.value.message


def test_alias_bomb_refused_without_expanding() -> None:
    # 9 levels of 10 aliases: 10**9 leaves once expanded; refused from the composed graph
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(InputError, match="alias bomb"):
        parse_yaml(text, "SPEC")
    # a few aliases are fine
    assert parse_yaml("a: &a [1, 2]\nb: *a\n", "SPEC") == {"a": [1, 2], "b": [1, 2]}


def test_files_size_encoding_folder(tmp_path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_BYTES + 1))
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: \xff\n")
    for path, words in ((big, "at most 1 MiB"), (binary, "not UTF-8"), (tmp_path, "is a folder"),
                        (tmp_path / "none.yaml", "file not found")):
        with pytest.raises(InputError, match=words):
            load_yaml(str(path), "--config")
    bad = tmp_path / "g.json"
    bad.write_text("{oops")
    with pytest.raises(InputError, match="not valid JSON"):
        load_json(str(bad), "GENOTYPE_JSON")


def test_nested_and_dotted_keys() -> None:
    assert flatten({"a": {"b": 1}, "a.b": 1}) == {"a.b": 1}  # the same value twice is fine
    with pytest.raises(InputError) as err:
        flatten({"temperature": {"t0": 2}, "temperature.t0": 3})
    assert err.value.field == "temperature.t0" and "given twice" in err.value.message
    with pytest.raises(InputError):
        SearchConfig.from_dict({"data.subset": 300, "data": {"subset": 200}})


def test_shown_is_bounded_and_never_expands() -> None:
    level: list = ["x"] * 10
    for _ in range(8):  # a DAG of 10**9 leaves: repr would never finish
        level = [level] * 10
    assert len(shown(level)) <= 80
    assert len(shown("y" * 10**6)) <= 80
    assert shown(3) == "3" and shown("a") == "'a'"


def test_number_arg() -> None:
    threads = number_arg(int, 1, 256)
    assert threads("4") == 4
    for text in ("0", "-1", "257", "x", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="an integer >= 1 and <= 256"):
            threads(text)
    share = number_arg(float, 0.0, 1.0, exclusive_min=True)
    assert share("0.5") == 0.5
    for text in ("0", "-3", "1.5", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError, match="a number > 0 and <= 1"):
            share(text)
