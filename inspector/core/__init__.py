"""The analysis core: pure Python + numpy, no Qt; torch only where a model is run."""
