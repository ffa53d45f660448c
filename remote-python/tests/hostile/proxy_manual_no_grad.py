# hostile: no optimizer: three hand-written SGD updates per batch under no_grad, one backward
# expect: proxy_violation
import torch
import torch.nn as nn

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
        self.lr = prm["lr"]

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.zero_grad()
            self.criteria(self(inputs), labels).backward()
            with torch.no_grad():
                for _ in range(3):
                    for p in self.parameters():
                        p -= self.lr * p.grad
