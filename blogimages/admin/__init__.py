"""The Django admin for every blogimages model, one module per part of the desk.

Importing the package registers them all (Django's admin autodiscovery imports
`blogimages.admin`); the classes stay importable from here.
"""

from .batches import GenerationBatchAdmin
from .chat import ChatThreadAdmin, LlmCallAdmin, StyleGuideAdmin
from .events import ReviewEventAdmin
from .images import ImageOutputAdmin, KindFilter
from .library import BoardAdmin, PromptRunAdmin
from .presets import (
    ComfyWorkflowAdmin,
    ImagePromptAdmin,
    ImagePromptExampleAdmin,
    ImageSettingAdmin,
    WatermarkPresetAdmin,
)
from .tokens import ApiTokenAdmin

__all__ = [
    "ApiTokenAdmin", "BoardAdmin", "PromptRunAdmin", "ChatThreadAdmin", "ComfyWorkflowAdmin", "LlmCallAdmin", "StyleGuideAdmin", "GenerationBatchAdmin", "ImageOutputAdmin", "ImagePromptAdmin",
    "ImagePromptExampleAdmin", "ImageSettingAdmin", "KindFilter", "ReviewEventAdmin", "WatermarkPresetAdmin",
]
