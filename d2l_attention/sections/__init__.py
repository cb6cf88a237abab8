# Generated from chapters.yml by `make lib`: DO NOT EDIT.
"""Components of the written sections, imported in chapter order."""

from .s10_1_attention_cues import *  # noqa: F403
