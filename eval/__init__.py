"""DynaFLIP stage: eval."""
