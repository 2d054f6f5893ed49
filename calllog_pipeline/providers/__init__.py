"""Provider plugins. Adding a provider: one package beside these, one line in ``REGISTRY``."""

from calllog_pipeline.providers import dialnexa, leadconnector, omnidimension
from calllog_pipeline.providers.base import Provider

REGISTRY: dict[str, Provider] = {
    p.name: p for p in (dialnexa.PROVIDER, leadconnector.PROVIDER, omnidimension.PROVIDER)
}
