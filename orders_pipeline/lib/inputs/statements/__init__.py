"""Provider statements: canonical statement lines and the providers' native layouts, landed like log lines.

:mod:`.ingest` decides what a statement file is (canonical JSON Lines / CSV / Parquet, or a
native layout recognised by its header) and lands it; one module per native layout maps that
layout to canonical statement cells and documents the mapping: :mod:`.alipay` (trade bill),
:mod:`.wechatpay` (trade bill), :mod:`.stripe` (itemized balance reports), :mod:`.adyen`
(settlement details report), :mod:`.paypal` (settlement report, STL); :mod:`.native` holds what
they share and :mod:`.parquet` reads canonical Parquet. The cells then go through the same
validation as every canonical line (:mod:`orders_pipeline.lib.inputs.validation`).

What the landed rows mean for the run (existence, the duplicate-row rule, coverage) is
:mod:`orders_pipeline.lib.statements`.
"""
