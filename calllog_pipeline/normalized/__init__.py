"""Normalized layer: every provider's raw records as four canonical tables (see docs/schema.md)."""

from calllog_pipeline.normalized.assets import Privacy, build_normalized_assets, privacy_from_env

__all__ = ["Privacy", "build_normalized_assets", "privacy_from_env"]
