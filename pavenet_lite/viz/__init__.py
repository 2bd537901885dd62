"""Visualisation: skeletons on frames, clip grids, GIF / MP4 writing and data-set previews."""
from pavenet_lite.viz.clip_grid import as_images, clip_grid, figure_to_array
from pavenet_lite.viz.skeleton import color_for, draw_frame, draw_skeleton, overlay_people, skeleton_edges
from pavenet_lite.viz.video import render_preview_gif, write_gif, write_mp4

__all__ = ["as_images", "clip_grid", "color_for", "draw_frame", "draw_skeleton", "figure_to_array",
           "overlay_people", "render_preview_gif", "skeleton_edges", "write_gif", "write_mp4"]

from pavenet_lite.viz.attention import (ClipAttention, capture_clip, frame_weight_mass,  # noqa: E402
                                        nearest_query, plot_encoder_attention, plot_pose_attention,
                                        pose_attention_figure, pose_query_attention, query_keypoints,
                                        select_samples)
from pavenet_lite.viz.explorer import AttentionExplorer  # noqa: E402

__all__ += ["AttentionExplorer", "ClipAttention", "capture_clip", "frame_weight_mass", "nearest_query",
            "plot_encoder_attention", "plot_pose_attention", "pose_attention_figure", "pose_query_attention",
            "query_keypoints", "select_samples"]
