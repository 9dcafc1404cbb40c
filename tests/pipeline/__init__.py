"""Tests of the DVC pipeline as a whole: what `dvc.yaml` generates from the units it is given."""
