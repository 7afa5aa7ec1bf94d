"""`homeroom live`'s audio and video from its settings: off without Janus URLs, on with them (docs/configuration.md#audio-and-video)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from homeroom.backends.av_placement import MemoryPlacement
from homeroom.config import Settings
from homeroom.core.ladder import LOAD_LIMITS, LoadLimits
from homeroom.live.avceiling import CeilingSettings
from homeroom.live.process import av_relay

SECRETS = {"janus_api_secret": "a" * 24, "janus_admin_key": "b" * 24}


def test_no_janus_urls_no_audio_or_video() -> None:
    assert not av_relay(Settings()).enabled


def test_janus_urls_turn_it_on_with_their_secrets() -> None:
    settings = Settings(janus_urls="ws://10.0.3.5:8188, ws://10.0.3.6:8188", **SECRETS)
    relay = av_relay(settings)
    assert relay.enabled and isinstance(relay.placement, MemoryPlacement)
    assert relay.settings is not None
    assert relay.settings.urls == ("ws://10.0.3.5:8188", "ws://10.0.3.6:8188")
    assert (relay.settings.api_secret, relay.settings.admin_key) == ("a" * 24, "b" * 24)


def test_the_instances_load_marks_reach_the_relay() -> None:
    settings = Settings(
        janus_urls="ws://10.0.3.5:8188",
        janus_cores=4,
        janus_pps_high=30_000,
        janus_pps_low=20_000,
        janus_cpu_high=0.7,
        janus_cpu_low=0.5,
        **SECRETS,
    )
    relay = av_relay(settings)
    assert relay.settings is not None and relay.ceilings is not None
    assert relay.settings.ceiling.cores == 4
    assert relay.settings.ceiling.limits == LoadLimits(
        pps_high=30_000, pps_low=20_000, cpu_high=0.7, cpu_low=0.5
    )
    assert relay.ceilings.settings is relay.settings.ceiling
    plain = av_relay(Settings(janus_urls="ws://a:1", **SECRETS)).settings
    assert plain is not None and plain.ceiling == CeilingSettings(LOAD_LIMITS, cores=1)


@pytest.mark.parametrize(
    "values",
    [
        {"janus_urls": "ws://10.0.3.5:8188"},  # no secrets
        {"janus_urls": "http://10.0.3.5:8088", **SECRETS},  # not Janus's WebSocket API
        {"janus_pps_low": 50_000},  # above its high mark
        {"janus_cpu_high": 0.5},  # below its low mark
        {"janus_cpu_high": 1.5},  # more than every core
        {"janus_cores": 0},
    ],
)
def test_wrong_janus_settings_are_refused(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match=r"(?i)janus"):
        Settings(**values)
