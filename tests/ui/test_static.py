"""The vendored JavaScript is exactly the pinned release: checked against SHA-256 sums."""

from __future__ import annotations

import hashlib

from headwater.server.ui.common import STATIC_DIR

# htmx.org 2.0.11 (dist/htmx.min.js) and htmx-ext-sse 2.2.4 (dist/sse.min.js), from npm
PINNED = {
    "htmx.min.js": "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
    "sse.min.js": "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136",
}


def test_vendored_scripts_match_their_pinned_checksums() -> None:
    for name, expected in PINNED.items():
        digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()
        assert digest == expected, f"{name} differs from the pinned release"


def test_the_checksums_file_lists_the_same_pins() -> None:
    lines = (STATIC_DIR / "SHA256SUMS").read_text().split("\n")
    listed = dict(reversed(line.split("  ")) for line in lines if line)
    assert listed == PINNED
