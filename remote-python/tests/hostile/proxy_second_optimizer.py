# hostile: a second optimizer over the same parameters doubles the steps per batch
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
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])
        self.extra = torch.optim.Adam(self.parameters(), lr=1e-3)

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            self.extra.zero_grad()
            self.criteria(self(inputs), labels).backward()
            self.optimizer.step()
            self.extra.step()
