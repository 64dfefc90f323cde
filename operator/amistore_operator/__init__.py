"""amistore-operator: track EC2 AMI store tasks as Kubernetes resources."""

__version__ = "0.1.0"

# Before any module imports kopf: keep kopf from loading the kubernetes client (see kopfimport).
from amistore_operator import kopfimport as _kopfimport

_kopfimport.install()
