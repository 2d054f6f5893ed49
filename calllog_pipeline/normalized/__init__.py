"""Normalized layer: each provider's raw records as four canonical tables (see docs/schema.md).

Modules: ``keys`` (asset keys and pools), ``privacy`` (what is pseudonymized), ``writer`` (how a
provider-day is written), ``versions`` (what a day is computed from), ``checks`` (what is verified
after writing), ``assets`` (the per-provider multi-assets that tie them together).
"""

from calllog_pipeline.normalized.assets import build_normalized_asset, build_normalized_assets
from calllog_pipeline.normalized.checks import NormalizeConfig
from calllog_pipeline.normalized.keys import normalize_pool, normalized_asset_key
from calllog_pipeline.normalized.privacy import Privacy, privacy_from_env

__all__ = [
    "NormalizeConfig",
    "Privacy",
    "build_normalized_asset",
    "build_normalized_assets",
    "normalize_pool",
    "normalized_asset_key",
    "privacy_from_env",
]
