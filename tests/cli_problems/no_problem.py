"""A Python file without any Problem subclass (for the CLI tests)."""

import torch

VALUE = torch.tensor(3.0)


class NotAProblem:
    pass
