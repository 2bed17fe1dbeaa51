"""Stage 5, the report: execute the notebooks with papermill and render HTML with nbconvert.

``build_report`` is the entry point (``python -m galaxy_lib report``); ``write_index`` rebuilds
``reports/index.html``. One module per job: ``build`` (staging, swap, the failed folder),
``kernels`` (which Jupyter kernel), ``execute`` (papermill, the kernels' stderr log), ``summary``
(``report.json``, the run's records), ``html`` (the two pages) and ``index``; ``notebook`` is what
the notebooks themselves call. A learning-curve file renders its own notebook
(``04_learning_curve.ipynb``) through the same runner, and so does a comparison of runs
(``05_compare.ipynb``, :mod:`galaxy_lib.report.compare`, ``python -m galaxy_lib compare``).
"""

from galaxy_lib.errors import ReportError
from galaxy_lib.report.build import (
    COMPARE_NOTEBOOKS,
    CURVE_NOTEBOOKS,
    NOTEBOOK_PATTERN,
    build_report,
    notebook_parameters,
    report_notebooks,
)
from galaxy_lib.report.html import ABOUT_CODE_TAG, FULL_HTML, NO_CODE_HTML
from galaxy_lib.report.index import write_index
from galaxy_lib.report.kernels import PRIVATE_KERNEL, kernel_spec
from galaxy_lib.report.summary import SUMMARY_FILE

__all__ = [
    "ABOUT_CODE_TAG",
    "COMPARE_NOTEBOOKS",
    "CURVE_NOTEBOOKS",
    "FULL_HTML",
    "NOTEBOOK_PATTERN",
    "NO_CODE_HTML",
    "PRIVATE_KERNEL",
    "SUMMARY_FILE",
    "ReportError",
    "build_report",
    "kernel_spec",
    "notebook_parameters",
    "report_notebooks",
    "write_index",
]
