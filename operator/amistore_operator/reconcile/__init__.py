"""One poll of one AmiStore: its spec in, its status, Events and metrics out.

``service`` composes the poll (parse, account gate, poller, export, status); ``resource`` is what
a handler hands it; ``statusmemory`` what it remembers of each last status; ``accountgate`` which
AmiStores may use their account; ``exporter`` carries out export's one decision per poll, with
its parts: ``exportbook`` (every AmiStore's requests and the tasks seen), ``exportcalls`` (the
DryRun and the creates), ``exportcapacity`` (the stores in flight and the slots) and
``exportresults`` (what a step hands back). It imports ``polling``, ``observe``, ``aws``
(errors, budget) and ``core``; never kopf or boto3.
"""
