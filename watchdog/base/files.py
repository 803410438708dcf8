"""What a file looks like on disk, to notice that it changed without reading it.

Secrets, CA bundles and certificates are followed on disk (rotation without a restart): one
`os.stat` per check is cheap enough to do before every poll or new connection.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["Signature", "signature"]

# (device, inode, size, mtime in ns): a rewrite in place changes size or mtime, an atomic
# replacement (a Kubernetes Secret's symlink swap) changes the inode.
Signature = tuple[int, int, int, int]


def signature(path: Path) -> Signature | None:
    """The file's signature, or None when it cannot be looked at (missing, no permission)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
