"""The Dagster code location: assets per layer, resources from the environment, automation.

Which providers, which days and where the lake lives come from ``Settings`` (environment
variables, ``.env`` supported by ``dagster dev``); secrets stay ``EnvVar`` references.
"""

import warnings

import dagster as dg

from calllog_pipeline.automation import AlertChannels, AutomationSettings, build_automation, freshness_policy
from calllog_pipeline.automation.retries import outage_retry_policy
from calllog_pipeline.executor import in_process_by_default
from calllog_pipeline.instance import executor_from_env
from calllog_pipeline.lake import Lake
from calllog_pipeline.normalized import build_normalized_assets, privacy_from_env
from calllog_pipeline.providers import REGISTRY
from calllog_pipeline.qa.assets import build_qa_assets
from calllog_pipeline.raw.assets import build_raw_asset
from calllog_pipeline.settings import Settings


def build_definitions(
    settings: Settings, alerts: AlertChannels | None = None, automation: AutomationSettings | None = None
) -> dg.Definitions:
    automation = automation or AutomationSettings.from_env()
    providers = [REGISTRY[name] for name in settings.providers]
    partitions = dg.DailyPartitionsDefinition(
        start_date=settings.start_date.isoformat(), timezone=settings.timezone
    )
    # Per-provider chains: each provider's raw assets feed only its own normalize_<provider> step,
    # so one provider's failure never blocks another's (see docs/operations.md).
    retry = outage_retry_policy(automation)
    with warnings.catch_warnings():
        # BackfillPolicy on @asset is a Dagster beta that the raw layer relies on by design (one run,
        # one client and one rate limit per ranged backfill); its notice would print on every load.
        warnings.filterwarnings("ignore", "Parameter `backfill_policy`", dg.BetaWarning)
        raw = [build_raw_asset(p, endpoint, partitions, retry) for p in providers for endpoint in p.endpoints]
    normalized = build_normalized_assets(providers, partitions)
    qa = [build_qa_assets(p.name, partitions) for p in providers]
    assets = dg.map_asset_specs(
        lambda spec: spec.replace_attributes(freshness_policy=freshness_policy()), [*raw, *normalized, *qa]
    )
    auto = build_automation(providers, assets, partitions, settings.lookback_days, automation)
    return dg.Definitions(
        assets=assets,
        asset_checks=auto.asset_checks,
        jobs=auto.jobs,
        # Steps in the run's process (calllog_pipeline/executor.py); per-step pods on Kubernetes.
        executor=executor_from_env() or in_process_by_default,
        schedules=auto.schedules,
        sensors=auto.sensors,
        resources={
            "lake": Lake(root=settings.data_dir),
            "privacy": privacy_from_env(),
            "alerts": alerts or AlertChannels.from_env(),
            **{p.name: p.api() for p in providers},
        },
    )


defs = build_definitions(Settings.from_env())
