"""lambdasim: a discrete-event simulator of AWS Lambda scaling, cold starts and cost."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
