"""What people read from the published warehouse: the run summary, one order's history, the run log."""
