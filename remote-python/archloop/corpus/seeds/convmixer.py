# family: ConvMixer
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum"}


class Residual(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) + x


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        dim, depth, kernel_size, patch_size = 96, 5, 5, 4
        layers = [
            # Patch embedding: a strided convolution turns each 4x4 patch into one token.
            nn.Conv2d(in_shape[1], dim, kernel_size=patch_size, stride=patch_size),
            nn.GELU(),
            nn.BatchNorm2d(dim),
        ]
        for _ in range(depth):
            layers += [
                Residual(
                    nn.Sequential(
                        nn.Conv2d(dim, dim, kernel_size, groups=dim, padding=kernel_size // 2),
                        nn.GELU(),
                        nn.BatchNorm2d(dim),
                    )
                ),
                nn.Conv2d(dim, dim, kernel_size=1),
                nn.GELU(),
                nn.BatchNorm2d(dim),
            ]
        layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten()]
        self.mixer = nn.Sequential(*layers)
        self.head = nn.Linear(dim, out_shape[0])

    def forward(self, x):
        return self.head(self.mixer(x))

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
