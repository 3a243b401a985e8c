"""Reading the published pickles of CIFAR-10/100 and ImageNet16 without letting a pickle run code.

The python versions of CIFAR-10 and CIFAR-100 and NAS-Bench-201's ImageNet16 are Python pickles
(most written by Python 2): dicts holding numpy arrays, lists of ints and strings. Unpickling
calls whatever callables a pickle names, so a plain ``pickle.load`` of a file a user points
``data.dir`` at could run any code (``os.system``, ``builtins.eval``, ...). :class:`ArrayUnpickler`
resolves only the globals these files need and refuses every other one before anything is called:

- ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct`` (numpy 1 / 2
  module names), ``numpy.ndarray`` and ``numpy.dtype``: how numpy pickles an array (an empty
  array of a dtype, then its shape and raw bytes are set); ``numpy.core.numeric._frombuffer`` /
  ``numpy._core.numeric._frombuffer``: the same for pickle protocol 5. Each maps to numpy's own
  function, found from a live array (``ndarray.__reduce_ex__``), never by importing a name.
- ``_codecs.encode`` with the encoding ``latin1`` only: how Python 3 writes a ``bytes`` object
  (a dict key ``b"data"``, an array's raw bytes) into a protocol 0-2 pickle.

Dicts, lists, tuples, strings, bytes and numbers need no global at all. Anything else raises
:class:`ForbiddenGlobal` (an :class:`pickle.UnpicklingError`) naming the module and name.

Python 2 strings are decoded as latin-1, as torchvision and AutoDL read these files
(``pickle.load(f, encoding="latin1")``): keys become ``str`` and numpy accepts latin-1 ``str``
array data. Keys written as ``bytes`` stay ``bytes``; :func:`str_keys` makes both alike.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any, BinaryIO

import numpy as np

from diffnas.errors import InputError

__all__ = ["ALLOWED_GLOBALS", "ArrayUnpickler", "ForbiddenGlobal", "read_pickle", "safe_load", "str_keys"]


_LATIN1 = frozenset({"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "iso_8859_1", "l1"})


def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol 0-2 pickles use it for ``bytes``: latin-1 only (matched by
    name, without a codec lookup, which could import a codec module)."""
    if not (isinstance(obj, str) and isinstance(encoding, str) and encoding.lower() in _LATIN1
            and errors == "strict"):
        raise pickle.UnpicklingError(f"_codecs.encode is allowed only as str -> bytes in latin1, "
                                     f"not {type(obj).__name__} in {encoding!r}")
    return obj.encode("latin1")


_SAMPLE = np.zeros(1, dtype=np.uint8)
_RECONSTRUCT = _SAMPLE.__reduce_ex__(2)[0]
_FROMBUFFER = _SAMPLE.__reduce_ex__(5)[0]

ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}
"""(module, name) a pickle may name -> the object it gets. Nothing else resolves."""


class ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle named a global outside :data:`ALLOWED_GLOBALS`; nothing it named was called."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name
        super().__init__(f"forbidden global {module}.{name}")


class ArrayUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only :data:`ALLOWED_GLOBALS` (module docstring)."""

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - documented on the class
        found = ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise ForbiddenGlobal(module, name)
        return found

    def persistent_load(self, pid: Any) -> Any:  # noqa: D102
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_load(fh: BinaryIO) -> Any:
    """Unpickle one object from ``fh`` with :class:`ArrayUnpickler` (Python 2 strings as latin-1).

    Raises :class:`ForbiddenGlobal` for a global outside the allow-list, and whatever a damaged
    pickle raises (:class:`pickle.UnpicklingError`, ``EOFError``, ``ValueError``, ...)."""
    return ArrayUnpickler(fh, encoding="latin1").load()


def read_pickle(path: str | os.PathLike[str]) -> Any:
    """The object in the pickle file ``path``, read with :func:`safe_load`.

    Every problem is an :class:`InputError` on ``data.dir`` naming the file: a forbidden global
    ("holds something other than arrays"), a truncated or otherwise damaged pickle, an unreadable
    file."""
    try:
        with open(path, "rb") as raw:
            fh = io.BufferedReader(raw, buffer_size=1 << 20)
            return safe_load(fh)
    except ForbiddenGlobal as exc:
        raise InputError("data.dir", f"{path}: holds something other than arrays (the pickle names "
                                     f"{exc.module}.{exc.name}); refusing to unpickle it: only numpy "
                                     "arrays, lists, dicts, strings and numbers are read") from None
    except FileNotFoundError:
        raise InputError("data.dir", f"{path}: file not found") from None
    except EOFError:
        raise InputError("data.dir", f"{path}: truncated pickle (the file ends before the pickle does)") from None
    except MemoryError:
        raise InputError("data.dir", f"{path}: corrupted pickle (it asks for more memory than there is)") from None
    except OSError as exc:
        raise InputError("data.dir", f"{path}: cannot read ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - any other failure of a damaged pickle
        raise InputError("data.dir", f"{path}: corrupted pickle ({type(exc).__name__}: "
                                     f"{str(exc)[:160]})") from None


def str_keys(entry: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """A batch dict with every ``bytes`` key decoded as latin-1 (``b"data"`` and ``"data"`` alike);
    :class:`InputError` naming ``path`` when the pickle does not hold a dict."""
    if not isinstance(entry, dict):
        raise InputError("data.dir", f"{path}: expected a pickled dict of arrays, found {type(entry).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in entry.items()}
