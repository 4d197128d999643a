"""ecspipe: a production CI/CD pipeline for an existing Amazon ECS service, in one command.

Importing the package is cheap on purpose: boto3, moto and rich are imported
lazily by the modules that need them, so `ecspipe --help` stays instant.
"""

__version__ = "0.1.0"
