"""The recipe model: what to run, what clients call it, and how it sleeps and wakes."""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from autosred.config import Duration
from autosred.recipes.priority import PriorityRule

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


def _split_command(value: object) -> object:
    if isinstance(value, str):
        return shlex.split(value)
    return value


Command = Annotated[list[str], BeforeValidator(_split_command)]


class Reasoning(BaseModel):
    """How Anthropic ``thinking`` / ``output_config.effort`` reach the model's chat template.

    Model families switch reasoning differently, so this is per recipe: Qwen3 and GLM templates
    read ``enable_thinking``, DeepSeek-V3.1+ reads ``thinking``; gpt-oss reads
    ``reasoning_effort``; newer vLLM caps reasoning with ``thinking_token_budget``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    template_switch: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """``chat_template_kwargs`` key set true/false from ``thinking.type`` (enabled/adaptive vs
    disabled); None: the template's own default is left alone."""
    effort: bool = True
    """Forward ``output_config.effort`` as vLLM's ``reasoning_effort``."""
    budget: bool = False
    """Forward ``thinking.budget_tokens`` as vLLM's ``thinking_token_budget`` (vLLM builds
    without it reject the field)."""


class GpuNeeds(BaseModel):
    """What a model needs of the host's GPUs; used to share them between recipes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(default=1, ge=0)
    """GPUs the server uses (nvidia.com/gpu in Kubernetes). Models whose counts together
    exceed scaler.gpu_capacity do not run at once: waking one switches the other out. 0: the
    model needs no GPU (a remote or CPU server) and never takes part in switching."""
    min_free_vram_gib: float | None = Field(default=None, gt=0)
    """Wake only when this much GPU memory is free (NVML; memory used outside autosred
    counts). None, or no NVML on the host: not checked."""


_IMAGE = r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$"
_QUANTITY = r"^[0-9]+(\.[0-9]+)?([KMGTPE]i?|[mkMGTPE])?$"


class ServiceSpec(BaseModel):
    """The Service in front of a recipe's pod (kubernetes engine)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster_ip: str | None = None
    """Pin the Service's ClusterIP (an address in the cluster's service range), so clients
    configured with it survive the Service being recreated; null: Kubernetes assigns one."""
    port: int = Field(default=8000, ge=1, le=65535)
    """The Service's port (it forwards to the container's port)."""

    @field_validator("cluster_ip")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address") from None
        return value


class Recipe(BaseModel):
    """One model deployment. Keys are documented in etc/autosred/recipes.d/README.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """Identifier: lower-case letters, digits, '.', '_' and '-' (it names files, pods, metrics)."""
    served_model_name: str = ""
    """The model name the upstream server answers to; defaults to ``name``."""
    model: str | None = None
    """Model repository (e.g. Qwen/Qwen3-8B) the server loads."""
    revision: str | None = None
    aliases: list[str] = []
    """Other client-facing names; shell-style globs allowed (``claude-*``)."""
    claude_label: str | None = None
    """The claude-* id advertised on /v1/models for Claude Code's model picker."""
    idle_timeout: Duration = 600.0
    """Scale down after this long with no request in flight; 0 = never."""
    wake_budget: Duration = 300.0
    """A wake that takes longer than this fails and is reported to held clients."""
    hold_cap: int = Field(default=32, ge=0)
    """At most this many requests wait for a wake; more get 503 with Retry-After."""
    max_model_len: int | None = Field(default=None, gt=0)
    """Context length, when the upstream does not report it."""
    command: Command | None = None
    """process engine: argv of the server, with {port}, {host}, {name}, {served_model_name},
    {model} and {python} substituted. A string is split like a shell would."""
    env: dict[str, str] = {}
    """Extra environment of the server: the process engine's child, the kubernetes
    engine's container."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """process engine: a fixed port (by default a free one is picked at each start);
    kubernetes engine: the container's port (default 8000)."""
    url: str | None = None
    """static engine: this recipe's server, overriding engine.url."""
    image: str | None = Field(default=None, pattern=_IMAGE)
    """kubernetes engine: the server's container image, by tag (vllm/vllm-openai:v0.24.0) or
    pinned by digest (…@sha256:…). The digest a tag resolved to is recorded on the
    Deployment once seen; a pod later running another digest is reported as drift."""
    vllm_args: Command = []
    """Arguments after ``vllm serve MODEL --served-model-name … --host … --port …`` (the
    kubernetes container's args; the process engine's command when ``command`` is unset). A
    string is split like a shell would."""
    service: ServiceSpec = ServiceSpec()
    """kubernetes engine: the model's Service (``cluster_ip`` pinned or assigned, ``port``)."""
    hf_cache: str | None = Field(default="/var/cache/autosred/huggingface", pattern=r"^/")
    """kubernetes engine: host directory mounted as the container's Hugging Face cache (so a
    model is downloaded once per node); null: no cache volume."""
    shm_size: str = Field(default="8Gi", pattern=_QUANTITY)
    """kubernetes engine: size of the in-memory /dev/shm (vLLM's workers share tensors there)."""
    runtime_class: str | None = None
    """kubernetes engine: the pod's runtimeClassName, e.g. ``nvidia`` on a k3s node whose
    default container runtime is not NVIDIA's; null: the cluster's default."""
    reasoning: Reasoning = Reasoning()
    """How requested thinking reaches the chat template (see Reasoning)."""
    images: Literal["forward", "placeholder", "reject"] = "forward"
    """Image input: forward to the model; or, for a text-only model, replace each image by a
    placeholder text, or reject the request (400)."""
    documents: Literal["placeholder", "reject"] = "placeholder"
    """PDF and URL documents (text documents are always forwarded as text): a placeholder
    text, or reject the request (400)."""
    gpu: GpuNeeds = GpuNeeds()
    """GPU needs: ``count`` and ``min_free_vram_gib`` (see GpuNeeds)."""
    priority: list[PriorityRule] = []
    """Rules mapping a request to vLLM's ``priority`` (first match wins; none: not sent). Only
    for a server run with ``--scheduling-policy priority``: vLLM rejects a non-zero priority
    otherwise."""

    @model_validator(mode="after")
    def _check(self) -> Recipe:
        if not _NAME.match(self.name):
            raise ValueError(
                f"name {self.name!r} must be lower-case letters, digits, '.', '_' or '-' "
                "(at most 63, starting and ending with a letter or digit)"
            )
        if not self.served_model_name:
            object.__setattr__(self, "served_model_name", self.name)
        return self

    def client_names(self) -> list[str]:
        """Every literal name a client may send (no globs), in a stable order."""
        names = [self.name, self.served_model_name]
        if self.claude_label:
            names.append(self.claude_label)
        names += [alias for alias in self.aliases if not _is_glob(alias)]
        return list(dict.fromkeys(names))


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")
