"""Reports: the papers' tables and figures from saved run directories (``emofuse report``)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "report": [
        "ReportOptions",
        "build_report",
        "render_html",
        "render_markdown",
    ],
    "run": [
        "CrossCorpusSet",
        "Run",
        "RunDirectoryError",
        "load_run",
    ],
})
