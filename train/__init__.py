"""DynaFLIP stage: train."""
