# hostile: an LR scheduler whose step() also steps the optimizer through SGD.step's unwrapped function (no hooks)
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
        raw_step = type(self.optimizer).step.__wrapped__  # the step without torch's hook wrapper
        optimizer = self.optimizer

        class Schedule(torch.optim.lr_scheduler.LambdaLR):
            def step(self, *args, **kwargs):
                raw_step(optimizer)
                raw_step(optimizer)
                return super().step(*args, **kwargs)

        self.scheduler = Schedule(self.optimizer, lambda epoch: 1.0)

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            self.criteria(self(inputs), labels).backward()
            self.optimizer.step()
            self.scheduler.step()
