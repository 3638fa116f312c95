"""orders_pipeline: reconcile platform orders against provider callbacks and statements."""

import warnings

# With the spark extra installed, PySpark is imported by the Spark engine and also by Great
# Expectations (which probes for it), and warns on import and on every Arrow UDF that it is not
# yet tested with pandas 3. The pipeline hands PySpark Arrow tables only, never pandas frames,
# so the notice is noise on every run.
warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
