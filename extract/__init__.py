"""DynaFLIP stage: extract."""
