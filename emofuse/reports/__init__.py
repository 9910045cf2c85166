"""Reports: the papers' tables and figures from saved run directories (``emofuse report``)."""

from emofuse.reports.report import ReportOptions
from emofuse.reports.report import build_report
from emofuse.reports.report import render_html
from emofuse.reports.report import render_markdown
from emofuse.reports.run import CrossCorpusSet
from emofuse.reports.run import Run
from emofuse.reports.run import RunDirectoryError
from emofuse.reports.run import load_run

__all__ = [
    "CrossCorpusSet",
    "ReportOptions",
    "Run",
    "RunDirectoryError",
    "build_report",
    "load_run",
    "render_html",
    "render_markdown",
]
