
from .adversarial_loss import AdversarialLoss
