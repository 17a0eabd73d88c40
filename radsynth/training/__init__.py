"""What every family's training loop shares: device, seed, autocast, batch and progress helpers
(``loop``) and resumable training state (``resume``)."""
