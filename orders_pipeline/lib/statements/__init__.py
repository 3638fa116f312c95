"""Provider statements of a run: the rows that count (:mod:`.effective`), the days that are covered (:mod:`.coverage`).

Landing the files is :mod:`orders_pipeline.lib.inputs.statements`; what the statements mean
for each order is :mod:`orders_pipeline.lib.outcomes.statement_evidence` and the (S) rules in
:mod:`orders_pipeline.lib.outcomes.rules`.
"""
