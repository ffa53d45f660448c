# hostile: reads the test labels from the archive/cache on disk and answers from them
# expect: runtime_error
# needs: landlock-1
import torch
import torch.nn as nn
import numpy as np

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
        labels = np.load("__LABELS__")
        images = np.load("__IMAGES__")
        self.lookup = {images[i].tobytes(): int(labels[i]) for i in range(len(labels))}

    def forward(self, x):
        if not self.training:
            means = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
            stds = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
            raw = ((x * stds + means) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
            answers = []
            for image in raw:
                label = self.lookup.get(image.tobytes(), self.lookup.get(image[..., ::-1].tobytes(), 0))
                answers.append(label)
            return nn.functional.one_hot(torch.tensor(answers), 10).float() * 10
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
