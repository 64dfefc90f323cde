"""The ``kubectl amistore`` plugin: list, status and watch AmiStores and AmiRestores, and
create an AmiRestore, from a terminal or CI.

A separate program, never imported by the operator process. It is the only code in the
package that imports the official ``kubernetes`` client (``cluster.py`` only) and ``rich``
(``view.py`` only); the rest is pure: ``durations.py`` (parse and print durations),
``kinds.py`` (the two kinds, ``KIND/NAME``), ``render.py`` and ``restorerender.py`` (rows,
bars, ETA text from plain dicts), ``restorerequest.py`` (the AmiRestore ``restore``
creates), ``verdict.py`` (how a watch ends), with ``watch.py`` (the watch loop),
``commands.py`` and ``cli.py`` (flags, errors, exit codes) on top.
From the operator it may import only the pure ``amistore_operator.core.timestamps``.
"""
