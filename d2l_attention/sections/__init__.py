# Generated from chapters.yml by `make lib`: DO NOT EDIT.
"""Components of the written sections, in chapter order (each module imports what it
uses from the hand-written library and from earlier sections)."""

from .s10_1_attention_cues import *  # noqa: F403
from .s10_2_nadaraya_watson import *  # noqa: F403
from .s10_3_attention_scoring import *  # noqa: F403
from .s10_4_bahdanau_attention import *  # noqa: F403
from .s10_5_multihead_attention import *  # noqa: F403
from .s10_6_self_attention import *  # noqa: F403
from .s10_7_transformer import *  # noqa: F403
from .s10_8_modern_transformer import *  # noqa: F403
