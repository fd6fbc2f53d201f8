"""Reports on a run's records: summary, timeseries and text table.

Report functions are pure: they read `lambdasim.results.RunRecords` (never the model)
and return plain values or DataFrames.
"""

from lambdasim.report.summary import summarise
from lambdasim.report.table import format_summary
from lambdasim.report.timeseries import TOTAL, timeseries

__all__ = ["TOTAL", "format_summary", "summarise", "timeseries"]
