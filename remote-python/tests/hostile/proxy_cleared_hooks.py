# hostile: empties torch's global optimizer hooks and the net's forward hooks, then steps three times per batch
# expect: proxy_violation
import torch
import torch.nn as nn
from torch.optim import optimizer as optim_module

def supported_hyperparameters():
    return {"lr", "momentum"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.body = nn.Sequential(
            nn.Conv2d(in_shape[1], 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(8, out_shape[0]),
        )

    def forward(self, x):
        return self.body(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data):
        optim_module._global_optimizer_pre_hooks.clear()
        optim_module._global_optimizer_post_hooks.clear()
        self._forward_pre_hooks.clear()
        for inputs, labels in train_data:
            for _ in range(3):
                self.optimizer.zero_grad()
                self.criteria(self(inputs), labels).backward()
                self.optimizer.step()
