"""Everything that talks to Kubernetes through kopf: the only subpackage that imports kopf.

The handlers (each a few lines handing the work to the service), the status writer, the login
and the logging set-up. It may import every layer below it.
"""
