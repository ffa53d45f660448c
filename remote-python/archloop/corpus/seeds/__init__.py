"""The seed corpus: one small CIFAR-10 net per classic architecture family, written in the LEMUR contract.

Each sibling `.py` file is one net's complete source, exactly as an LLM would be asked to write it; its first line
is `# family: <name>`. The files are read as text (never imported), because what the loop needs is the code: as
tokenizer/model pre-training text, as novelty-index corpus, and as examples in prompts. Every net is <= 300,000
parameters and accepts both 32x32 and the paper's 256x256 input (adaptive pooling before the classifier).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

FAMILY_PREFIX = "# family:"


@dataclass(frozen=True)
class SeedNet:
    """One seed net: `name` is its file stem, `family` the architecture family it exemplifies, `code` its source."""

    name: str
    family: str
    code: str


def load_seed_corpus() -> list[SeedNet]:
    """All seed nets, sorted by name.

    Raises ValueError naming the file if a seed file lacks its `# family:` first line (a packaging mistake,
    caught by the tests, never by users).
    """
    seeds: list[SeedNet] = []
    for entry in resources.files(__package__).iterdir():
        if not entry.name.endswith(".py") or entry.name.startswith("_"):
            continue
        code = entry.read_text(encoding="utf-8")
        first_line = code.split("\n", 1)[0]
        if not first_line.startswith(FAMILY_PREFIX):
            raise ValueError(f"seed file {entry.name} must start with '{FAMILY_PREFIX} <name>'")
        family = first_line[len(FAMILY_PREFIX) :].strip()
        seeds.append(SeedNet(name=entry.name[: -len(".py")], family=family, code=code))
    return sorted(seeds, key=lambda seed: seed.name)
