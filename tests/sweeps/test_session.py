"""diffnas.sweeps.session: Ray addresses parsed (and refused in one line) before anything connects."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("address, expected", [
    ("10.0.0.1:6380", ("10.0.0.1", 6380)), ("head", ("head", 6379)), ("ray://head", ("head", 10001)),
    ("ray://10.0.0.1:10002", ("10.0.0.1", 10002)), ("auto", None), ("[::1]:6379", ("::1", 6379)),
])
def test_parse_address(address, expected):
    from diffnas.sweeps.session import parse_address

    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["host:0", "host:x", ":6379", "http://host:1"])
def test_bad_address_named(address):
    from diffnas.errors import InputError
    from diffnas.sweeps.session import parse_address

    with pytest.raises(InputError, match="--address"):
        parse_address(address)
