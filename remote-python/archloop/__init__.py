"""ArchLoop backend: the closed loop of an LLM designing CIFAR-10 networks (see the project README)."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
