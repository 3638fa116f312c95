"""Outcomes: each order's outcome, flags and action as of the run, evaluated by order day.

:mod:`.rules` holds the rules (plain Polars, no I/O) over :mod:`.effective_callbacks`;
:mod:`.order_days` decides which days a run evaluates, :mod:`.batches` splits them into hash
batches of ``order_id``, :mod:`.store` writes the outcomes, and :mod:`.evaluation` runs the
whole step.
"""
