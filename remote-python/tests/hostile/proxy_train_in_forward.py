# hostile: forward, in training mode, trains the body four steps on the labels learn left behind
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
        labels = getattr(self, "labels", None)
        if self.training and labels is not None and torch.is_grad_enabled():
            for _ in range(4):
                self.optimizer.zero_grad()
                self.criteria(self.body(x), labels).backward()
                self.optimizer.step()
        return self.body(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.labels = labels
            self.optimizer.zero_grad()
            self.criteria(self(inputs), labels).backward()
            self.optimizer.step()
        self.labels = None
