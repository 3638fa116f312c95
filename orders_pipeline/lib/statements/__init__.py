"""Provider statements for a run: which landed rows exist and count (:mod:`.effective`), which days are covered (:mod:`.coverage`).

Landing the files is :mod:`orders_pipeline.lib.inputs.statements`; what the statements mean
for each order is :mod:`orders_pipeline.lib.outcomes.statement_evidence` and the (S) rules in
:mod:`orders_pipeline.lib.outcomes.rules`.
"""
