"""Reading recorded genotype strings, shared by the search side and the analysis side.

Pure Python (no torch): :mod:`analysis` may import it.

NAS-Bench-201 ``arch_str``: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. The k-th ``+``-separated block
(k = 1, 2, ...) lists the inputs of node k: ``op~i`` is an edge i → k carrying ``op``, with i < k.
"""

from __future__ import annotations

__all__ = ["parse_nb201"]


def parse_nb201(arch_str: str) -> list[tuple[str, int, int]]:
    """``|a~0|+|b~0|c~1|+...`` -> [(op, src, dst), ...] in edge order; ValueError naming the bad part."""
    if not isinstance(arch_str, str):
        raise ValueError(f"not a NAS-Bench-201 arch_str: {arch_str!r}")
    blocks = [b for b in arch_str.strip().split("+") if b.strip("|")]
    if not blocks:
        raise ValueError(f"not a NAS-Bench-201 arch_str: {arch_str[:80]!r}")
    out = []
    for dst, block in enumerate(blocks, start=1):
        for token in (t for t in block.split("|") if t):
            op, sep, src = token.rpartition("~")
            if not sep or not op or not src.isdigit() or int(src) >= dst:
                raise ValueError(f"bad NB201 edge {token[:40]!r} in {arch_str[:80]!r}")
            out.append((op, int(src), dst))
    return out
