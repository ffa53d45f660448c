"""Chat-format prompts of the paper (docs/METHOD.md, settings: "prompt") and the prompt/completion pairs used for fine-tuning.

One prompt is used for every candidate and every cycle (the paper holds prompts fixed). It has three parts:
the system text, the user text with the REQUIRED FORMAT block (the LEMUR API contract), and a forced assistant prefix
(a ```python fence, the imports and the header of `supported_hyperparameters()`), so every completion continues the
same first lines. The fence marks where the code ends: fine-tuning targets close it, generation stops at the closing
fence (`PromptSpec.stop_marker`), and instruct models, which write markdown anyway, close it themselves instead of
going on into prose. What a reply holds beyond the code is removed by `reply.extract_code`.

Rendering uses the tokenizer's chat template when it has one: the forced prefix is rendered as the start of the
assistant's reply, so it sits exactly where the template puts a reply's text (for DeepSeek-LLM's "Assistant: {reply}"
that is one space past the bare generation prompt "Assistant:"), and nothing the template writes after a reply (its
end-of-turn token) is kept. Tokenizers without a template (tiny test tokenizers, base models) get `PLAIN_TEMPLATE`, a
documented plain-text layout:

    <bos>### System:\\n{system}\\n\\n### User:\\n{user}\\n\\n### Assistant:\\n{forced prefix}

A fine-tuning pair is (the same rendered prompt, the code after the forced prefix + the closing fence), so training and
sampling see the exact same token boundary: the prompt is tokenized alone, then the completion.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from archloop.pysource import parse_source

SYSTEM_TEXT = (
    "You are an expert PyTorch architecture designer. You design a UNIQUE neural network, unlike the well-known "
    "ones, optimised for the highest first-epoch accuracy (accuracy after a single epoch of training). Answer with Python code only."
)

CONTRACT_BLOCK = """REQUIRED FORMAT (the code must follow this API exactly):
```python
def supported_hyperparameters():          # module level; values of prm are in [0, 1]
    return {'lr', 'momentum'}             # plus 'dropout', 'weight_decay' only if used

class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None: ...
        # channels = in_shape[1], classes = out_shape[0]
    def forward(self, x): ...
    def train_setup(self, prm): ...       # moves to device, sets self.criteria and self.optimizer
    def learn(self, train_data): ...      # one pass over an iterable of (inputs, labels) batches
```
The trainer calls Net(in_shape, out_shape, prm, device), then train_setup(prm), then learn(batches), then measures
accuracy on the test set itself."""

USER_TEXT = (
    "Design a NOVEL computer-vision model for CIFAR-10 image classification: inputs are 32x32 images with 3 channels, "
    "10 classes. The model must have at most 300,000 parameters. Return one complete Python module.\n\n"
    + CONTRACT_BLOCK
)

# The imports every net may rely on, then the header of the function the contract requires first.
CODE_PREFIX = (
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\ndef supported_hyperparameters():\n"
)
FENCE_OPEN = "```python\n"
FENCE_CLOSE = "```"
FORCED_PREFIX = FENCE_OPEN + CODE_PREFIX
_PREFIX_IMPORTS = frozenset({"import torch", "import torch.nn as nn", "import torch.nn.functional as F"})

# Jinja chat template given to tokenizers built here (the demo model's); same layout as PLAIN_TEMPLATE. Newlines are
# written as expressions because transformers renders templates with trim_blocks (a newline after a tag is dropped).
SIMPLE_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}### System:\n{% elif message['role'] == 'user' %}### User:\n"
    "{% else %}### Assistant:\n{% endif %}{{ message['content'] }}"
    "{% if message['role'] != 'assistant' %}{{ '\\n\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}### Assistant:\n{% endif %}"
)
PLAIN_TEMPLATE = "{bos}### System:\n{system}\n\n### User:\n{user}\n\n### Assistant:\n"


class PromptError(ValueError):
    """Code that cannot become a training pair (does not parse, or lacks `supported_hyperparameters`)."""


class ChatTokenizer(Protocol):
    """The part of a Hugging Face tokenizer that rendering needs."""

    chat_template: Any
    bos_token: Any

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class PromptSpec:
    """The fixed prompt of a run; the defaults are the paper's."""

    system: str = SYSTEM_TEXT
    user: str = USER_TEXT
    forced_prefix: str = FORCED_PREFIX

    @property
    def fenced(self) -> bool:
        """The forced prefix opens a markdown fence, so the code ends at the closing one."""
        return self.forced_prefix.startswith(FENCE_CLOSE)

    @property
    def code_prefix(self) -> str:
        """The code part of the forced prefix: without its opening fence line, if it has one."""
        if not self.fenced:
            return self.forced_prefix
        _, _, code = self.forced_prefix.partition("\n")
        return code

    @property
    def stop_marker(self) -> str | None:
        """Text that ends generation: a closing fence at the start of a line (None without a fence)."""
        return "\n" + FENCE_CLOSE if self.fenced else None


class TrainingPair(NamedTuple):
    """One fine-tuning example: the loss is computed on `completion` only."""

    prompt: str
    completion: str


def chat_messages(spec: PromptSpec = PromptSpec()) -> list[dict[str, str]]:
    return [{"role": "system", "content": spec.system}, {"role": "user", "content": spec.user}]


def render_prompt(tokenizer: ChatTokenizer | None, spec: PromptSpec = PromptSpec()) -> str:
    """The text the model is given: chat-rendered system + user turns, the assistant header, the forced prefix.

    Uses the tokenizer's chat template if it has one, else `PLAIN_TEMPLATE`. A chat template that fails to render
    (some reject a system role) falls back to folding the system text into the user turn, then to the plain layout.
    """
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        for messages in (chat_messages(spec), [{"role": "user", "content": f"{spec.system}\n\n{spec.user}"}]):
            text = _render_with_reply_start(tokenizer, messages, spec.forced_prefix)
            if text is not None:
                return text
    bos = getattr(tokenizer, "bos_token", None) if tokenizer is not None else None
    return PLAIN_TEMPLATE.format(bos=bos or "", system=spec.system, user=spec.user) + spec.forced_prefix


# Marks the end of the forced prefix inside a rendered reply; private-use characters, so no template or prompt has it.
_PREFIX_END = "\ue000archloop:end-of-forced-prefix\ue000"


def _render_with_reply_start(tokenizer: ChatTokenizer, messages: list[dict[str, str]], prefix: str) -> str | None:
    """`messages`, then the assistant turn cut right after `prefix`, its first text; None if the template fails.

    The turn is rendered with `prefix` as its content and cut at a marker after it, so the prefix sits where the
    template puts a reply (which need not be right after its generation prompt). A template that cannot render an
    assistant turn, or alters its text, gets the generation prompt followed by `prefix`.
    """
    reply = {"role": "assistant", "content": prefix + _PREFIX_END}
    try:
        text = tokenizer.apply_chat_template([*messages, reply], tokenize=False)
    except Exception:  # jinja raises its own types, e.g. "System role not supported"
        text = None
    if isinstance(text, str) and text.count(_PREFIX_END) == 1:
        head = text[: text.index(_PREFIX_END)]
        if head.endswith(prefix):
            return head
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception:
        return None
    return text + prefix if isinstance(text, str) else None


def completion_after_prefix(code: str, spec: PromptSpec = PromptSpec()) -> str:
    """The part of `code` a model would generate after the forced prefix.

    Code that already starts with the prefix (with or without its opening fence) is cut there. Other code is normalised: the imports the prefix provides
    are dropped, the body of `supported_hyperparameters()` comes first, then everything else in its original order
    (extra imports stay at module level, which Python allows anywhere). Raises PromptError if the code does not
    parse or has no module-level `supported_hyperparameters` function.
    """
    for prefix in (spec.forced_prefix, spec.code_prefix):
        if prefix and code.startswith(prefix):
            return code[len(prefix) :]
    try:
        tree = parse_source(code)
    except SyntaxError as error:
        raise PromptError(f"code does not parse (line {error.lineno}): {error.msg}") from error
    function = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "supported_hyperparameters"), None
    )
    if function is None:
        raise PromptError("code has no module-level supported_hyperparameters() function")
    if function.decorator_list or function.args.args or function.body[0].lineno == function.lineno:
        raise PromptError("supported_hyperparameters() must be a plain `def supported_hyperparameters():` block")
    lines = code.splitlines(keepends=True)
    dropped: set[int] = set(range(function.lineno - 1, function.end_lineno or function.lineno))
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom) and ast.unparse(node) in _PREFIX_IMPORTS:
            dropped.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    body = "".join(lines[function.body[0].lineno - 1 : function.end_lineno])
    rest = "".join(line for index, line in enumerate(lines) if index not in dropped).strip("\n")
    return body.rstrip("\n") + "\n\n\n" + rest + "\n"


def training_pair(code: str, tokenizer: ChatTokenizer | None = None, spec: PromptSpec = PromptSpec()) -> TrainingPair:
    """(prompt, completion) for fine-tuning: the generation prompt, and `code` after the forced prefix.

    With a fenced prefix the completion ends with the closing fence, the point where generation stops. `code` must be
    extracted code (`reply.extract_code`), never a raw reply. `prompt + completion` is then a fenced module equivalent
    to `code`. Raises PromptError for code that cannot be cut.
    """
    completion = completion_after_prefix(code, spec)
    if spec.fenced:
        completion = completion.rstrip("\n") + "\n" + FENCE_CLOSE
    return TrainingPair(render_prompt(tokenizer, spec), completion)
