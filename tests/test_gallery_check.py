"""docs/check_gallery_output.py: what it flags in sphinx-gallery's captured output."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "check_gallery_output.py"
spec = importlib.util.spec_from_file_location("check_gallery_output", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

# The layout sphinx-gallery writes for a cell that printed something.
PAGE = """\
.. GENERATED FROM PYTHON SOURCE LINES 40-52

.. code-block:: Python

    print(search.best_params_)

.. rst-class:: sphx-glr-script-out

 .. code-block:: none

{output}


.. GENERATED FROM PYTHON SOURCE LINES 53-60

Prose after the cell may mention a ConvergenceWarning or /usr/lib freely.
"""


def page(*lines: str) -> str:
    return PAGE.format(output="\n".join("    " + line for line in lines))


@pytest.mark.parametrize(
    "line, what",
    [
        (
            "/work/main/.venv/lib/python3.11/site-packages/sklearn/pipeline.py:645: "
            "ConvergenceWarning: Maximum iterations (3) reached",
            "a warning",
        ),
        ("UserWarning: n_jobs value 1 overridden", "a warning"),
        ("reading /home/ci/data/mnist/train.gz", "a file path"),
        ("C:\\Users\\ci\\skae\\data", "a file path"),
        ("Text(0.5, 1.0, 'Latent space')", "an object repr"),
        ("[<matplotlib.lines.Line2D object at 0x7f>]", "an object repr"),
        ("Traceback (most recent call last):", "a traceback"),
    ],
)
def test_bad_output_is_flagged(line, what):
    found = check.problems(page("by reconstruction: {'n_components': 16}", line))
    assert found == [f"{what}: {line}"]


def test_clean_output_and_prose_outside_the_block_pass():
    rst = page("ROC AUC = 0.944; flagged: 1.8% of digits", "ratio 1/2 of 3/4")
    blocks = check.output_blocks(rst)
    assert [[line.strip() for line in b if line.strip()] for b in blocks] == [
        ["ROC AUC = 0.944; flagged: 1.8% of digits", "ratio 1/2 of 3/4"]
    ]
    assert check.problems(rst) == []


def test_main_reports_each_bad_page(tmp_path, capsys):
    (tmp_path / "plot_good.rst").write_text(page("MSE = 0.0257"))
    (tmp_path / "plot_bad.rst").write_text(page("RuntimeWarning: overflow"))
    (tmp_path / "index.rst").write_text(page("UserWarning in an index is ignored"))
    assert check.main([str(tmp_path)]) == 1
    assert (
        capsys.readouterr().err == "plot_bad.rst: a warning: RuntimeWarning: overflow\n"
    )
    (tmp_path / "plot_bad.rst").unlink()
    assert check.main([str(tmp_path)]) == 0
    assert check.main([str(tmp_path / "missing")]) == 2
