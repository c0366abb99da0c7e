"""What a translating surface needs to know about the served model, read off its recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from autosred.recipes import Recipe

ImagePolicy = Literal["forward", "placeholder", "reject"]
DocumentPolicy = Literal["placeholder", "reject"]


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    """What the model cannot read, and what becomes of it in a request."""

    images: ImagePolicy = "forward"
    """Images for a text-only model: "placeholder" text or "reject" (400)."""
    documents: DocumentPolicy = "placeholder"
    """Documents and files without a text source (PDF, URL): "placeholder" text or "reject"."""


@dataclass(frozen=True, slots=True)
class ModelView:
    """What the mappers need to know about the served model (built from the recipe)."""

    served_model_name: str
    """The upstream ``model``; the client's name is only echoed back in responses."""
    reasoning_switch: str | None = None
    """``chat_template_kwargs`` key that turns thinking on/off (``enable_thinking`` for
    Qwen3/GLM, ``thinking`` for DeepSeek-V3.x); None: the client's choice is not forwarded."""
    reasoning_effort: bool = True
    """Forward the client's effort as ``reasoning_effort`` (gpt-oss and others use it)."""
    thinking_token_budget: bool = False
    """Forward Anthropic's ``thinking.budget_tokens`` as vLLM's ``thinking_token_budget``
    (newer vLLM); the Responses API has no budget."""
    images: ImagePolicy = "forward"
    documents: DocumentPolicy = "placeholder"

    @property
    def media(self) -> MediaPolicy:
        return MediaPolicy(images=self.images, documents=self.documents)


def model_view(recipe: Recipe) -> ModelView:
    return ModelView(
        served_model_name=recipe.served_model_name,
        reasoning_switch=recipe.reasoning.template_switch,
        reasoning_effort=recipe.reasoning.effort,
        thinking_token_budget=recipe.reasoning.budget,
        images=recipe.images,
        documents=recipe.documents,
    )
