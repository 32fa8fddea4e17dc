"""Fleet scanning: thousands of models in one resumable batch, on local processes or a Dask cluster.

The public surface, used by ``model-inspector scan`` when it is given several models, a folder of models or a
manifest::

    units = discover(paths, manifests=[...], include=[...], exclude=[...])
    run = run_batch(units, FleetOptions(out=Path("fleet-out"), scan=ScanOptions(), jobs=0, dask=None))
    write_sarif(run.docs, out / "results.sarif"); write_index(run.docs, out)
    exit_status(summarize(run.docs), fail_on_error=False)
"""

from inspector.fleet.batch import FleetOptions, FleetRun, run_batch
from inspector.fleet.discover import Unit, discover, is_one_model, read_manifest, walk
from inspector.fleet.executors import default_jobs
from inspector.fleet.index_html import REPORTS, render_index, report_name, write_index
from inspector.fleet.sarif import SARIF, sarif_log, write_sarif
from inspector.fleet.store import ERROR_SCHEMA, RESULTS, Journal
from inspector.fleet.summary import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    EXIT_SUSPICIOUS,
    Summary,
    exit_status,
    format_summary,
    is_error,
    summarize,
    verdict_of,
)

__all__ = [
    "ERROR_SCHEMA",
    "EXIT_ERROR",
    "EXIT_INCOMPLETE",
    "EXIT_SUSPICIOUS",
    "REPORTS",
    "RESULTS",
    "SARIF",
    "FleetOptions",
    "FleetRun",
    "Journal",
    "Summary",
    "Unit",
    "default_jobs",
    "discover",
    "exit_status",
    "format_summary",
    "is_error",
    "is_one_model",
    "read_manifest",
    "render_index",
    "report_name",
    "run_batch",
    "sarif_log",
    "summarize",
    "verdict_of",
    "walk",
    "write_index",
    "write_sarif",
]
