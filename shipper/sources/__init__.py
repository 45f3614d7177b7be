"""Where raw records come from: files (read once or followed), stdin, the Fluentd forward protocol, OTLP.

Every source yields `Block`s of raw records into the pipeline and learns, through `acknowledge`, which
of them are safely delivered (in the engine, the dead-letter file or the durable spool); only then does
it move its own checkpoint.
"""

from shipper.sources.base import Block, Source

__all__ = ["Block", "Source"]
