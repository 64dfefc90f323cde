"""amistore-operator: track EC2 AMI store tasks as Kubernetes resources."""

__version__ = "0.1.0"
