"""Data-quality checks before publishing: structural rules that block, business thresholds that warn.

:mod:`.structural` reduces each blocking rule to exact evidence, :mod:`.gx_suites` has Great
Expectations judge it, :mod:`.blocking` runs one blocking check, :mod:`.data_docs` renders the
results, and :mod:`.thresholds` with :mod:`.alert_sinks` measure, judge and send the warnings.
"""
