"""Videoconference readiness of bridge points: reachability, signalling and path quality."""

from collectors.vc.collector import VideoconferenceCollector

__all__ = ["VideoconferenceCollector"]
