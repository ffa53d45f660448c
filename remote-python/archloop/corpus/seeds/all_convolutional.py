# family: AllConv
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum"}


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        specs = [(in_shape[1], 32, 1), (32, 32, 2), (32, 64, 1), (64, 64, 2), (64, 64, 1)]
        layers = []
        for in_channels, out_channels, stride in specs:
            # Strided convolutions do the downsampling that pooling layers would otherwise do.
            layers += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.Conv2d(64, out_shape[0], kernel_size=1), nn.AdaptiveAvgPool2d((1, 1))]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return torch.flatten(self.body(x), 1)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = nn.CrossEntropyLoss().to(self.device)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            outputs = self(inputs)
            loss = self.criteria(outputs, labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
