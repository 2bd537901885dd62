"""SynthTrack: an offline stand-in for PoseTrack, articulated people in video written in the PoseTrack18 layout."""
from pavenet_lite.data.synthtrack.generate import (PRESETS, SynthTrackPreset, degraded_frames, generate_synthtrack,
                                                   preset_with)

__all__ = ["PRESETS", "SynthTrackPreset", "degraded_frames", "generate_synthtrack", "preset_with"]
