"""Candidate nets shared by the benchmarks (kept apart from the seeds: these measure overhead, not learning)."""

# The cheapest net in the contract: pooling and one linear layer, so a benchmark times the machinery around it.
TRIVIAL = """
import torch
import torch.nn as nn

def supported_hyperparameters():
    return {"lr", "momentum"}

class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_shape[1], out_shape[0]))

    def forward(self, x):
        return self.head(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            self.optimizer.step()
"""

# TRIVIAL that first asks for half of its GPU's memory: more than its share whenever candidates split the card.
GPU_HOG = TRIVIAL.replace(
    "    def learn(self, train_data):\n",
    "    def learn(self, train_data):\n"
    "        total = torch.cuda.get_device_properties(self.device).total_memory\n"
    "        self.hog = torch.empty(total // 2, dtype=torch.uint8, device=self.device)\n",
)
assert GPU_HOG != TRIVIAL
