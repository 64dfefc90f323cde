"""One poll of one AmiStore: its spec in, its status, Events and metrics out.

``service`` composes the poll as a short list of steps. ``fetch`` asks ``accountgate`` whether
the AmiStore may use its account, then the shared poller for AWS's view. Every step then gets
the same ``step.PollInputs`` (the resource, its parsed spec, prior status, entries, view, the
stretched interval, now) and returns a ``step.Part``: its share of the status (keyword arguments
of ``core.status.reconcile``), its Events, and what the poller should poll again (AMIs now, AMIs
once the status is stored, a moment the status changes by time alone). ``track`` folds the parts
into the status through the core, once per change, and renders the metrics; ``wakeups`` holds
what brings a poll forward. ``createstep`` is export's step: it hands the poll to ``exporter``,
which carries out export's one decision per poll, with its parts: ``exportbook`` (every
AmiStore's requests and the tasks seen), ``exportcalls`` (the DryRun and the creates),
``exportcapacity`` (the stores in flight and the slots) and ``exportresults`` (what the exporter
hands back).

A new capability (cleanup, restore) is a new step module: a ``step.Step`` whose ``run`` returns
its part, with the hooks it needs (a watch event, a rejected spec, a status stored or refused,
the resource gone), and one entry in the service's ``_steps``; ``poll`` does not change.
``resource`` is what a handler hands the service; ``statusmemory`` what it remembers of each last
status. It imports ``polling``, ``observe``, ``aws`` (errors, budget) and ``core``; never kopf or
boto3.
"""
