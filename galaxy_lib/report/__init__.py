"""Stage 4, the report: execute the notebooks with papermill and render HTML with nbconvert.

``build_report`` is the entry point (``python -m galaxy_lib report``); ``write_index`` rebuilds
``reports/index.html``.
"""

from galaxy_lib.report.index import write_index
from galaxy_lib.report.runner import (
    ABOUT_CODE_TAG,
    FULL_HTML,
    NO_CODE_HTML,
    NOTEBOOK_PATTERN,
    PRIVATE_KERNEL,
    SUMMARY_FILE,
    ReportError,
    build_report,
    kernel_spec,
    notebook_parameters,
)

__all__ = [
    "ABOUT_CODE_TAG",
    "FULL_HTML",
    "NOTEBOOK_PATTERN",
    "NO_CODE_HTML",
    "PRIVATE_KERNEL",
    "SUMMARY_FILE",
    "ReportError",
    "build_report",
    "kernel_spec",
    "notebook_parameters",
    "write_index",
]
