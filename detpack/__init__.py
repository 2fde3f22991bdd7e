"""detpack: detection-as-code for Splunk.

The modules follow the data's path: content model and validation (model, source,
content, validate), rendering and the conf writer (render, conf), packaging and
inspection (package, inspect), SPL (spl.parse, spl.plan, spl.evaluate), event
readers and CIM normalisers (events, cim), the Splunk client and replay
(replay, splunk).
"""
__version__ = "0.1.0"
