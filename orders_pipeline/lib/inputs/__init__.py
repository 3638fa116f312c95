"""Inputs: order, callback and statement files become landed, rejected or ignored records, each file parsed once.

Modules, in the order a file travels through them:

- :mod:`.discovery` finds the files of one kind and their reading order;
- :mod:`.manifest` decides which files need parsing (new, changed, removed, re-delivered) and
  keeps the landed lines in step with the folders;
- :mod:`.ingest` parses one file in parallel chunks into a sink (:mod:`.sinks`);
- :mod:`.reading`, :mod:`.lines` and :mod:`.csv_records` turn bytes into lines and records;
- :mod:`.extraction` pulls every field's text out of a line (DuckDB JSON, or CSV cells),
  with :mod:`.json_numbers` for the rare values only Python's json can read exactly;
- :mod:`.validation` applies the rules (:mod:`.fields` names the fields and their shapes) and
  :mod:`.messages` words each rejection;
- :mod:`.statements` reads statement files: canonical ones as above, Parquet, and the providers'
  native layouts (one module each), mapped to canonical cells and validated the same way.
"""
