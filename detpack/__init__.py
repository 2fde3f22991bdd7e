"""detpack: detection-as-code for Splunk.

The folders follow the data's path, each stage importing only those below it:

    content/    YAML in: source positions, schema, load, model, validate, fields, mappings
    build/      app out: render (Jinja), package (.spl), inspect (AppInspect), app + write (atomic files)
    knowledge/  search-time knowledge: how events become data-model rows
    spl/        the SPL engine: macros, lexer, parse, plan, evaluate
    replay/     events (XmlWinEventLog readers), search (one search over events), judge, run (test/replay)
    splunk/     a real Splunk: client, HEC, container, harness, compare
    conf.py, errors.py   the shared ground: the conf writer and reader, findings and exit codes
    cli.py      the command line, the only module that knows argparse
"""
__version__ = "0.1.0"
