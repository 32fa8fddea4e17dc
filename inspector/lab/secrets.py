"""Secrets that are not images: text bytes (synthetic personal records, as a leaked customer table would read)
and tabular records (rows of a numeric data set as bytes). Seeded and numpy only."""

from __future__ import annotations

import numpy as np

_FIRST = ("ANNA", "BEN", "CHLOE", "DAVID", "EMMA", "FINN", "GRACE", "HUGO", "IRIS", "JONAS", "KARIN", "LEO")
_LAST = ("SMITH", "MUELLER", "GARCIA", "ROSSI", "NOVAK", "DUBOIS", "SILVA", "KOWALSKI", "JENSEN", "OKAFOR")
_CITY = ("BERLIN", "LYON", "PORTO", "GDANSK", "TURIN", "AARHUS", "LEEDS", "BRNO")


def text_records(n_bytes: int, seed: int = 0x7E47) -> bytes:
    """``n_bytes`` of ASCII records, one per line:
    ``id=0042;name=ANNA SMITH;born=1984-03-12;city=LYON;card=4929 1234 5678 9012``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    lines: list[str] = []
    size = 0
    i = 0
    while size < n_bytes:
        card = " ".join(f"{int(x):04d}" for x in rng.integers(0, 10000, 4))
        line = (
            f"id={i:04d};name={_FIRST[rng.integers(len(_FIRST))]} {_LAST[rng.integers(len(_LAST))]};"
            f"born={int(rng.integers(1940, 2005))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d};"
            f"city={_CITY[rng.integers(len(_CITY))]};card={card}\n"
        )
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines).encode("ascii")[:n_bytes]


def record_bytes(rows: np.ndarray) -> bytes:
    """Tabular records as bytes: every value as a little-endian float16 (2 bytes), row by row."""
    return np.ascontiguousarray(np.asarray(rows, dtype="<f2")).tobytes()


def bytes_to_records(data: bytes, columns: int) -> np.ndarray:
    """Inverse of :func:`record_bytes` (a trailing partial row is dropped); float32 (n, columns)."""
    arr = np.frombuffer(data[: len(data) // 2 * 2], dtype="<f2")
    n = arr.size // columns
    return arr[: n * columns].reshape(n, columns).astype(np.float32)
