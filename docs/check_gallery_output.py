"""Fail if any gallery example printed a warning, a file path or a stray repr.

sphinx-gallery captures what each example writes to stdout and stderr and
stores it in the generated ``auto_examples/*.rst`` under
``.. rst-class:: sphx-glr-script-out``. A warning there shows the reader the
build machine's file paths and buries the example's result, and an object
repr such as ``Text(0.5, 1.0, '...')`` is a missing semicolon. Run after the
docs build (``.ci/run`` does)::

    python docs/check_gallery_output.py docs/auto_examples
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUTPUT_MARKER = ".. rst-class:: sphx-glr-script-out"

# What must not appear in an example's output, with the reason it is shown.
FORBIDDEN = {
    "a warning": re.compile(r"\w*Warning\b|\bwarnings\.warn\b"),
    "a traceback": re.compile(r"Traceback \(most recent call last\)"),
    "a file path": re.compile(
        r"(?<![\w.:/])(?:/(?:home|work|tmp|root|usr|opt|Users|var|private)/"
        r"|[A-Za-z]:\\|site-packages)"
    ),
    "an object repr": re.compile(r"^\s*(?:\[?<matplotlib\.|Text\(|\[<|<Figure)"),
}


def output_blocks(rst: str) -> list[list[str]]:
    """The captured-output blocks of a generated example page, as lines.

    A block starts after the output marker and ends at the next line that is
    not indented (the page's next directive or paragraph).
    """
    blocks, current = [], None
    for line in rst.splitlines():
        if line.strip() == OUTPUT_MARKER:
            current = []
            blocks.append(current)
        elif current is not None:
            if line and not line[0].isspace():
                current = None
            elif not line.strip().startswith(".. code-block::"):
                current.append(line)
    return blocks


def problems(rst: str) -> list[str]:
    """Each offending output line, prefixed with what it shows."""
    found = []
    for block in output_blocks(rst):
        for line in block:
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line):
                    found.append(f"{what}: {line.strip()}")
                    break
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "docs/auto_examples")
    pages = sorted(folder.glob("*.rst"))
    examples = [p for p in pages if p.name.startswith("plot_")]
    if not examples:
        print(f"no generated example pages under {folder}", file=sys.stderr)
        return 2
    failed = 0
    for page in examples:
        for problem in problems(page.read_text(encoding="utf-8")):
            print(f"{page.name}: {problem}", file=sys.stderr)
            failed += 1
    if failed:
        return 1
    print(f"gallery output clean: {len(examples)} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
