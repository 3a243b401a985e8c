"""diffnas.data.pickles: the restricted unpickler reads the datasets' pickles and nothing that runs code."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from diffnas.data.pickles import ALLOWED_GLOBALS, ForbiddenGlobal, read_pickle, safe_load, str_keys
from diffnas.errors import InputError
from tests.data.batch_files import STYLES, dump, images


@pytest.mark.parametrize("style", STYLES)
def test_reads_every_style_like_plain_pickle_with_latin1(style):
    x = images(7, 4, 0, seed=1)
    blob = dump({"data": x, "labels": [1, 2, 300, 70000, 0, 5, 6], "name": "b\xe9"}, style)
    ours = str_keys(safe_load(io.BytesIO(blob)), "x")
    theirs = str_keys(pickle.loads(blob, encoding="latin1"), "x")  # torchvision's / AutoDL's read
    assert set(ours) == {"data", "labels", "name"}
    assert np.array_equal(ours["data"], x) and ours["data"].dtype == np.uint8
    assert np.array_equal(ours["data"], theirs["data"]) and ours["labels"] == theirs["labels"]


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_numpy_arrays_of_every_protocol(protocol):
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    got = safe_load(io.BytesIO(pickle.dumps({"a": a, "u": a.astype(np.uint8).T}, protocol=protocol)))
    assert np.array_equal(got["a"], a) and np.array_equal(got["u"], a.astype(np.uint8).T)


@pytest.mark.parametrize("thing", [os.system, eval, exec, getattr, __import__, open, object, pickle.loads,
                                   np.load, np.frombuffer, print])
def test_every_other_global_is_refused(thing):
    blob = pickle.dumps({"x": thing}, protocol=2)
    with pytest.raises(ForbiddenGlobal):
        safe_load(io.BytesIO(blob))


def _encode_call(text: str, encoding: str) -> bytes:
    """A pickle calling ``_codecs.encode(text, encoding)`` (how protocol 2 writes bytes)."""
    def unicode(v: str) -> bytes:
        b = v.encode("utf-8")
        return b"X" + len(b).to_bytes(4, "little") + b
    return b"\x80\x02c_codecs\nencode\n" + unicode(text) + unicode(encoding) + b"\x86R."


def test_codecs_encode_only_as_latin1_bytes():
    assert safe_load(io.BytesIO(_encode_call("abc", "latin1"))) == b"abc"
    assert safe_load(io.BytesIO(_encode_call("abc", "latin-1"))) == b"abc"
    for encoding in ("rot13", "utf-8", "zlib_codec", "idna"):
        with pytest.raises(pickle.UnpicklingError, match="latin1"):
            safe_load(io.BytesIO(_encode_call("abc", encoding)))


def test_the_allow_list_is_only_array_reconstruction():
    modules = {m for m, _ in ALLOWED_GLOBALS}
    assert modules == {"numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                       "numpy._core.numeric", "_codecs"}


def test_read_pickle_names_the_file(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(pickle.dumps({"x": os.system}, protocol=2))
    with pytest.raises(InputError, match=r"bad: holds something other than arrays \(the pickle names posix.system\)"):
        read_pickle(bad)
    short = tmp_path / "short"
    short.write_bytes(pickle.dumps({"x": np.zeros(100)}, protocol=2)[:-20])
    with pytest.raises(InputError, match="short: (truncated|corrupted)"):
        read_pickle(short)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\x01 not a pickle")
    with pytest.raises(InputError, match="garbage: corrupted pickle"):
        read_pickle(garbage)
    with pytest.raises(InputError, match="missing: file not found"):
        read_pickle(tmp_path / "missing")
    with pytest.raises(InputError, match="expected a pickled dict of arrays, found list"):
        str_keys([1], "somefile")
