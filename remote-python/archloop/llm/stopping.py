"""Stop each row of a sampled batch as soon as its generated text contains a marker (the closing code fence).

transformers ends a row when a stopping criterion returns True for it and pads it from then on, while the other rows
go on. Each step decodes only the row's last few tokens (the marker is a few characters, so it lies within them the
step it is completed), so the check costs O(batch) per step, not O(length).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria

_WINDOW_TOKENS = 8  # > the tokens of any marker: each holds at least one byte
_CONTEXT_TOKENS = 2  # prompt tokens decoded before the first generated ones, so a marker may start with the prompt's
# last newline; a match must still end in generated text


class StopAtMarker(StoppingCriteria):
    """`stopped[row]` is the number of generated tokens of `row` up to and including the one completing `marker`."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, marker: str, prompt_length: int) -> None:
        if not marker:
            raise ValueError("the stop marker must not be empty")
        self.tokenizer = tokenizer
        self.marker = marker
        self.prompt_length = prompt_length
        self.stopped: dict[int, int] = {}

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        length = input_ids.shape[1]
        generated = length - self.prompt_length
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if generated <= 0:
            return done
        start = max(self.prompt_length - _CONTEXT_TOKENS, length - _WINDOW_TOKENS)
        window = input_ids[:, start:].tolist()
        context = max(0, self.prompt_length - start)
        for row, tokens in enumerate(window):
            if row in self.stopped:
                done[row] = True
                continue
            text = self._decode(tokens)
            context_text = self._decode(tokens[:context]) if context else ""
            # Only a match that ends after the context counts (the prompt may itself hold the marker).
            if text.find(self.marker, max(0, len(context_text) - len(self.marker) + 1)) >= 0:
                self.stopped[row] = generated
                done[row] = True
        return done
