"""What a provider's daily run includes: that provider's whole chain, raw to QA, selected by tag.

One job per provider, so an outage or a bad key at one provider fails only that provider's run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dagster as dg

from calllog_pipeline.automation.alerts import PROVIDER_TAG


def job_name(provider: str) -> str:
    return f"{provider}_daily"


def provider_job(provider: str, excluded_checks: Sequence[dg.AssetChecksDefinition] = ()):
    """``excluded_checks``: checks evaluated elsewhere (the freshness checks have their own sensor)."""
    # Partitioned by the shared daily partitions of the assets it selects.
    return dg.define_asset_job(
        job_name(provider),
        selection=dg.AssetSelection.tag(PROVIDER_TAG, provider) - dg.AssetSelection.checks(*excluded_checks),
        tags={PROVIDER_TAG: provider},
        description=f"Every {provider} asset for the selected days: raw pages, normalized tables, QA.",
    )


def provider_jobs(
    providers: Iterable[str], excluded_checks: Sequence[dg.AssetChecksDefinition] = ()
) -> list[dg.UnresolvedAssetJobDefinition]:
    return [provider_job(p, excluded_checks) for p in providers]
