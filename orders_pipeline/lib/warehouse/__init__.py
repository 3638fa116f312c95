"""The DuckDB warehouse: table contracts, the work database and published snapshot, the run log, publishing."""
