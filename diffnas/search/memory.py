"""What counts as running out of memory: the errors an allocation raises when there is none left.

Python's and numpy's ``MemoryError``; ``torch.OutOfMemoryError`` (a CUDA device, or a process past its
``set_per_process_memory_fraction`` share); torch's CPU allocator, which raises
``RuntimeError: ... can't allocate memory``; and, under an address-space limit (``limited``), oneDNN's
failure to set up a kernel for want of address space. A search run that meets one ends with status
``error`` and an ``out_of_memory`` stop reason instead of a traceback.
"""

from __future__ import annotations

_ALLOC_TEXT = ("can't allocate memory", "not enough memory", "Cannot allocate memory", "std::bad_alloc")
_LIMITED_TEXT = ("could not create a primitive",)  # oneDNN, when its scratch memory cannot be mapped



def is_memory_error(err: BaseException, limited: bool = False) -> bool:
    """An allocation that failed for want of memory: Python's and numpy's ``MemoryError``, torch's CPU
    allocator (``RuntimeError: ... can't allocate memory``), ``torch.OutOfMemoryError``; under a memory
    limit (``limited``) also oneDNN's failure to set up a kernel for want of address space."""
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return True
    if not isinstance(err, RuntimeError):
        return False
    text = str(err)
    return any(t in text for t in _ALLOC_TEXT) or (limited and any(t in text for t in _LIMITED_TEXT))


