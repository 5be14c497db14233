"""The shipped recipes as package data (``dynaflip.configs``): YAML and JSON files, read with importlib.resources
(see ``dynaflip.pipeline.recipes``), so an installed wheel finds them without a checkout."""
