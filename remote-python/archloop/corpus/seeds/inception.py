# family: Inception
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


def conv_bn(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class InceptionModule(nn.Module):
    def __init__(self, in_channels: int, c1: int, c3: int, c5: int, pool_proj: int) -> None:
        super().__init__()
        self.branch1 = conv_bn(in_channels, c1, 1)
        self.branch3 = nn.Sequential(conv_bn(in_channels, c3 // 2, 1), conv_bn(c3 // 2, c3, 3))
        # Two stacked 3x3 convolutions see a 5x5 window at lower cost (Inception v2).
        self.branch5 = nn.Sequential(conv_bn(in_channels, c5 // 2, 1), conv_bn(c5 // 2, c5, 3), conv_bn(c5, c5, 3))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn(in_channels, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.stem = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        self.block1 = InceptionModule(32, 16, 24, 8, 8)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.block2 = InceptionModule(56, 32, 48, 16, 16)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Dropout(p=prm["dropout"]))
        self.fc = nn.Linear(112, out_shape[0])

    def forward(self, x):
        x = self.block2(self.pool(self.block1(self.stem(x))))
        return self.fc(self.head(x))

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
