"""What any Dagster run costs here: one daily-partitioned asset that does nothing, no checks.

Section 5 materializes it exactly as it materializes a provider-day (``dagster asset materialize``,
the project's instance, steps in the run's process), so the table shows how much of our
process is Dagster's own start-up, run and event log, whatever the pipeline does.
"""

import dagster as dg


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2020-01-01"))
def noop() -> dg.MaterializeResult:
    return dg.MaterializeResult()


defs = dg.Definitions(assets=[noop], executor=dg.in_process_executor)
