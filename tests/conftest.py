"""Test-wide settings."""

import torch

# The property tests run thousands of tiny forward passes: one thread avoids OpenMP's
# spin-waiting when the 2 CPU cores are shared (30x slower otherwise), and makes results
# independent of the machine's core count.
torch.set_num_threads(1)
