"""The operator's configuration: its flags, their ``AMISTORE_*`` variables and the account file.

``flags`` (the argument parser), ``settingvalues`` (parsers of one value), ``sources`` (a
setting's flag, else its variable, else its default), ``modes`` (the export and cleanup settings),
``settings`` (one checked ``Settings``) and ``accountfile`` (the account map's file, re-read when
it changes). It imports ``core`` only: no AWS, kopf or asyncio loop of its own.
"""
