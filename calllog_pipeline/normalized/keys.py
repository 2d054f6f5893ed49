"""What each provider's normalized tables are called in the asset graph.

The key's last component names the provider because the Dagster UI labels a graph node with the
last component only: ``normalized/dialnexa_calls`` shows as ``dialnexa_calls``.
"""

import dagster as dg

GROUP = "normalized"


def normalized_asset_key(provider: str, table: str) -> dg.AssetKey:
    """``normalized/<provider>_<table>``, e.g. ``normalized/leadconnector_actions``."""
    return dg.AssetKey([GROUP, f"{provider}_{table}"])


def normalize_pool(provider: str) -> str:
    """The pool that lets one normalize step per provider run at a time (limit 1, see dagster.yaml)."""
    return f"{provider}_normalize"
