"""How a run executes its steps: in the run's own process unless the run asks otherwise.

Dagster's default executor starts a Python process per step, and each one imports Dagster and
loads the code location again (2-3 CPU-s on a small machine): for one provider-day that was more
CPU than fetching and normalizing the day (docs/benchmarks.md, section 5). Running the steps in
the run process keeps every guarantee users rely on, because those live elsewhere:

* one provider's failure never blocks another: each provider has its own job and runs
  (``<provider>_daily``); inside one run a failed step skips only its own downstream steps;
* pools (``<provider>_api``, ``<provider>_normalize``) are claimed per step from the instance,
  whatever the executor;
* retry policies (provider outages) are honoured by the in-process executor too.

What a run gives up is a process boundary between its own steps (a step that crashes the
interpreter ends its run, and the run monitor marks it failed) and parallel steps within one run;
a provider's steps are sequential anyway (its raw assets share one pool slot, normalize waits for
them). A run can still ask for a process per step with run config ``execution: config:
multiprocess: {}``; on Kubernetes ``CALLLOG_EXECUTOR=k8s`` gives each step its own pod.
"""

from __future__ import annotations

import dagster as dg


def _requirements(config: dict) -> list:
    return dg.multiple_process_executor_requirements() if "multiprocess" in config else []


# Dagster's multi_or_in_process executor, with in_process as the default instead of multiprocess.
in_process_by_default = dg.executor(
    name="in_process_by_default",
    config_schema=dg.Field(
        dg.Selector(
            {
                "in_process": dg.in_process_executor.config_schema.as_field(),
                "multiprocess": dg.multiprocess_executor.config_schema.as_field(),
            }
        ),
        default_value={"in_process": {}},
    ),
    requirements=_requirements,
)(dg.multi_or_in_process_executor.executor_creation_fn)
