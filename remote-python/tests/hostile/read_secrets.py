# hostile: reads the parent's environment and /proc/PPID/environ
# expect: ok
# needs: landlock-1
# launcher: spawn
import torch
import torch.nn as nn
import os

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
        assert "ARCHLOOP_TEST_SECRET" not in os.environ, "the parent's secret leaked into the environment"
        try:
            leaked = open(f"/proc/{os.getppid()}/environ", "rb").read()
        except OSError:
            leaked = b""
        assert b"ARCHLOOP_TEST_SECRET" not in leaked, "read the parent's environment through /proc"

    def forward(self, x):
        return self.body(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            loss = self.criteria(self(inputs), labels)
            loss.backward()
            self.optimizer.step()
